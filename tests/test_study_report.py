"""The study report (`python -m study.report STUDY_DIR`, `study/report.py`) on synthetic
study folders: the converged study's layout, partly finished, and an earlier short-schedule
study, which is reported apart and labelled."""
import json
import statistics
from pathlib import Path

import pytest

from sparsekit.app.cli import main
from sparsekit.report.seeded_rows import verdict_cells
from sparsekit.report.verdict import paired_verdict
from study import converged as runner
from study import plan as study_plan
from study.report import main as report_main
from study.report import write_study_report
from study.runs import CONVERGED, SHORT, seconds_spent, study_layout

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2)
GHOSTS = 8096
# (mask, seed, arm) -> accuracy out of 10,000 test images: tost-release gains 0.01 * (seed + 1)
# over default; capacity gains 0.004 + 0.001 * seed; tost loses 0.02 - 0.003 * seed.
GAIN = {"default": lambda s: 0, "tost": lambda s: -0.02 + 0.003 * s, "tost-release": lambda s: 0.01 * (s + 1),
        "capacity": lambda s: 0.004 + 0.001 * s, "label_smoothing": lambda s: 0.002 * s}


def accuracy(mask: str, seed: int, arm: str) -> float:
    return round(0.7 + 0.05 * (mask == "snip") + 0.003 * seed + GAIN[arm](seed), 4)


PLAN = {"format": "sparsekit.study-plan/1", "question": "Does the recipe help?", "metric": "best_val_test_acc",
        "convergence": {"rungs": [[1000, 4], [1000, 8]], "curve_masks": ["random"], "curve_sparsities": [0.98],
                        "curve_seeds": [0, 1], "window_fraction": 0.5, "max_change": 0.005, "collapse_below": 0.2,
                        "warmup_fraction_if_collapse": 0.05},
        "grid": {"masks": ["random", "snip"], "headline_masks": ["random", "snip"], "sparsities": [0.98],
                 "arms": ["default", "tost", "tost-release", "capacity"], "seeds": list(SEEDS),
                 "extra_seeds_at_0.98": [], "tricks_alone": {"sparsity": 0.98, "masks": ["random"],
                                                             "arms": {"label_smoothing": {"label_smoothing": 0.1}}},
                 "lottery_options": {"prune_fraction": 0.5, "round_epochs_fraction": 0.25}}}


def record(acc: float, arm: str, val_accs=(0.5, 0.6, 0.7, 0.7), finished=True) -> dict:
    ghost = GHOSTS if arm in ("tost", "tost-release") else 0
    kept = 1351 + (GHOSTS if arm == "capacity" else 0)
    start = {"masked_total": 67528, "masked_kept": kept, "ghost_branches": ghost, "other_dense": 1114,
             "in_use": kept + ghost + 1114}
    end = dict(start, ghost_branches=0, in_use=kept + 1114) if arm == "tost" else start
    # Every epoch's test accuracy a whole number of images out of 10,000 (how the report reads the resolution).
    epochs = [{"epoch": i + 1, "val_acc": v, "test_acc": round(acc - 0.0007 * (len(val_accs) - 1 - i), 4)}
              for i, v in enumerate(val_accs)]
    return {"format": "sparsekit.record/1", "finished": finished, "config": {"train_examples": 1000, "batch_size": 128,
                                                                          "epochs": len(val_accs)},
            "epochs": epochs, "best_val_test_acc": acc, "bn_reestimated_test_acc": round(acc + 0.01, 4),
            "test_acc": acc, "seconds": 60.0, "parameters_at_start": start, "parameters": end,
            "sparsity": 1 - kept / 67528}


def write(folder: Path, content: dict) -> None:
    folder.mkdir(parents=True)
    (folder / "record.json").write_text(json.dumps(content))


def converged_study(root: Path) -> Path:
    """Item 1 complete for both masks; the trick alone for random; seed 2 of snip's capacity
    still running; one learning curve that has not converged."""
    root.mkdir()
    (root / "plan.json").write_text(json.dumps(PLAN))
    (root / "PLAN.md").write_text("# Plan\n\n## Analysis\nstuff\n\n## Changes after results were seen\n"
                                  "- 2026-12-02: the 0.9 item was cut (budget), before its runs started.\n")
    (root / "regime.json").write_text(json.dumps({"train_examples": 1000, "epochs": 4, "warmup_epochs": 0.0,
                                                  "chosen_from": "1k-x4"}))
    for mask in ("random", "snip"):
        for seed in SEEDS:
            for arm in PLAN["grid"]["arms"] + (["label_smoothing"] if mask == "random" else []):
                running = (mask, seed, arm) == ("snip", 2, "capacity")
                write(root / "runs" / f"{mask}-0.98-seed{seed}-{arm}",
                      record(accuracy(mask, seed, arm), arm, finished=not running))
    write(root / "curves" / "1k-x4" / "random-0.98-seed0", record(0.7, "default"))
    write(root / "curves" / "1k-x4" / "random-0.98-seed1", record(0.7, "default", val_accs=(0.5, 0.6, 0.65, 0.7)))
    return root


def differences(mask, arm, baseline, seeds=SEEDS):
    return [accuracy(mask, s, arm) - accuracy(mask, s, baseline) for s in seeds]


def table_row(text: str, *cells: str) -> str:
    start = "| " + " | ".join(cells) + " |"
    found = [line for line in text.splitlines() if line.startswith(start)]
    assert len(found) == 1, (start, found)
    return found[0]


def test_converged_study_report(tmp_path, capsys):
    root = converged_study(tmp_path / "study")
    assert study_layout(root) == CONVERGED
    assert report_main([str(root)]) == 0
    text = (root / "report.md").read_text()
    assert text in capsys.readouterr().out
    # per cell: mean ± std of the metric and of the diagnostic, over the seeds that finished
    values = [accuracy("random", s, "tost") for s in SEEDS]
    row = table_row(text, "random", "0.98", "tost", "0, 1, 2")
    assert f"{statistics.fmean(values):.4f} ± {statistics.stdev(values):.4f}" in row
    diagnostic = [round(v + 0.01, 4) for v in values]
    assert f"{statistics.fmean(diagnostic):.4f} ± {statistics.stdev(diagnostic):.4f}" in row
    assert "| snip | 0.98 | capacity | 0, 1 |" in text  # seed 2 still running: left out, and said
    assert "Started, not finished: snip-0.98-seed2-capacity" in text
    # the first analysis, kept below the re-analysis and labelled (tests/test_study_reanalysis.py has the rest)
    assert "## Converged study: paired differences (first analysis: uncorrected" in text
    first = text[text.index("## Converged study: accuracy per cell"):]
    # paired differences: exactly what the kit's one verdict rule gives, for every comparison
    for mask, arm, baseline, seeds in (("random", "tost-release", "default", SEEDS),
                                       ("random", "tost", "default", SEEDS),
                                       ("random", "tost-release", "capacity", SEEDS),
                                       ("snip", "tost-release", "capacity", (0, 1)),
                                       ("random", "label_smoothing", "default", SEEDS)):
        expected = _verdict(differences(mask, arm, baseline, seeds))
        row = table_row(first, mask, "0.98", f"{arm} − {baseline}")
        assert row.endswith(" | ".join(verdict_cells(expected)) + " |"), row
    # the headline: every (mask, seed) of the headline masks one pair, per sparsity
    pooled = _verdict(differences("random", "tost-release", "default") + differences("snip", "tost-release", "default"),
                      unit="mask-seed pairs", label="0.98: tost-release − default")
    assert table_row(first, "0.98", "tost-release − default").endswith(" | ".join(verdict_cells(pooled)) + " |")
    assert pooled.word == "better" and f"Pooled at sparsity {pooled}" in text
    assert "## Converged study: each trick alone − default" in text
    # parameters per arm: ghosts annealed away by tost, kept by tost-release, the capacity mask's extra kept weights
    assert table_row(text, "random", "0.98", "tost", "0.9800").endswith(
        f"| 1351 | {GHOSTS} → 0 | 1114 | {1351 + GHOSTS + 1114} → 2465 |")
    capacity = table_row(text, "random", "0.98", "capacity", f"{1 - (1351 + GHOSTS) / 67528:.4f}")
    assert capacity.endswith(f"| {1351 + GHOSTS} | 0 | 1114 | {1351 + GHOSTS + 1114} |")
    # learning curves by the plan's rule (window: epochs 2-4), the grid's plain arms by the same rule
    assert table_row(text, "1k-x4", "random-0.98-seed0").endswith("| 4 | 0.7000 | 2–4 | 0.1000 | no | no |")
    assert "- `1k-x4`: 2 of 2 curve runs finished, 0 converged" in text
    # regime.json without the rule's reasons: the report walks the rule over the curves itself
    assert ("Where the rule stands on these curves: 1k-x4: window rule not met (largest spread 0.1000); "
            "waiting for the curves of 1k-x8.") in text
    assert table_row(text, "snip", "0.98", "3", "0 of 3")
    # what ran and what did not, against the plan's grid
    assert "- item 1: 23 of 24 runs finished" in text and "- item 2: 3 of 3 runs finished" in text
    assert "- 2026-12-02: the 0.9 item was cut (budget), before its runs started." in text.split(
        "## Deviations from the plan")[1]
    assert "Regime chosen by the rule: 1000 training images × 4 epochs, no warm-up" in text
    assert f"lottery rounds): {29 * 60 / 3600:.2f}." in text  # 27 grid runs (one still running), 2 curves
    for figure in ("headline.png", "curves.png", "accuracy.png"):
        assert (root / figure).stat().st_size > 1000, figure
    rows = json.loads((root / "rows.json").read_text())
    assert len(rows) == 2 * 3 * 4 + 3 - 1


def _verdict(values, unit="seeds", label="x"):
    """The kit's rule with the resolution the report reads from the records (1 / 10,000)."""
    import inspect

    if "resolution" in inspect.signature(paired_verdict).parameters:
        return paired_verdict(values, label, unit=unit, resolution=1e-4)
    return paired_verdict(values, label, unit=unit)


def test_report_of_a_study_not_started(tmp_path):
    (tmp_path / "plan.json").write_text(json.dumps(PLAN))
    text = write_study_report(tmp_path)
    assert "No `regime.json` yet" in text and "- item 1: 0 of 24 runs finished" in text
    assert "No finished runs yet." in text and "PLAN.md beside the records" in text


def test_short_schedule_study_is_labelled_and_kept_apart(tmp_path):
    root = tmp_path / "study-old"
    (root / "runs").mkdir(parents=True)
    (root / "plan.json").write_text(json.dumps({"preset": {"train": {"epochs": 4}}, "cells": [],
                                                "recipes": {"default": {}, "tost": {}, "tost-release": {}}}))
    for mask in ("random", "snip"):
        for seed in SEEDS:
            for arm in ("default", "tost", "tost-release"):
                write(root / "runs" / f"{mask}-0.98-seed{seed}-{arm}", record(accuracy(mask, seed, arm), arm))
    assert study_layout(root) == SHORT
    text = write_study_report(root)
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings[0] == "# Short-schedule result: study-old"
    assert all(h.startswith("## Short schedule:") for h in headings[1:]) and len(headings) > 5
    assert "4 epochs of 1000 training images, batch 128, 32 optimizer steps per run" in text
    assert "capacity" not in text and "Converged study" not in text
    assert (root / "study.png").stat().st_size > 1000


def test_a_folder_that_is_no_study_keeps_the_runs_report(tmp_path, capsys):
    write(tmp_path / "runs" / "random-0.98-seed0-default", record(0.7, "default"))
    assert study_layout(tmp_path) is None
    assert main(["report", str(tmp_path / "nothing-here")]) == 2
    assert capsys.readouterr().err.startswith("error: no such directory")


def test_the_engine_tables_a_study_folder_only_elsewhere_and_never_overwrites_its_report(tmp_path, capsys):
    root = converged_study(tmp_path / "study")
    assert main(["report", str(root)]) == 2  # the study's report.md is the study's own
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "python -m study.report" in err and err.count("\n") == 1
    assert not (root / "report.md").exists() and not (root / "results.csv").exists()
    assert main(["report", str(root), "--out", str(tmp_path / "tables")]) == 0  # any folder of runs
    assert (tmp_path / "tables" / "results.csv").is_file()



def test_the_runner_reads_the_plan_through_the_same_functions():
    for name in ("items", "run_name", "converged", "collapsed", "rung_name", "window"):
        assert getattr(runner, name) is getattr(study_plan, name), name
    plan = json.loads((ROOT / "benchmarks" / "results" / "study-converged" / "plan.json").read_text())
    cells = study_plan.items(plan)
    assert len(cells[1]) == 4 * 3 * 4 and cells[1][0] == ("random", 0.98, 0, "default")
    assert study_plan.parse_run_name("lottery-0.995-seed2-gradinit-masked") == ("lottery", 0.995, 2, "gradinit-masked")
    assert study_plan.parse_run_name("snip-0.9-seed1") == ("snip", 0.9, 1, None)


def test_rewriting_the_regime_keeps_a_cost_measured_at_the_same_budget(tmp_path):
    regime = {"train_examples": 20000, "epochs": 10, "warmup_epochs": 1.0, "chosen_from": "20k-x10-warmup"}
    (tmp_path / "regime.json").write_text(json.dumps(dict(regime, cost={"cpu_hours_total": 12.5})))
    assert runner.write_regime(tmp_path, dict(regime))["cost"] == {"cpu_hours_total": 12.5}
    assert json.loads((tmp_path / "regime.json").read_text())["cost"]["cpu_hours_total"] == 12.5
    # another budget's cost says nothing about this one
    assert "cost" not in runner.write_regime(tmp_path, dict(regime, epochs=20))


def test_the_cost_is_timed_on_the_grids_own_runs_so_the_grid_keeps_them(tmp_path, monkeypatch):
    plan = json.loads((ROOT / "benchmarks" / "results" / "study-converged" / "plan.json").read_text())
    regime = {"train_examples": 20000, "epochs": 20, "warmup_epochs": 1.0}
    trained = []

    def fake_sweep(points, names, out, workers):
        records = []
        for name, point in zip(names, points):
            trained.append((name, point, out))
            # the default run trains alone and holds both cores: twice the CPU of its wall time
            threads = 2 if name.endswith("-default") else 1
            record = {"finished": True, "seconds": 600.0, "config": point, "environment": {"torch_threads": threads},
                      "parameters_at_start": {"masked_kept": 2000, "masked_total": 100000}}
            (out / name).mkdir(parents=True)
            (out / name / "record.json").write_text(json.dumps(record))
            records.append(record)
        return records

    monkeypatch.setattr(runner, "sweep", fake_sweep)
    spent = runner.cost(plan, regime, tmp_path, workers=2)
    arms = list(plan["grid"]["arms"]) + list(plan["grid"]["tricks_alone"]["arms"])
    assert [name for name, _, _ in trained] == [runner.run_name("random", 0.98, 0, arm) for arm in arms]
    ghost = runner.ghost_branch_weights(plan)
    for (name, point, out), arm in zip(trained, arms):
        # the very point and folder the grid would train: a finished record there is not retrained
        assert out == tmp_path / "runs"
        assert point == runner.grid_point(plan, regime, "random", 0.98, 0, arm, tmp_path / "runs", ghost), arm
    assert spent["seconds_per_arm"] == {arm: 1200.0 if arm == "default" else 600.0 for arm in arms}


def test_cpu_hours_spent_count_each_thread_a_run_held(tmp_path):
    one_thread = dict(record(0.7, "tost"), environment={"torch_threads": 1})
    two_threads = dict(record(0.7, "default"), environment={"torch_threads": 2})
    write(tmp_path / "runs" / "random-0.98-seed0-tost", one_thread)
    write(tmp_path / "runs" / "random-0.98-seed0-default", two_threads)
    write(tmp_path / "curves" / "1k-x4" / "random-0.98-seed0", record(0.7, "default"))  # no thread count: one
    assert seconds_spent(tmp_path) == 60.0 + 120.0 + 60.0


def test_a_lottery_runs_rounds_count_once_whichever_session_trained_them(tmp_path):
    def round_record(seconds):
        return {"finished": True, "seconds": seconds, "environment": {"torch_threads": 1}}

    # Rounds 1-2 trained in an earlier session, round 3 and the ticket's 4 epochs in this one:
    # the run's own record counts round 3 and its epochs, not rounds 1-2.
    run = tmp_path / "runs" / "lottery-0.98-seed0-default"
    for k, seconds in ((1, 100.0), (2, 110.0), (3, 120.0)):
        write(run / "lottery" / f"round_{k}", round_record(seconds))
    (run / "record.json").write_text(json.dumps(dict(record(0.7, "default"), seconds=120.0 + 4 * 10.0 + 5.0,
                                                     epochs=[{"epoch": e, "seconds": 10.0} for e in range(1, 5)])))
    # A lottery still in its rounds: no record of its own yet.
    write(tmp_path / "runs" / "lottery-0.98-seed1-default" / "lottery" / "round_1", round_record(90.0))
    assert seconds_spent(tmp_path) == 100.0 + 110.0 + 120.0 + 40.0 + 90.0


@pytest.mark.parametrize("folder", ["study-fashion", "study-fashion-8epochs"])
def test_committed_short_studies_are_recognised(folder):
    assert study_layout(ROOT / "benchmarks" / "results" / folder) == SHORT


def test_a_plan_without_its_grid_is_one_error_line(tmp_path, capsys):
    (tmp_path / "plan.json").write_text(json.dumps({k: v for k, v in PLAN.items() if k != "grid"}))
    assert report_main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "'grid' is missing" in err and err.count("\n") == 1
    assert not (tmp_path / "report.md").exists()


def curve(final: float, spread: float = 0.0) -> dict:
    return {"finished": True, "epochs": [{"val_acc": v} for v in (0.5, final - spread, final, final)]}


def test_the_rule_passes_over_a_budget_that_more_epochs_still_improve():
    plan = {"convergence": dict(PLAN["convergence"], rungs=[[1000, 4], [2000, 4]], window_fraction=0.5,
                                more_training={"epochs_factor": 2, "max_gain": 0.005})}
    # (1000, 4) meets the window rule but 8 epochs gain 2 points; (2000, 4) meets both tests.
    finals = {(1000, 4): 0.70, (1000, 8): 0.72, (2000, 4): 0.75, (2000, 8): 0.752}
    asked = []

    def records_of(examples, epochs, warmup):
        asked.append((examples, epochs, warmup))
        return [curve(finals[examples, epochs]), curve(finals[examples, epochs])]

    regime, why = study_plan.choose_regime(plan, records_of)
    assert (regime["train_examples"], regime["epochs"], regime["met_rule"]) == (2000, 4, True)
    assert regime["more_training_gain"] == pytest.approx(0.002)
    assert asked == [(1000, 4, False), (1000, 8, False), (2000, 4, False), (2000, 8, False)]
    assert "1k-x4: window rule met, but 2x the epochs still gains +0.0200" in why
    assert study_plan.rung_order(plan)[:4] == ["1k-x4", "1k-x4-warmup", "1k-x8", "1k-x8-warmup"]


def test_the_rule_waits_for_missing_curves_and_warms_up_after_a_collapse():
    plan = {"convergence": dict(PLAN["convergence"], rungs=[[1000, 4]], window_fraction=0.5,
                                more_training={"epochs_factor": 2, "max_gain": 0.005})}
    regime, why = study_plan.choose_regime(plan, lambda n, e, w: None)
    assert regime is None and why == "waiting for the curves of 1k-x4"
    # a collapse without warm-up: the same budget is fetched again with it, and so is the longer one
    calls = []

    def records_of(examples, epochs, warmup):
        calls.append((epochs, warmup))
        return [curve(0.11 if not warmup else 0.7), curve(0.7)]

    regime, _ = study_plan.choose_regime(plan, records_of)
    assert calls == [(4, False), (4, True), (8, True)]
    assert regime["chosen_from"] == "1k-x4-warmup" and regime["warmup_epochs"] == 1.0
    # one collapsed run settles the budget without warm-up, though its other runs never finished
    partial = {False: [curve(0.101), None], True: [curve(0.7), curve(0.7)]}
    regime, _ = study_plan.choose_regime(plan, lambda n, e, w: partial[w])
    assert regime["chosen_from"] == "1k-x4-warmup"
    regime, why = study_plan.choose_regime(plan, lambda n, e, w: [curve(0.7), None])
    assert regime is None and why == "waiting for the curves of 1k-x4"


def test_no_budget_meeting_the_rule_runs_the_largest_and_says_so():
    plan = {"convergence": dict(PLAN["convergence"], rungs=[[1000, 4], [2000, 4]], window_fraction=0.5)}
    regime, why = study_plan.choose_regime(plan, lambda n, e, w: [curve(0.7, spread=0.05)] * 2)
    assert (regime["train_examples"], regime["met_rule"]) == (2000, False)
    assert "no budget met the rule" in why


def test_a_notebook_reads_the_evidence_for_its_arms_from_the_records(tmp_path):
    from sparsekit.report.study_evidence import study_evidence

    root = converged_study(tmp_path / "study")
    assert "No converged study found" in study_evidence(root, ["tost"])  # no report (rows.json, answer.json) yet
    write_study_report(root)
    answer = json.loads((root / "answer.json").read_text())
    text = study_evidence(root, ["label_smoothing"])
    assert "1000 Fashion-MNIST training images × 4 epochs" in text
    # finished: 26 (snip seed 2's capacity still runs); planned: every item (no cut), 24 + 3 + 24 + 24 runs;
    # of these arms: default of both masks and the trick for random at 0.98
    assert answer["counts"] == {"planned_after_cuts": 75, "finished": 26}
    assert "Finished runs of the study: 26 of 75 planned; of these arms: 9." in text
    cell = next(c for c in answer["cells"] if (c["mask"], c["comparison"]) == ("random", "label_smoothing - default"))
    assert cell["differences"] == pytest.approx(differences("random", "label_smoothing", "default"))
    row = table_row(text, "random", "0.98", "label_smoothing − default")
    assert f"| {cell['mean']:+.4f} | [{cell['low']:+.4f}, {cell['high']:+.4f}] |" in row and cell["verdict"] in row
    assert "tost" not in text
    both = study_evidence(root, ["tost-release", "capacity"])
    assert table_row(both, "snip", "0.98", "tost-release − capacity")
    assert table_row(both, "0.98", "tost-release − default")  # the pooled line
    empty = study_evidence(root, ["ghost_skip"])
    assert "None of these arms has a finished run yet" not in empty  # default ran: its cells show
    assert "ghost_skip −" not in empty
    assert "No converged study found" in study_evidence(tmp_path / "nothing", ["tost"])


def test_a_curve_that_collapses_even_with_the_warm_up_is_left_out_when_the_plan_says_so():
    rule = dict(PLAN["convergence"], rungs=[[1000, 4]], window_fraction=0.5,
                more_training={"epochs_factor": 2, "max_gain": 0.005})
    # no warm-up: seed 1 collapses; with it, seed 1 still does (its curve is noise around chance)
    runs = {False: [curve(0.7), curve(0.101)], True: [curve(0.7), curve(0.101, spread=0.009)]}
    regime, why = study_plan.choose_regime({"convergence": rule}, lambda n, e, w: runs[w])
    assert regime["met_rule"] is False and "window rule not met" in why  # the plan without the exclusion
    rule.update(exclude_collapsed_after_warmup=True, min_judged=1)
    regime, why = study_plan.choose_regime({"convergence": rule}, lambda n, e, w: runs[w])
    assert regime["met_rule"] and regime["collapsed_curves"] == ["random-0.98-seed1"]
    assert regime["more_training_gain"] == 0.0  # the pair of the collapsed curve is left out too
    rule.update(min_judged=2)
    regime, why = study_plan.choose_regime({"convergence": rule}, lambda n, e, w: runs[w])
    assert regime["met_rule"] is False and "only 1 of 2 curves trained" in why


def test_items_the_budget_cut_are_reported_as_cut_and_not_trained(tmp_path, capsys, monkeypatch):
    root = converged_study(tmp_path / "study")
    plan = dict(PLAN, budget={"cut_items": [4, 5, 6]})
    (root / "plan.json").write_text(json.dumps(plan))
    (root / "regime.json").write_text(json.dumps({"train_examples": 1000, "epochs": 4, "warmup_epochs": 0.0,
                                                  "chosen_from": "1k-x4", "cost": {
                                                      "cpu_hours_total": 21.0, "cpu_hours_per_item": {
                                                          "1": 4.0, "2": 2.0, "3": 4.0, "4": 4.0, "5": 5.0,
                                                          "6": 2.0}}}))
    assert study_plan.items_to_run(plan) == [1, 2, 3]
    assert report_main([str(root)]) == 0
    text = (root / "report.md").read_text()
    assert "Cut by the budget (`PLAN.md`, Budget): item(s) 4, 5, 6. The study runs items 1, 2, 3: 10.0 CPU-hours." in text
    assert "- item 4: cut by the budget" in text and "- item 1: " in text
    # owed: item 3's 24 runs; snip seed 2's capacity run is listed as started, and item 4's 24 runs are cut
    assert "Not run yet (24): " in text
    assert "snip-0.98-seed2-capacity" not in text.split("Not run yet")[1].split("\n")[0]

    # The runner trains what the plan did not cut unless told which items; an unknown one is an error line.
    trained = []
    monkeypatch.setattr(runner, "run_grid", lambda plan, regime, results, chosen, workers: trained.append(chosen))
    assert runner.main(["grid", "--results", str(root)]) == 0
    assert runner.main(["grid", "--results", str(root), "--items", "4"]) == 0
    assert trained == [[1, 2, 3], [4]]
    capsys.readouterr()
    assert runner.main(["grid", "--results", str(root), "--items", "2", "9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --items 9") and err.count("\n") == 1


def test_a_cut_naming_no_item_of_the_plan_is_one_error_line_and_nothing_written(tmp_path, capsys):
    root = converged_study(tmp_path / "study")
    (root / "plan.json").write_text(json.dumps(dict(PLAN, budget={"cut_items": [7]})))
    assert report_main([str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "budget.cut_items" in err and err.count("\n") == 1
    assert not (root / "report.md").exists()
