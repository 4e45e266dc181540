"""The converged study of `results/study-converged/PLAN.md`: learning curves, the regime the
pre-registered rule chooses, the cost of each arm, then the grid, headline cells first.

    python -m study.converged curves      # budgets in the plan's order until the rule holds
    python -m study.converged choose      # the rule applied to the committed curves -> regime.json
    python -m study.converged cost        # one run of each arm at the regime -> CPU-hours in regime.json
    python -m study.converged grid --items 1 2 3    # the grid's items, in the plan's order
    python -m study.converged run         # curves, then cost (once), then the grid's items

Every command is resumable: finished runs are read back, interrupted ones resume from their
last checkpoint (`sparsekit.sweep`). Settings come from `plan.json` only. Run it from a frozen
worktree of the commit whose code the study uses, with --results pointing at the main
checkout's results folder, so the code under test cannot change while it runs.
"""
import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from sparsekit.app.sweeps.backends import outcome_of
from sparsekit.app.sweeps.run_point import run_point
from sparsekit.app.sweeps.spec import expand
from sparsekit.core.errors import SparsekitError

from .plan import (choose_regime, collapsed, converged, curve_runs,  # noqa: F401
                   items, items_to_run, lottery_mask_options, run_name, rung_name, warmup_epochs, window)
from .runs import cpu_seconds

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "study-converged"
ARM_PRESETS = {"default": "default", "tost": "tost", "tost-release": "tost-release", "capacity": "default"}


def load_plan(results: Path) -> dict:
    return json.loads((results / "plan.json").read_text())


# ---- the convergence rule (study.plan: the report reads the same rule) -------------------
def curve_points(plan: dict, examples: int, epochs: int, warmup: bool) -> Tuple[List[str], List[dict]]:
    rule = plan["convergence"]
    names, points = [], []
    for name, mask, sparsity, seed in curve_runs(plan):
        names.append(name)
        points.append(dict(plan["fixed"], train_examples=examples, epochs=epochs, mask=mask,
                           sparsity=sparsity, seed=seed, recipe="default",
                           warmup_epochs=warmup_epochs(epochs, rule) if warmup else 0.0))
    return names, points


def sweep(points: List[dict], names: List[str], out: Path, workers: int) -> List[Optional[dict]]:
    import sparsekit as sk

    result = sk.sweep(points, out=out, name=names, workers=workers, progress=False)
    print(result.summary(), flush=True)
    return [result.records.get(name) for name in names]


def finished(records: List[Optional[dict]]) -> List[Optional[dict]]:
    return [r if r is not None and r.get("finished") else None for r in records]


def trained_curves(plan: dict, results: Path, workers: int, threads: Optional[int] = None):
    """`records_of` for `choose_regime` that trains a budget's curves (resuming what exists). A
    budget without warm-up in which a finished run has already collapsed is not trained further:
    the rule's outcome (warm-up for every run) no longer depends on its other runs. With
    `threads`, each run gets that many torch threads (`run_queue`), else the sweep's share."""
    rule = plan["convergence"]

    def records_of(examples: int, epochs: int, warmup: bool) -> List[Optional[dict]]:
        rung = rung_name(examples, epochs, warmup)
        names, points = curve_points(plan, examples, epochs, warmup)
        found = finished([_read(results / "curves" / rung / name) for name in names])
        if not warmup and any(r is not None and collapsed(r, rule) for r in found):
            print(f"{rung}: a finished run collapsed; its other runs are not needed", flush=True)
            return found
        print(f"{rung}: {len(points)} curve runs", flush=True)
        if threads is None:
            return finished(sweep(points, names, results / "curves" / rung, workers))
        run_queue(names, dict(zip(names, points)).get, results / "curves" / rung, workers, threads)
        return finished([_read(results / "curves" / rung / name) for name in names])
    return records_of


def committed_curves(plan: dict, results: Path):
    """`records_of` for `choose_regime` that only reads the curve records on disk."""
    def records_of(examples: int, epochs: int, warmup: bool) -> List[Optional[dict]]:
        rung = rung_name(examples, epochs, warmup)
        names, _ = curve_points(plan, examples, epochs, warmup)
        return finished([_read(results / "curves" / rung / name) for name in names])
    return records_of


def _read(run_dir: Path) -> Optional[dict]:
    try:
        return json.loads((run_dir / "record.json").read_text())
    except (OSError, ValueError):
        return None


# ---- the grid --------------------------------------------------------------------------------
def ghost_branch_weights(plan: dict) -> int:
    """Parameters of the ghost skip branches `tost-release` keeps on the study's network."""
    import sparsekit as sk
    from sparsekit.recipe.ghost_skip import GhostBranch, ghost_sites

    fixed = plan["fixed"]
    model = sk.models.build(fixed["model"], 10, in_channels=1, width=fixed["width"], input_size=28)
    return sum(p.numel() for unit in ghost_sites(model) for p in GhostBranch(unit.conv, 1.0).parameters())


def capacity_sparsity(default_record: dict, ghost: int) -> float:
    """The sparsity whose kept count is the masked kept count plus the ghost branches' weights."""
    counts = default_record["parameters_at_start"]
    return 1 - (counts["masked_kept"] + ghost) / counts["masked_total"]


def grid_point(plan: dict, regime: dict, mask: str, sparsity: float, seed: int, arm: str, runs: Path,
               ghost: int) -> Optional[dict]:
    """The point of one run, or None while what it needs (its cell's default run) is missing."""
    fixed = dict(plan["fixed"], train_examples=regime["train_examples"], epochs=regime["epochs"],
                 warmup_epochs=regime["warmup_epochs"], mask=mask, sparsity=sparsity, seed=seed)
    if mask == "lottery":
        fixed["mask_options"] = lottery_mask_options(plan["grid"]["lottery_options"], regime["epochs"])
    if arm == "default":
        return dict(fixed, recipe="default")
    default = _read(runs / run_name(mask, sparsity, seed, "default"))
    if default is None or not default.get("finished"):
        return None
    if arm == "capacity":
        return dict(fixed, sparsity=round(capacity_sparsity(default, ghost), 6), recipe="default")
    mask_file = str(runs / run_name(mask, sparsity, seed, "default") / "mask.pt")
    tricks = plan["grid"]["tricks_alone"]["arms"]
    recipe = dict(tricks[arm]) if arm in tricks else ARM_PRESETS[arm]
    if isinstance(recipe, dict):
        return dict(fixed, mask_file=mask_file, **recipe)
    return dict(fixed, mask_file=mask_file, recipe=recipe)


def grid_queue(plan: dict, chosen: List[int]) -> List[Tuple[str, float, int, str]]:
    """The chosen items' runs in the order they are started: item by item as the plan lists them,
    each item's default runs first (each computes the mask its cell's other arms train)."""
    order = items(plan)
    return [cell for item in chosen for cell in sorted(order[item], key=lambda cell: cell[3] != "default")]


def worker_pool(workers: int) -> Executor:
    # spawn, not fork, as sparsekit.sweep does: a forked torch can hang in its thread pools
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))


def run_grid(plan: dict, regime: dict, results: Path, chosen: List[int], workers: int) -> None:
    """Train the chosen items, `workers` runs at a time, one torch thread each (on two cores).
    Whenever a worker is free it takes the first run of the queue whose cell's default run has
    finished, so no core waits for an item's last long run (a lottery ticket's rounds) while
    later runs could train. Each run is trained as `sparsekit.sweep` trains a point (the same
    settings, names and folders; a finished run is read back, an interrupted one resumes); a
    failed run is not retried in the same call."""
    runs = results / "runs"
    ghost = ghost_branch_weights(plan)
    cells = {run_name(*cell): cell for cell in grid_queue(plan, chosen)}
    run_queue(list(cells), lambda name: grid_point(plan, regime, *cells[name], runs, ghost), runs, workers)


def run_queue(names: List[str], point_of: Callable[[str], Optional[dict]], runs: Path, workers: int,
              threads: Optional[int] = None) -> None:
    """Train the named runs under `runs`, `workers` at a time, each with `threads` torch threads
    (default: the cores shared out, one each with two workers on two cores): a free worker takes
    the first name, in order, whose point `point_of(name)` can give (None while what the run
    needs has not finished). Each run is trained as `sparsekit.sweep` trains a point (the same
    settings, names and folders; a finished run is read back, an interrupted one resumes); a
    failed run is not retried in the same call."""
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    started = set()

    def next_task() -> Optional[dict]:
        for name in names:
            point = None if name in started else point_of(name)
            if point is not None:
                started.add(name)
                (spec,) = expand([point], name=[name])
                return dict(run_dir=str(runs / name), name=name, settings=spec.settings, recipe=spec.recipe,
                            labels=spec.labels, overwrite=False)
        return None

    with worker_pool(workers) as pool:
        running = {}
        while True:
            while len(running) < workers and (task := next_task()) is not None:
                running[pool.submit(run_point, **task, threads=threads)] = task
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                task = running.pop(future)
                outcome = outcome_of(future.result, task)
                error = f": {outcome['error']}" if outcome["status"] == "failed" else ""
                print(f"{time.strftime('%H:%M')} {task['name']} {outcome['status']}{error}", flush=True)
    waiting = [name for name in names if name not in started]
    if waiting:
        print(f"not started, their cell's default run did not finish: {', '.join(waiting)}", flush=True)


def cost(plan: dict, regime: dict, results: Path, workers: int) -> dict:
    """CPU-seconds of one run of each arm (random mask, 98%, seed 0), and the CPU-hours of each
    item of the grid from them; a lottery mask adds its rounds' training. A run that trains alone
    (the default run) holds both cores, so its wall seconds are counted once per thread. The
    timed runs are that cell's own grid runs, trained where the grid keeps them, so the grid does
    not train them again (the same points, the same folder)."""
    runs = results / "runs"
    ghost = ghost_branch_weights(plan)
    arms = list(plan["grid"]["arms"]) + list(plan["grid"]["tricks_alone"]["arms"])
    seconds = {}
    for phase in ("default", "other"):
        timed = [arm for arm in arms if (arm == "default") == (phase == "default")]
        names = [run_name("random", 0.98, 0, arm) for arm in timed]
        points = [grid_point(plan, regime, "random", 0.98, 0, arm, runs, ghost) for arm in timed]
        if any(point is None for point in points):
            raise SystemExit(f"error: the cost's default run did not finish; see {runs}/*/error.txt")
        for arm, record in zip(timed, sweep(points, names, runs, workers)):
            if not record or not record.get("finished"):
                raise SystemExit(f"error: the cost run of arm {arm} did not finish; see {runs}/*/error.txt "
                                 "(a CPU-hours estimate without it would be too low)")
            seconds[arm] = cpu_seconds(record)
    options = plan["grid"]["lottery_options"]
    round_share = max(1, round(options["round_epochs_fraction"] * regime["epochs"])) / regime["epochs"]
    rounds = {0.9: math.ceil(math.log(0.1) / math.log(1 - options["prune_fraction"])),
              0.98: math.ceil(math.log(0.02) / math.log(1 - options["prune_fraction"])),
              0.995: math.ceil(math.log(0.005) / math.log(1 - options["prune_fraction"]))}
    hours = {}
    for item, cells in items(plan).items():
        total = sum(seconds[arm] for _, _, _, arm in cells)
        total += sum(rounds[p] * round_share * seconds["default"] for m, p, _, arm in cells
                     if m == "lottery" and arm in ("default", "capacity"))
        hours[str(item)] = round(total / 3600, 2)
    return {"seconds_per_arm": seconds, "cpu_hours_per_item": hours,
            "cpu_hours_total": round(sum(hours.values()), 2),
            "note": "CPU-seconds: a run's wall seconds times its torch threads; wall hours on 2 cores "
                    "are about half the CPU-hours; "
                    "timed on the grid's own runs of random 0.98 seed 0, which the grid keeps"}


def write_regime(results: Path, regime: dict) -> dict:
    """Write regime.json; a cost already measured at the same budget is kept (rerunning `curves`
    must not drop the CPU-hours the plan recorded before the grid started)."""
    regime_file = results / "regime.json"
    old = _read_json(regime_file) or {}
    same_budget = all(old.get(k) == regime.get(k) for k in ("train_examples", "epochs", "warmup_epochs"))
    if same_budget and "cost" in old:
        regime = dict(regime, cost=old["cost"])
    regime_file.write_text(json.dumps(regime, indent=1))
    return regime


def _read_json(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("curves", "choose", "cost", "grid", "run"))
    parser.add_argument("--results", default=str(RESULTS), help="the study's folder (plan.json is read there)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--items", type=int, nargs="*", default=None,
                        help="the grid's items to train (default: every item the plan's budget did not cut)")
    args = parser.parse_args(argv)
    results = Path(args.results)
    plan = load_plan(results)
    try:  # checked before anything trains
        to_run = items_to_run(plan) if args.items is None else args.items
    except SparsekitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    unknown = [item for item in to_run if item not in items(plan)]
    if unknown:
        print(f"error: --items {' '.join(map(str, unknown))}: the plan's items are {sorted(items(plan))}",
              file=sys.stderr)
        return 2
    if args.command in ("curves", "choose", "run"):
        records_of = (committed_curves(plan, results) if args.command == "choose"
                      else trained_curves(plan, results, args.workers))
        regime, why = choose_regime(plan, records_of)
        print(why, flush=True)
        if regime is None:
            return 1
        regime = write_regime(results, regime)
        print(json.dumps(regime, indent=1), flush=True)
        if args.command != "run":
            return 0
    regime = _read_json(results / "regime.json")
    if regime is None:
        print("error: no regime.json yet: run `curves` first", file=sys.stderr)
        return 2
    if args.command == "cost" or (args.command == "run" and "cost" not in regime):
        regime["cost"] = cost(plan, regime, results, args.workers)
        (results / "regime.json").write_text(json.dumps(regime, indent=1))
        print(json.dumps(regime["cost"], indent=1), flush=True)
        if args.command == "cost":
            return 0
    run_grid(plan, regime, results, to_run, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
