"""The addendum's report (`python -m study.addendum_report`): progress counted from the records,
a complete cell analysed by the re-analysis's own routine (recomputed here by hand from the
engine's interval and Holm), a cell missing a seed reported pending, a degenerate cell kept out
of the family, the answer file's format and the package's reader of it, and the command on the
committed folder."""
import json
import random
import shutil
from pathlib import Path

import pytest
import torch

from sparsekit import models
from sparsekit.core import formats
from sparsekit.core.errors import SparsekitError
from sparsekit.report.addendum_answer import find_addendum_answer, load_addendum_answer
from sparsekit.report.verdict import paired_verdict
from study import addendum_report, holm
from study.addendum_cells import ADDENDUM, FIRST, cell_comparisons
from study.addendum_plan import cells
from study.plan import run_name

ROOT = Path(__file__).resolve().parents[1]
FIRST_STUDY = ROOT / "benchmarks" / "results" / "study-converged"
ADDENDUM_DIR = ROOT / "benchmarks" / "results" / "study-addendum"
TEST_IMAGES = 10_000


def _record(accuracy_images: int, seconds: float, rng: random.Random) -> dict:
    """A finished run's record in the kit's format (`sparsekit.record/1`), with the fields the
    report reads; accuracies are whole numbers of test images, as the real ones."""
    epochs = [{"epoch": e + 1, "val_acc": 0.5, "test_acc": rng.randrange(1000, 9000) / TEST_IMAGES,
               "seconds": seconds / 4} for e in range(4)]
    return {"format": "sparsekit.record/1", "finished": True,
            "config": {"dataset": "fashion_mnist", "model": "resnet20", "width": 0.5},
            "environment": {"torch_threads": 1, "cpu": {"model": "Test CPU"}, "cpu_capability": "AVX2"},
            "epochs": epochs, "seconds": seconds, "best_val_test_acc": accuracy_images / TEST_IMAGES,
            "parameters": {"masked_kept": 10, "ghost_branches": 0, "other_dense": 1, "in_use": 11}}


def _write(folder: Path, name: str, accuracy_images: int, rng: random.Random, seconds: float = 100.0) -> None:
    (folder / "runs" / name).mkdir(parents=True, exist_ok=True)
    (folder / "runs" / name / "record.json").write_text(json.dumps(_record(accuracy_images, seconds, rng)))


def _mask(cut_stem: bool) -> dict:
    """A mask of the study's ResNet-20 x0.5 keeping every weight, or none of the stem's."""
    model = models.build("resnet20", 10, in_channels=1, width=0.5, input_size=28)
    return {name: torch.zeros_like(p, dtype=torch.bool) if cut_stem and name == "stem.conv.weight"
            else torch.ones_like(p, dtype=torch.bool)
            for name, p in model.named_parameters() if name.endswith("conv.weight")}


# Accuracies in test images: (mask, seed) -> {arm: images}. snip and synflow at 99.5% complete
# (item 3: structure seeds 0-2 beside the first study's four arms); lottery 99.5% misses seed 2.
ACCURACY = {("snip", 0): {"default": 7000, "tost": 7050, "tost-release": 7600, "capacity": 7900, "structure": 7500},
            ("snip", 1): {"default": 7100, "tost": 7020, "tost-release": 7650, "capacity": 7950, "structure": 7480},
            ("snip", 2): {"default": 6900, "tost": 6990, "tost-release": 7500, "capacity": 7800, "structure": 7410},
            ("synflow", 0): {"default": 7200, "tost": 7180, "tost-release": 7400, "capacity": 7700, "structure": 7300},
            ("synflow", 1): {"default": 7150, "tost": 7170, "tost-release": 7450, "capacity": 7650, "structure": 7370},
            ("synflow", 2): {"default": 7300, "tost": 7260, "tost-release": 7390, "capacity": 7750, "structure": 7290},
            ("lottery", 0): {"default": 6000, "tost": 6100, "tost-release": 6500, "capacity": 6800, "structure": 6400},
            ("lottery", 1): {"default": 6100, "tost": 6050, "tost-release": 6550, "capacity": 6900, "structure": 6450},
            ("lottery", 2): {"default": 6050, "tost": 6000, "tost-release": 6600, "capacity": 6850}}


def _study(tmp_path: Path, degenerate_synflow: bool = False) -> Path:
    """A first study and an addendum side by side, with the committed plans and synthetic records."""
    first, results = tmp_path / "study-converged", tmp_path / "study-addendum"
    first.mkdir()
    results.mkdir()
    shutil.copy(FIRST_STUDY / "plan.json", first)
    for name in ("plan.json", "cost.json"):
        shutil.copy(ADDENDUM_DIR / name, results)
    rng = random.Random(0)
    for (mask, seed), arms in ACCURACY.items():
        for arm, images in arms.items():
            _write(results if arm == "structure" else first, run_name(mask, 0.995, seed, arm), images, rng)
        torch.save({"format": formats.MASK, "mask": _mask(degenerate_synflow and mask == "synflow" and seed == 1)},
                   first / "runs" / run_name(mask, 0.995, seed, "default") / "mask.pt")
    return results


def _differences(mask: str, arm: str, baseline: str):
    return [(ACCURACY[(mask, s)][arm] - ACCURACY[(mask, s)][baseline]) / TEST_IMAGES for s in range(3)]


def test_progress_counts_the_finished_runs_of_each_item(tmp_path):
    results = _study(tmp_path)
    running = dict(_record(6000, 50.0, random.Random(2)), finished=False)  # in flight: 2 epochs of 40
    running["epochs"], running["config"]["epochs"] = running["epochs"][:2], 40
    (results / "runs" / "lottery-0.995-seed2-structure").mkdir()
    (results / "runs" / "lottery-0.995-seed2-structure" / "record.json").write_text(json.dumps(running))
    markdown, content = addendum_report.build(results)
    assert "Started, not finished (epochs recorded of planned; not counted above): " \
           "`lottery-0.995-seed2-structure` (2 of 40)." in markdown
    items = {item["item"]: item for item in content["items"]}
    assert items[3]["finished"] == 8 and items[3]["planned"] == 21  # 3 + 3 + 2 structure runs at 99.5%
    assert all(items[i]["finished"] == 0 for i in (4, 5, 6, 7, 8))
    assert items[3]["cpu_hours_recorded"] == pytest.approx(8 * 100 / 3600)  # wall seconds x 1 thread
    assert items[3]["cpu_hours_planned"] == json.loads((ADDENDUM_DIR / "cost.json").read_text())[
        "cpu_hours_per_item"]["3"]
    assert content["counts"] == {"planned_after_cuts": 157, "finished": 8}
    # this first study has only 99.5% records: the cost model cannot price the 98% runs left
    assert "- the headline (items 3, 4, 5): 88 runs (the cost model cannot price all of them)." in markdown
    curves = json.loads((ADDENDUM_DIR / "cost.json").read_text())["curves_cpu_hours_if_the_rule_stops_at"]["vgg16"]
    assert (f"The vgg16's learning curves (item 7, run before its grid): 0 finished, 0.00 CPU-hours recorded "
            f"(planned, `cost.json`: from {min(curves.values()):.2f} CPU-hours") in markdown


def test_what_is_left_is_priced_by_the_cost_model_and_projected_at_the_finished_runs_pace():
    from study.addendum_text import to_go

    def item(number, planned, finished, recorded, modelled_done, modelled_left, cut=False):
        return {"item": number, "planned": planned, "finished": finished, "cut": cut, "cpu_hours_recorded": recorded,
                "cpu_hours_modelled_for_finished": modelled_done, "cpu_hours_modelled_to_run": modelled_left}

    items = [item(3, 10, 10, 6.0, 4.0, 0.0), item(4, 10, 5, 3.0, 2.0, 2.0), item(5, 20, 0, 0.0, 0.0, 8.0),
             item(7, 40, 0, 0.0, 0.0, 30.0), item(8, 5, 0, 0.0, 0.0, 9.0, cut=True)]
    text = to_go(items)  # pace: (6 + 3) / (4 + 2) = 1.5
    assert "- the headline (items 3, 4, 5): 25 runs, 10.0 CPU-hours by the plan's cost model; at the pace the " \
           "finished runs kept (1.50x the model: the cores shared, pauses), about 15.0 CPU-hours, 7.5 wall-clock " \
           "hours with 2 runs side by side." in text
    assert ": 65 runs, 40.0 CPU-hours by the plan's cost model;" in text  # the cut item 8 is not counted
    assert "every run has finished" in to_go([item(3, 10, 10, 6.0, 4.0, 0.0)])


def test_a_complete_cell_is_analysed_as_the_shared_routine_computes_it_by_hand(tmp_path):
    results = _study(tmp_path)
    _, content = addendum_report.build(results)
    found = {(c["mask"], c["comparison"]): c for c in content["cells"]}
    # Only the structure comparisons are the addendum's at 99.5%: the other four are the first study's own.
    assert {comparison for _, comparison in found} == {"structure - default", "tost-release - structure",
                                                       "capacity - structure"}
    assert {mask for mask, _ in found} == {"snip", "synflow"}
    for arm, baseline in (("structure", "default"), ("tost-release", "structure"), ("capacity", "structure")):
        by_hand = {mask: paired_verdict(_differences(mask, arm, baseline), mask, resolution=1 / TEST_IMAGES)
                   for mask in ("snip", "synflow")}
        corrected = dict(zip(by_hand, holm.correct(list(by_hand.values()))))
        for mask, verdict in by_hand.items():
            cell = found[(mask, f"{arm} - {baseline}")]
            assert cell["pairs"] == 3 and cell["family_size"] == 2 and not cell["degenerate"]
            assert cell["differences"] == pytest.approx(list(verdict.differences), abs=1e-12)
            assert (cell["mean"], cell["low"], cell["high"]) == pytest.approx(
                (verdict.mean, verdict.low, verdict.high), abs=1e-9)
            assert (cell["corrected_low"], cell["corrected_high"]) == pytest.approx(
                (corrected[mask].low, corrected[mask].high), abs=1e-9)
            assert cell["verdict"] == corrected[mask].word
            if baseline == "default":  # structure (the addendum's) against default (the first study's), seeds 0-2
                assert cell["seeds"] == {"addendum and first study": [0, 1, 2]}


def test_a_cell_missing_a_seed_is_pending_and_its_pooled_line_waits(tmp_path):
    results = _study(tmp_path)
    _, content = addendum_report.build(results)
    assert not any(c["mask"] == "lottery" for c in content["cells"])  # two of three seeds: never tested
    lottery = [p for p in content["pending"] if p["mask"] == "lottery" and p["sparsity"] == 0.995]
    assert {p["comparison"] for p in lottery} == {"structure - default", "tost-release - structure",
                                                  "capacity - structure"}
    assert all(p["missing"] == ["lottery-0.995-seed2-structure (addendum)"] for p in lottery)
    waiting = [p for p in content["pooled_pending"] if p["sparsity"] == 0.995]
    assert waiting and all(p["waiting_for"] == ["lottery"] for p in waiting)
    assert not [p for p in content["pooled"] if p["sparsity"] == 0.995]


def test_a_degenerate_cell_is_reported_apart_and_left_out_of_the_family(tmp_path):
    results = _study(tmp_path, degenerate_synflow=True)
    markdown, content = addendum_report.build(results)
    synflow = [c for c in content["cells"] if c["mask"] == "synflow"]
    snip = [c for c in content["cells"] if c["mask"] == "snip"]
    assert synflow and all(c["degenerate"] and c["corrected_low"] is None for c in synflow)
    assert all(c["family_size"] == 1 for c in snip)  # the family is snip alone
    assert content["degenerate"] == [{"mask": "synflow", "sparsity": 0.995}]
    assert "synflow at 0.995: the masked network's output does not depend on its input" in markdown


def test_the_answer_file_has_its_format_and_the_package_reads_it(tmp_path, capsys):
    results = _study(tmp_path)
    assert addendum_report.main([str(results)]) == 0
    assert "answer.json written" in capsys.readouterr().out
    data = json.loads((results / "answer.json").read_text())
    assert data["format"] == formats.STUDY_ADDENDUM_ANSWER == "sparsekit-study-addendum-answer/1"
    assert (results / "report.md").read_text().startswith("# The converged study's addendum")
    found = find_addendum_answer(results)
    assert (found.finished, found.planned_after_cuts) == (8, 157)
    assert "8 of 157 planned runs finished" in found.progress_line()
    assert "structure − default on snip 0.995 (resnet20)" in found.cells_line()
    assert find_addendum_answer(tmp_path) is None  # no file: None, the notebook says so in one line
    (tmp_path / "answer.json").write_text(json.dumps({"format": "sparsekit-study-answer/1"}))
    with pytest.raises(SparsekitError, match="not a sparsekit study addendum answer file"):
        load_addendum_answer(tmp_path / "answer.json")
    broken = dict(data, pooled=[{"network": "resnet20", "sparsity": 0.98}])  # a pooled line the grid cannot show
    (tmp_path / "answer.json").write_text(json.dumps(broken))
    with pytest.raises(SparsekitError, match=r"pooled\[0\] lacks comparison, masks, mean"):
        load_addendum_answer(tmp_path / "answer.json")
    assert found.headline_complete is False and data["headline"] == {"items": [3, 4, 5], "complete": False}


def test_a_folder_without_a_plan_or_with_a_broken_one_is_one_error_line_and_nothing_written(tmp_path, capsys):
    assert addendum_report.main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: ") and not list(tmp_path.iterdir())
    results = _study(tmp_path)
    plan = json.loads((results / "plan.json").read_text())
    del plan["metric"]
    (results / "plan.json").write_text(json.dumps(plan))
    assert addendum_report.main([str(results)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and "'metric' is missing" in line
    assert not (results / "report.md").exists() and not (results / "answer.json").exists()


def test_the_command_on_the_committed_folder_reports_what_has_finished(tmp_path):
    """The committed records as they stand: item 3's finished runs counted (2 when this test was
    written), and every comparison not all of whose runs have finished pending."""
    copy = tmp_path / "study-addendum"
    shutil.copytree(ADDENDUM_DIR, copy, ignore=shutil.ignore_patterns("report.md", "answer.json"))
    (tmp_path / "study-converged").symlink_to(FIRST_STUDY)
    assert addendum_report.main([str(copy)]) == 0
    content = json.loads((copy / "answer.json").read_text())
    plan = json.loads((ADDENDUM_DIR / "plan.json").read_text())
    def finished_in(folder):
        return {run.name for run in (folder / "runs").iterdir()
                if (run / "record.json").is_file() and json.loads((run / "record.json").read_text()).get("finished")}

    finished = finished_in(copy)  # not the live folder: a run may finish while this test reads it
    items = {item["item"]: item for item in content["items"]}
    for item, item_cells in cells(plan).items():
        assert items[item]["finished"] == sum(cell.name in finished for cell in item_cells)
    assert items[3]["finished"] >= 2
    first_done = {(FIRST, name) for name in finished_in(FIRST_STUDY)}
    comparisons = cell_comparisons(plan, json.loads((FIRST_STUDY / "plan.json").read_text()),
                                   first_done | {(ADDENDUM, name) for name in finished})
    complete = {(c.mask, c.sparsity, c.comparison) for c in comparisons if c.complete and c.addendum}
    assert {(c["mask"], c["sparsity"], c["comparison"]) for c in content["cells"]} == complete
    assert len(content["pending"]) == sum(not c.complete for c in comparisons)
    # the exploratory connectivity table: counts of the committed masks, exact on any machine (SNIP at
    # 99.5% uses 197, 231 and 169 of its 338 kept weights in seeds 0-2; 338, 332 and 338 with the branches)
    report = (copy / "report.md").read_text()
    assert "## Kept weights a path uses (exploratory)" in report
    assert "| snip | 0.995 | 3 | 199 of 338 | 336 of 338 |" in report


def test_the_course_prints_where_the_addendum_stands_or_one_line_without_it(tmp_path, monkeypatch, capsys):
    """Notebook 14's cell: two lines read through the package (runs, finished cells, the report's
    path); one line and no traceback in a checkout without the addendum's answer."""
    from sparsekit.app.notebook_runner import COURSE_VARIABLE
    from sparsekit.course import STUDY_ADDENDUM, addendum_standing

    monkeypatch.setenv(COURSE_VARIABLE, str(tmp_path / "notebooks"))
    assert addendum_standing() is None
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("No answer from the study's addendum") and "study-addendum/answer.json" in line
    (tmp_path / "elsewhere").mkdir()
    results = _study(tmp_path / "elsewhere")
    addendum_report.write_addendum_report(results)
    (tmp_path / STUDY_ADDENDUM).parent.mkdir(parents=True)
    shutil.copytree(results, tmp_path / STUDY_ADDENDUM)
    found = addendum_standing()
    progress, verdicts = capsys.readouterr().out.splitlines()
    assert found.finished == 8 and "8 of 157 planned runs finished (item 3: 8 of 21" in progress
    assert "capacity − structure on snip 0.995 (resnet20): better" in verdicts
    assert verdicts.endswith("The report: benchmarks/results/study-addendum/report.md.")


def test_once_the_headline_has_finished_the_course_shows_the_corrected_verdict(tmp_path, monkeypatch, capsys):
    """Notebook 14's cell, with items 3-5 all finished: the progress line, then the corrected
    verdict as Markdown (the pooled grid, each comparison's cells) and the figure; the answer is
    the committed one with its headline marked complete."""
    import IPython.display

    from sparsekit.app.notebook_runner import COURSE_VARIABLE
    from sparsekit.course import STUDY_ADDENDUM, addendum_standing

    monkeypatch.setenv(COURSE_VARIABLE, str(tmp_path / "notebooks"))
    (tmp_path / STUDY_ADDENDUM).mkdir(parents=True)
    answer = json.loads((ADDENDUM_DIR / "answer.json").read_text())
    answer["headline"] = {"items": [3, 4, 5], "complete": True}
    (tmp_path / STUDY_ADDENDUM / "answer.json").write_text(json.dumps(answer))
    shutil.copy(ADDENDUM_DIR / "verdict.png", tmp_path / STUDY_ADDENDUM)
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objects: shown.extend(objects))
    found = addendum_standing()
    progress, report = capsys.readouterr().out.splitlines()
    assert found.headline_complete and progress.startswith("The study's addendum (issue 52): ")
    assert report == "The report: benchmarks/results/study-addendum/report.md."
    sentence, image, tables = shown  # the answer first: its sentence, the figure, then the tables
    assert isinstance(image, IPython.display.Image)
    assert sentence.data.startswith("**The addendum's corrected verdict** (its headline items, 3, 4, 5, have all")
    assert answer["sentence"] in sentence.data and "Items finished: 3 (" in sentence.data
    assert "| comparison (test accuracy; +0.0100 is one point) |" in tables.data
    assert "structure control − plain" in tables.data

def test_items_6_and_8_are_described_once_all_their_runs_have_finished(tmp_path):
    """Two seeds each: no test, the measured numbers. Item 6's gain over the first study's
    40-epoch default, and what a mean gain of 0.5 points or more does to the 99.5% verdict;
    item 8's settings against the first study's default and tost of the same seed."""
    results = _study(tmp_path)
    first = tmp_path / "study-converged"
    shutil.copy(FIRST_STUDY / "answer.json", first)  # the pooled 99.5% lines item 6 narrows
    rng = random.Random(1)

    def item_6(gain_images: int) -> str:
        for mask in ("snip", "lottery"):  # their 40-epoch defaults of seeds 0 and 1 are in ACCURACY
            for seed in (0, 1):
                _write(results, run_name(mask, 0.995, seed, "default-x2"),
                       ACCURACY[(mask, seed)]["default"] + gain_images, rng)
        return addendum_report.build(results)[0].split("## Item 6")[1].split("## Item 8")[0]

    small = item_6(10)  # a tenth of a point: below the plan's 0.5
    assert "Mean gain over 4 runs: +0.0010." in small and "Below the plan's 0.005" in small
    assert "| snip | 0.995 | 0 | 0.7010 | 0.7000 | +0.0010 | yes | 0.0000 |" in small
    large = item_6(100)  # a point: each recipe arm's pooled 99.5% difference narrows by it
    assert "Mean gain over 4 runs: +0.0100." in large
    for pooled in json.loads((FIRST_STUDY / "answer.json").read_text())["pooled"]:
        if pooled["sparsity"] == 0.995 and pooled["comparison"].endswith(" - default"):
            shown = pooled["comparison"].replace(" - ", " − ")
            assert f"{shown} {pooled['mean']:+.4f} → {pooled['mean'] - 0.01:+.4f}" in large

    plan = json.loads((ADDENDUM_DIR / "plan.json").read_text())
    assert "0 of 12 runs finished" in addendum_report.build(results)[0].split("## Item 8")[1]
    for seed in (0, 1):
        _write(first, run_name("snip", 0.98, seed, "default"), 8000, rng)
        _write(first, run_name("snip", 0.98, seed, "tost"), 8020 + seed, rng)
        for index, arm in enumerate(plan["items"]["8"]["arms"]):
            _write(results, run_name("snip", 0.98, seed, arm), 8000 + 10 * index + 2 * seed, rng)
    item_8 = addendum_report.build(results)[0].split("## Item 8")[1]
    # tost-phase0.5-ls0.1 (the sixth): 0.8050 and 0.8052, less default 0.8000, less tost 0.8020 and 0.8021
    assert "| tost-phase0.5-ls0.1 | 0, 1 | 0.8050, 0.8052 | 0.8051 | +0.0050, +0.0052 | +0.0030, +0.0031 |" in item_8


def test_the_structure_controls_inference_cost_is_counted_from_an_actual_fold(tmp_path):
    """`study.addendum_fold`: the structure mask's kept count equals the folded `tost-release`
    network's non-zero conv weights with the default mask; a mask one tap short is caught."""
    import sparsekit as sk
    from sparsekit.export.structure_mask import structure_matched_mask
    from study.addendum_fold import folded_counts, structure_table

    run = sk.train(dataset="digits", model="resnet20", width=0.25, epochs=1, max_batches=1, progress=False,
                   mask="snip", sparsity=0.9, out=str(tmp_path / "default"))
    network = run["network"]
    fresh = sk.models.build(network["model"], network["num_classes"], in_channels=network["in_channels"],
                            width=network["width"], input_size=network["input_size"])
    matched = structure_matched_mask(fresh, run.mask, "tost-release")
    matched.save(tmp_path / "structure.pt")
    counts = folded_counts(tmp_path / "default", tmp_path / "structure.pt")
    assert counts["structure"] == counts["release"] == run.mask.num_kept() + counts["taps"] and counts["taps"] > 0
    added = {name: keep[:, :, 1, 1] & ~run.mask[name][:, :, 1, 1] for name, keep in matched.items()
             if keep.dim() == 4 and keep.shape[-1] == 3}
    name = next(name for name, taps in added.items() if taps.any())
    short = sk.Mask({key: keep.clone() for key, keep in matched.items()})
    out_channel, in_channel = added[name].nonzero()[0].tolist()
    short[name][out_channel, in_channel, 1, 1] = False  # one tap only a branch fills, dropped
    short.save(tmp_path / "short.pt")
    wrong = folded_counts(tmp_path / "default", tmp_path / "short.pt")
    assert wrong["structure"] == wrong["release"] - 1
    assert "**no**" in structure_table([dict(run="short", **wrong)])


def test_every_paired_runs_metric_is_shown_by_seed_with_the_study_that_ran_it(tmp_path):
    results = _study(tmp_path)
    markdown, _ = addendum_report.build(results)
    table = markdown[markdown.index("## Every paired run's metric, by seed"):]
    rows = {tuple(cell.strip() for cell in line.strip("|").split("|")[1:4]): line
            for line in table.splitlines() if line.startswith("| resnet20 ")}
    snip = ACCURACY[("snip", 0)]["structure"], ACCURACY[("snip", 1)]["structure"], ACCURACY[("snip", 2)]["structure"]
    assert rows[("snip", "0.995", "structure")].split("|")[5:10] == [
        *(f" {images / TEST_IMAGES:.4f} " for images in snip), f" {sum(snip) / 3 / TEST_IMAGES:.4f} ", " addendum 0-2 "]
    lottery = rows[("lottery", "0.995", "structure")].split("|")
    assert lottery[7:10] == [" · ", " pending ", " addendum 0-2 "]  # seed 2 planned, not finished
    assert rows[("lottery", "0.995", "default")].split("|")[9] == " first study 0-2 "


def test_the_verdict_figure_draws_the_complete_cells_and_is_removed_when_none_is(tmp_path):
    from study.addendum_figure import FILENAME, drawn

    results = _study(tmp_path, degenerate_synflow=True)
    addendum_report.write_addendum_report(results)
    assert (results / FILENAME).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"]({FILENAME})" in (results / "report.md").read_text()
    _, content = addendum_report.build(results)
    rows = drawn(content["cells"], content["pooled"])
    # snip's structure cells are drawn; synflow is degenerate (out) and lottery misses a seed (pending).
    assert {name: sorted(mine) for name, mine in rows.items()} == {
        name: [("resnet20", "snip", "0.995")] for name in
        ("structure - default", "tost-release - structure", "capacity - structure")}
    for name in ("snip", "synflow", "lottery"):
        for seed in range(3):
            shutil.rmtree(results / "runs" / run_name(name, 0.995, seed, "structure"), ignore_errors=True)
    addendum_report.write_addendum_report(results)
    assert not (results / FILENAME).exists() and f"]({FILENAME})" not in (results / "report.md").read_text()


def test_once_items_3_to_5_have_all_finished_the_resnets_families_and_pooled_lines_are_whole(tmp_path):
    """The state the next milestone reaches, with synthetic records for every run items 3-5 pair
    with (the first study's four arms, seeds 0-2, at both sparsities, beside the addendum's): the
    answer marks its headline complete, no ResNet cell or pooled line is pending, both sparsities
    pool, each family holds every non-degenerate cell, and the README block leads with it."""
    from study import readme

    first, results = tmp_path / "study-converged", tmp_path / "study-addendum"
    for folder in (first, results):
        folder.mkdir()
    shutil.copy(FIRST_STUDY / "plan.json", first)
    for name in ("plan.json", "cost.json"):
        shutil.copy(ADDENDUM_DIR / name, results)
    shutil.copy(FIRST_STUDY / "answer.json", first)
    rng = random.Random(3)
    lift = {"default": 0, "tost": 20, "tost-release": 60, "capacity": 90, "structure": 70}  # test images

    def write(folder: Path, mask: str, sparsity: float, seed: int, arm: str):
        name = run_name(mask, sparsity, seed, arm)
        _write(folder, name, 7000 + lift[arm] + rng.randrange(-40, 40), rng)
        if arm == "default" and mask == "random-densefirst":  # item 4's masks judged (all kept); others unjudged
            torch.save({"format": formats.MASK, "mask": _mask(False)}, folder / "runs" / name / "mask.pt")

    for mask in ("random", "snip", "synflow", "lottery"):
        for sparsity in (0.98, 0.995):
            for seed in range(3):
                for arm in ("default", "tost", "tost-release", "capacity"):
                    write(first, mask, sparsity, seed, arm)
    plan = json.loads((ADDENDUM_DIR / "plan.json").read_text())
    for item in (3, 4, 5):
        for cell in cells(plan)[item]:
            write(results, cell.mask, cell.sparsity, cell.seed, cell.arm)

    markdown, content = addendum_report.build(results)
    assert content["headline"] == {"items": [3, 4, 5], "complete": True}
    assert "- the headline (items 3, 4, 5): every run has finished." in markdown
    assert not [p for p in content["pending"] if p["network"] == "resnet20"]
    assert not [p for p in content["pooled_pending"] if p["network"] == "resnet20"]
    pooled = {(p["comparison"], p["sparsity"]) for p in content["pooled"] if p["network"] == "resnet20"}
    assert {s for _, s in pooled} == {0.98, 0.995} and ("structure - default", 0.98) in pooled
    for comparison in ("structure - default", "tost-release - structure", "capacity - structure"):
        family = [c for c in content["cells"] if c["comparison"] == comparison and c["network"] == "resnet20"
                  and not c["degenerate"]]
        assert family and all(c["family_size"] == len(family) for c in family)
    six = [c for c in content["cells"] if c["mask"] == "snip" and c["sparsity"] == 0.98
           and c["comparison"] == "structure - default"]
    assert six and six[0]["pairs"] == 6  # item 5's seeds 3-5 joined seeds 0-2
    assert content["cells"] and "## resnet20: cells whose planned seeds have all finished" in markdown
    addendum_report.write_addendum_report(results)
    assert (results / "verdict.png").is_file()
    checkout = tmp_path / "checkout"
    (checkout / readme.FIRST).parent.mkdir(parents=True)
    shutil.copytree(first, checkout / readme.FIRST)
    shutil.copytree(results, checkout / readme.ADDENDUM)
    text = readme.block(checkout)
    assert "**The addendum's corrected verdict.**" in text and "**resnet20**, pooled over masks" in text
    assert "| structure control − plain |" in text
    assert "Items finished: 3 (" in text and "; 5 (seeds 3-5 where the verdict is close). Still to finish: 7 (" in text
