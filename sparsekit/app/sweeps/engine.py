"""`sweep(grid, fixed, out)`: every point of a grid trained once, in parallel, resumable.

Each point gets `out/<name>`; a rerun skips finished runs, resumes interrupted ones from their
last checkpoint and retries failed ones, so a killed sweep completes only what is missing.
"""
import dataclasses
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ...core.errors import SparsekitError
from ...recipe.search_cache import reuse_searches
from ...training.run_dir import check_location
from . import backends, shared_masks
from .axes import expand_axes
from .progress import GridProgress
from .run_point import ERROR_FILE
from .spec import Point, check_sweep_options

STATUSES = ("trained", "resumed", "skipped", "failed")


@dataclasses.dataclass
class SweepResult:
    """What a sweep did: one outcome per run (name, dir, status, error, record), in grid order."""
    out: Optional[str]
    outcomes: List[Dict[str, Any]]
    seconds: float

    @property
    def failures(self) -> List[Dict[str, Any]]:
        return [o for o in self.outcomes if o["status"] == "failed"]

    @property
    def records(self) -> Dict[str, Any]:
        """name -> record of every run that has one (trained, resumed or skipped)."""
        return {o["name"]: o["record"] for o in self.outcomes if o["record"] is not None}

    def summary(self) -> str:
        counts = {status: sum(o["status"] == status for o in self.outcomes) for status in STATUSES}
        lines = [f"{len(self.outcomes)} runs in {self.seconds:.0f} s: " +
                 ", ".join(f"{count} {status}" for status, count in counts.items() if count)]
        for failure in self.failures:
            traceback_file = Path(failure["dir"]) / ERROR_FILE if failure["dir"] else None
            # a refusal before training (a folder of other settings) writes nothing to point at
            where = f" (traceback: {traceback_file})" if traceback_file and traceback_file.is_file() else ""
            lines.append(f"  FAILED {failure['name']}: {failure['error']}{where}")
        return "\n".join(lines)


def sweep(grid=None, fixed=None, out=None, *, seeds: Optional[Sequence[int]] = None,
          recipes: Optional[Mapping[str, Any]] = None, backend: str = "local", workers: Optional[int] = None,
          name=None, address: Optional[str] = None, cpus_per_run: float = 1,
          gpus_per_run: float = 0, progress: bool = True, overwrite: bool = False) -> SweepResult:
    """Train every point of `grid` (a table of setting -> list of values, crossed; or a list
    of points) with the `fixed` settings, one run directory per point under `out`.

        sk.sweep(grid={"mask": ["snip", "grasp"], "sparsity": [0.9, 0.98]}, seeds=[0, 1, 2],
                 recipes={"default": "default", "tost": "tost"},
                 fixed={"dataset": "digits", "epochs": 8}, out="runs/grid")

    Settings are those of `sparsekit train` (plus `recipe` and the recipe fields). Two axes
    cross the grid (`axes`): `seeds` trains every point once per seed, and `recipes` (label ->
    a Recipe, preset name or recipe dict) trains every point with every recipe, ONE mask per
    point and seed computed once and trained by each recipe from the same initialisation.
    `backend`: "local" (worker processes on this machine, `workers` of them, default one per
    core), "ray" (Ray tasks; `address` joins a cluster; each run asks for `cpus_per_run` CPUs
    and `gpus_per_run` GPUs) or "inline" (here, one by one; the only backend that takes
    out=None, and whose records keep .model and .mask). A failed run never stops the others:
    its error is in its `error.txt` and in the result's `failures`. A finished run is reused
    only if its settings are the point's; `overwrite=True` trains every point anew.
    `progress` draws one bar over all the runs' epochs, labelled with the run it is on; an
    interrupt raises `GridInterrupted` (a KeyboardInterrupt) whose message is one line. In a
    script, call it under `if __name__ == "__main__":` (the local workers are spawned
    processes, which import the script).
    """
    check_sweep_options(out=out, name=name, backend=backend, workers=workers, address=address,
                        cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run, progress=progress, overwrite=overwrite)
    if out is None and backend != "inline":
        raise SparsekitError("a sweep needs out= (the folder for its runs), except with backend='inline'")
    groups = expand_axes(grid, fixed, name, seeds, recipes)  # everything checked before the first run starts
    if out is not None:
        check_location(out)
    points = [point for group in groups for point in group]
    run_dirs = {point.name: None if out is None else str(Path(out) / point.name) for point in points}
    shown = GridProgress({point.name: point.config().epochs for point in points}, run_dirs, progress,
                         fresh_only=overwrite)
    started = time.perf_counter()
    try:
        with reuse_searches():  # the recipes of a group search GradInit on the same masked start once
            if out is None:
                outcomes = _collect(backends.run_inline(_in_memory_tasks(groups, shown, overwrite), shown.starting), shown)
            else:
                outcomes = _in_run_folders(groups, out, run_dirs, overwrite, shown, lambda tasks: _execute(
                    tasks, backend, workers, address, cpus_per_run, gpus_per_run, shown))
    except KeyboardInterrupt as stopped:  # one line for the person; where it stopped stays in the chain
        if out is None:
            raise shown.interrupted(None) from stopped
        if overwrite:
            raise shown.interrupted(None, "overwrite trains every run anew") from stopped
        raise shown.interrupted(str(out)) from stopped
    finally:
        shown.close()
    order = {point.name: index for index, point in enumerate(points)}
    outcomes.sort(key=lambda o: order[o["name"]])
    return SweepResult(out=None if out is None else str(out), outcomes=outcomes,
                       seconds=time.perf_counter() - started)


def _task(point: Point, run_dir: Optional[str], overwrite: bool) -> Dict[str, Any]:
    return dict(run_dir=run_dir, name=point.name, settings=point.settings, recipe=point.recipe, labels=point.labels,
                overwrite=overwrite)


def _in_memory_tasks(groups: List[List[Point]], shown: GridProgress, overwrite: bool) -> List[Dict[str, Any]]:
    """Runs in this process without folders: a group's mask handed to each of its runs."""
    tasks = []
    for group in groups:
        given = shared_masks.MaskOnce(group[0]) if shared_masks.shared(group) else None
        tasks += [dict(_task(point, None, overwrite), given=given, callbacks=[shown.ticker(point.name)])
                  for point in group]
    return tasks


def _in_run_folders(groups, out, run_dirs, overwrite: bool, shown: GridProgress, execute) -> List[Dict[str, Any]]:
    """Two phases: the runs that compute masks, then the runs that train those masks' files."""
    first, second = shared_masks.in_phases(groups, out)
    outcomes = _collect(execute([_task(point, run_dirs[point.name], overwrite) for point in first]), shown)
    ready, missing = [], []
    for point, source in second:
        if Path(point.settings["mask_file"]).is_file():
            ready.append(point)
        else:  # its group's first run failed: reported there, and here
            missing.append(shared_masks.mask_missing(point, source, run_dirs[point.name]))
            shown.ended(missing[-1])
    if ready:
        outcomes += _collect(execute([_task(point, run_dirs[point.name], overwrite) for point in ready]), shown)
    return outcomes + missing


def _execute(tasks, backend, workers, address, cpus_per_run, gpus_per_run, shown: GridProgress):
    if backend == "inline":
        return backends.run_inline([dict(task, callbacks=[shown.ticker(task["name"])]) for task in tasks],
                                   shown.starting)
    if backend == "local":
        return backends.run_local(tasks, workers)
    return backends.run_ray(tasks, address=address, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run,
                            num_cpus=workers)


def _collect(outcomes, shown: GridProgress) -> List[Dict[str, Any]]:
    """The outcomes as they come; between them (None: a run is still going) the bar follows
    the runs' epochs."""
    collected = []
    for outcome in outcomes:
        if outcome is None:
            shown.poll()
            continue
        collected.append(outcome)
        shown.ended(outcome)
    return collected
