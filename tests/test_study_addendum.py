"""The addendum's runner (issue 52): the committed plan's items are what the issue asks, every
setting an arm changes reaches the run, and a tiny addendum (digits, two batches an epoch) runs
end to end: its own regime for a second network from its curves, its structure control with
`tost-release`'s inference cost (counted from an export of the `tost-release` run it trained),
records in the first study's format, and a second call that trains nothing again."""
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

import sparsekit as sk
from sparsekit.export import export
from sparsekit.export.run_dir import load_run
from study import addendum, converged
from study.addendum_plan import Cell, arm_settings, cells, read_addendum

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "benchmarks" / "results" / "study-addendum"
FIRST_RECORD = ROOT / "benchmarks" / "results" / "study-converged" / "runs" / "snip-0.98-seed0-default" / "record.json"


def test_the_committed_plan_has_the_issues_items_in_its_order():
    plan = read_addendum(COMMITTED)
    items = cells(plan)
    assert plan["order"] == [3, 4, 5, 7, 6, 8]
    assert {item: len(runs) for item, runs in items.items()} == {3: 21, 4: 30, 5: 45, 7: 45, 6: 4, 8: 12}
    assert ("random", 0.995) not in {(c.mask, c.sparsity) for c in items[3]}  # the degenerate cell: item 4 redoes it
    assert {c.arm for c in items[4]} == {c.arm for c in items[5]} == {c.arm for c in items[7]} == \
        {"default", "tost", "tost-release", "capacity", "structure"}
    assert {c.seed for c in items[5]} == {3, 4, 5} and {c.seed for c in items[6]} == {0, 1}
    assert plan["networks"]["vgg16"]["settings"]["width"] > 0 and plan["metric"] == "best_val_test_acc"


def test_each_arms_settings_reach_the_runs_config():
    """What the plan asks (a dense first layer, the early phase, label smoothing, twice the epochs
    with the rule's warm-up) is in the `TrainConfig` the sweep builds from the runner's point."""
    from sparsekit.app.sweeps.spec import expand

    plan = read_addendum(COMMITTED)
    regime, rule = {"train_examples": 20000, "epochs": 40, "warmup_epochs": 2.0}, {"warmup_fraction_if_collapse": 0.05}

    def config(cell):
        (point,) = expand([arm_settings(plan, cell, regime, rule)], name=[cell.name])
        return point.config()

    dense_first = config(Cell(4, "random-densefirst", 0.995, 0, "default"))
    assert dense_first.prune_first_layer is False and dense_first.mask == "random" and dense_first.model == "resnet20"
    for phase in (0.1, 0.25, 0.5):
        for smoothing in (0.05, 0.1):
            tost = config(Cell(8, "snip", 0.98, 0, f"tost-phase{phase:g}-ls{smoothing:g}"))
            assert (tost.recipe.early_phase, tost.recipe.label_smoothing) == (phase, smoothing)
            assert tost.recipe.ghost_skip_mode == "early" and tost.recipe.init == "gradinit"
    longer = config(Cell(6, "lottery", 0.995, 1, "default-x2"))
    assert (longer.epochs, longer.warmup_epochs, longer.recipe.preset_name()) == (80, 4.0, "default")
    vgg = config(Cell(7, "vgg16-erk", 0.98, 2, "default"))
    assert (vgg.model, vgg.mask) == ("vgg16", "erk") and vgg.width == plan["networks"]["vgg16"]["settings"]["width"]


def _tiny(tmp_path: Path) -> Path:
    """A first study (one finished default run) and an addendum of three items beside it."""
    first, results = tmp_path / "first", tmp_path / "addendum"
    first.mkdir()
    results.mkdir()
    (first / "plan.json").write_text(json.dumps({"format": "sparsekit.study-plan/1",
                                                 "convergence": {"warmup_fraction_if_collapse": 0.05}}))
    (first / "regime.json").write_text(json.dumps({"train_examples": 200, "epochs": 1, "warmup_epochs": 1.0}))
    fixed = {"dataset": "digits", "max_batches": 2, "test_every": "best-val", "bn_reestimate_batches": 1}
    rule = {"rungs": [[200, 1]], "curve_masks": ["erk"], "curve_sparsities": [0.9], "curve_seeds": [0],
            "window_fraction": 0.2, "max_change": 1.0, "collapse_below": 0.0, "warmup_fraction_if_collapse": 0.05,
            "more_training": {"epochs_factor": 2, "max_gain": 1.0}, "min_judged": 1}
    plan = {
        "format": "sparsekit.study-addendum-plan/1", "first_study": "../first", "fixed": fixed,
        "torch_threads_per_run": 1,
        "default_network": "resnet20",
        "networks": {"resnet20": {"settings": {"model": "resnet20", "width": 0.25}},
                     "vgg16": {"settings": {"model": "vgg16", "width": 0.25}, "own_regime": True, "cost_ratio": 1.0,
                               "convergence": rule}},
        "masks": {"random": {"mask": "random"}, "random-densefirst": {"mask": "random", "prune_first_layer": False},
                  "vgg16-erk": {"mask": "erk", "network": "vgg16"}},
        "arms": {"default": {"recipe": "default"}, "capacity": {"recipe": "default", "mask": "capacity"},
                 "structure": {"recipe": "default", "mask": "structure", "cost_as": "default"},
                 "tost-release": {"recipe": "tost-release", "init_iterations": 1},
                 "tost-short": {"recipe": "tost", "early_phase": 0.5, "label_smoothing": 0.05, "init_iterations": 1},
                 "default-x2": {"recipe": "default", "epochs_factor": 2, "cost_as": "default"}},
        "items": {"1": {"masks": ["random"], "sparsities": [0.9], "seeds": [0], "arms": ["structure", "default-x2"]},
                  "2": {"masks": ["random-densefirst"], "sparsities": [0.9], "seeds": [0],
                        "arms": ["default", "structure", "capacity", "tost-release", "tost-short"]},
                  "3": {"masks": ["vgg16-erk"], "sparsities": [0.9], "seeds": [0], "arms": ["default", "structure"]}},
        "order": [1, 2, 3], "lottery_options": {"prune_fraction": 0.5, "round_epochs_fraction": 0.25},
        "budget": {"cut_items": []}}
    (results / "plan.json").write_text(json.dumps(plan))
    cell = Cell(1, "random", 0.9, 0, "default")
    sk.train(**arm_settings(plan, cell, json.loads((first / "regime.json").read_text()), {}), progress=False,
             out=str(first / "runs" / cell.name))
    return results


def _in_this_process(monkeypatch) -> None:
    """Runs in threads: spawning worker processes would cost more than the runs."""
    monkeypatch.setattr(converged, "worker_pool", lambda workers: ThreadPoolExecutor(workers))


def test_a_tiny_addendum_runs_end_to_end_and_resumes(tmp_path, monkeypatch, capsys):
    torch.set_num_threads(1)
    _in_this_process(monkeypatch)
    results = _tiny(tmp_path)
    assert addendum.main(["run", "--results", str(results), "--workers", "1"]) == 0
    runs = results / "runs"

    def record(name):
        return json.loads((runs / name / "record.json").read_text())

    names = [c.name for item in cells(read_addendum(results)).values() for c in item]
    assert all(record(name)["finished"] for name in names)
    assert {record(name)["format"] for name in names} == {json.loads(FIRST_RECORD.read_text())["format"]}
    curve_records = list((results / "vgg16" / "curves").rglob("record.json"))
    assert len(curve_records) == 2  # the one curve at its budget and at twice the epochs
    assert {json.loads(path.read_text())["environment"]["torch_threads"] for path in curve_records} | \
        {record(name)["environment"]["torch_threads"] for name in names} == {1}  # the plan's one thread
    # the first layer stays dense through the runner, in every arm of the cell
    for arm in ("default", "structure", "capacity", "tost-release", "tost-short"):
        run = record(f"random-densefirst-0.9-seed0-{arm}")
        assert run["config"]["prune_first_layer"] is False
        assert "stem.conv.weight" not in sk.Mask.load(runs / f"random-densefirst-0.9-seed0-{arm}" / "mask.pt")
    # the structure control keeps exactly the conv weights the folded tost-release network uses
    model, mask, shape = load_run(runs / "random-densefirst-0.9-seed0-tost-release")
    folded = export(model, mask, input_shape=shape).report
    linear = sum(int((m.weight != 0).sum()) for m in model.modules() if isinstance(m, torch.nn.Linear))
    stem = model.stem.conv.weight.numel()  # dense: outside the mask
    structure = record("random-densefirst-0.9-seed0-structure")["parameters_at_start"]["masked_kept"]
    assert structure + stem == folded["nonzero_after_fold"] - linear
    # the other arms' settings reached their runs
    short = record("random-densefirst-0.9-seed0-tost-short")["recipe"]
    assert (short["early_phase"], short["label_smoothing"]) == (0.5, 0.05)
    assert len(record("random-0.9-seed0-default-x2")["epochs"]) == 2
    vgg_regime = json.loads((results / "vgg16" / "regime.json").read_text())
    assert record("vgg16-erk-0.9-seed0-default")["config"]["model"] == "vgg16"
    assert len(record("vgg16-erk-0.9-seed0-structure")["epochs"]) == vgg_regime["epochs"]
    capsys.readouterr()
    assert addendum.main(["run", "--results", str(results), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "trained" not in out and out.count("skipped") == len(names)


def test_a_missing_first_study_run_or_unknown_item_is_one_line_before_anything_trains(tmp_path, capsys):
    results = _tiny(tmp_path)
    assert addendum.main(["run", "--results", str(results), "--items", "9"]) == 2
    assert "the plan's items are [1, 2, 3]" in capsys.readouterr().err
    (results.parent / "first" / "runs" / "random-0.9-seed0-default" / "record.json").unlink()
    assert addendum.main(["run", "--results", str(results), "--items", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: item 1 needs the first study's finished run random-0.9-seed0-default")
    assert not (results / "runs").exists()


def test_the_cost_counts_every_item_from_the_first_studys_records():
    from study.addendum_cost import cost_table, measured_seconds, run_seconds

    plan = read_addendum(COMMITTED)
    table = cost_table(plan, COMMITTED)
    assert set(table["cpu_hours_per_item"]) == {str(item) for item in plan["order"]}
    assert all(hours > 0 for hours in table["cpu_hours_per_item"].values())
    seconds = measured_seconds(COMMITTED / plan["first_study"])
    structure, default = (run_seconds(plan, Cell(3, "snip", 0.98, 0, arm), seconds) for arm in ("structure", "default"))
    assert structure == default  # plain training of a mask costs what plain training costs
    longer = run_seconds(plan, Cell(6, "lottery", 0.995, 0, "default-x2"), seconds)
    assert longer == 2 * run_seconds(plan, Cell(6, "snip", 0.995, 0, "default"), seconds)  # a mask file: no rounds
    vgg = run_seconds(plan, Cell(7, "vgg16-snip", 0.98, 0, "default"), seconds)
    assert vgg == default * plan["networks"]["vgg16"]["cost_ratio"]
