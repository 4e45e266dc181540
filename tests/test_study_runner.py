"""The converged study's runner schedules the grid by what each run needs (its cell's default run),
not in phases: a free core takes the next run that can start. Runs are faked here (threads that
write a record) so the test is about the order alone; the training they stand for is tested with
`sparsekit.sweep`, whose per-point function the runner calls."""
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from study import converged as runner

ROOT = Path(__file__).resolve().parents[1]
REGIME = {"train_examples": 20000, "epochs": 40, "warmup_epochs": 2.0}


def small_plan() -> dict:
    """The committed plan cut to two masks, one seed and one trick alone."""
    plan = json.loads((ROOT / "benchmarks" / "results" / "study-converged" / "plan.json").read_text())
    grid = plan["grid"]
    grid.update(headline_masks=["random", "lottery"], seeds=[0])
    grid["tricks_alone"].update(masks=["random"], arms={"label_smoothing": {"label_smoothing": 0.1}})
    return plan


def fake_runs(monkeypatch, runner, behaviour):
    """Replace the worker pool by threads and training by `behaviour(name)` -> finished?; returns
    the names in the order they started."""
    started, lock = [], threading.Lock()

    def run_point(run_dir, name, settings, recipe, labels, overwrite, threads):
        with lock:
            started.append(name)
        assert threads == max(1, (os.cpu_count() or 1) // 2) and not overwrite
        if not behaviour(name):
            return {"name": name, "dir": run_dir, "status": "failed", "error": "boom", "record": None}
        record = {"finished": True, "config": settings, "parameters_at_start": {"masked_kept": 2000,
                                                                              "masked_total": 100000}}
        Path(run_dir).mkdir(parents=True)
        (Path(run_dir) / "record.json").write_text(json.dumps(record))
        return {"name": name, "dir": run_dir, "status": "trained", "error": None, "record": record}

    monkeypatch.setattr(runner, "run_point", run_point)
    monkeypatch.setattr(runner, "worker_pool", lambda workers: ThreadPoolExecutor(workers))
    return started


def test_a_cells_arms_start_while_another_cells_long_default_run_still_trains(tmp_path, monkeypatch, capsys):
    plan = small_plan()
    random_arms = [runner.run_name("random", 0.98, 0, arm)
                   for arm in ("tost", "tost-release", "capacity", "label_smoothing")]
    others_done = threading.Event()
    ran = set()

    def behaviour(name):
        if name == "lottery-0.98-seed0-default":
            # the lottery's rounds: with phases, nothing else would start until this returns
            assert others_done.wait(timeout=20), "no other run started while the lottery default trained"
        ran.add(name)
        if set(random_arms) <= ran:
            others_done.set()
        return True

    started = fake_runs(monkeypatch, runner, behaviour)
    runner.run_grid(plan, REGIME, tmp_path, [1, 2], workers=2)
    queue = [runner.run_name(*cell) for cell in runner.grid_queue(plan, [1, 2])]
    assert queue[:2] == ["random-0.98-seed0-default", "lottery-0.98-seed0-default"]
    assert sorted(started) == sorted(queue) and len(started) == 9
    # the lottery cell's own arms needed its default, so they came after the other runs (in
    # whichever order the two worker threads record them)
    assert sorted(started[-3:]) == sorted(runner.run_name("lottery", 0.98, 0, arm)
                                          for arm in ("tost", "tost-release", "capacity"))
    # every run got the settings the grid gives it (the capacity arm's sparsity from its default's record)
    capacity = json.loads((tmp_path / "runs" / "random-0.98-seed0-capacity" / "record.json").read_text())
    ghost = runner.ghost_branch_weights(plan)
    assert capacity["config"]["sparsity"] == round(1 - (2000 + ghost) / 100000, 6)
    assert "not started" not in capsys.readouterr().out


def test_a_failed_default_run_holds_back_only_its_own_cell_and_says_so(tmp_path, monkeypatch, capsys):
    started = fake_runs(monkeypatch, runner, lambda name: name != "lottery-0.98-seed0-default")
    runner.run_grid(small_plan(), REGIME, tmp_path, [1], workers=2)
    assert len(started) == 5 and "lottery-0.98-seed0-tost" not in started
    out = capsys.readouterr().out
    assert "lottery-0.98-seed0-default failed: boom" in out
    assert ("not started, their cell's default run did not finish: lottery-0.98-seed0-tost, "
            "lottery-0.98-seed0-tost-release, lottery-0.98-seed0-capacity") in out
