"""`sweep(grid, fixed, out)`: every point of a grid trained once, in parallel, resumable.

Each point gets `out/<name>`; a rerun skips finished runs, resumes interrupted ones from their
last checkpoint and retries failed ones, so a killed sweep completes only what is missing.
"""
import dataclasses
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from ...core.errors import SparsekitError
from ...training.run_dir import check_location
from . import backends
from .run_point import ERROR_FILE
from .spec import check_sweep_options, expand

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


def sweep(grid=None, fixed=None, out=None, *, backend: str = "local", workers: Optional[int] = None,
          name: Optional[str] = None, address: Optional[str] = None, cpus_per_run: float = 1,
          gpus_per_run: float = 0, progress: bool = True, overwrite: bool = False) -> SweepResult:
    """Train every point of `grid` (a table of setting -> list of values, crossed; or a list
    of points) with the `fixed` settings, one run directory per point under `out`.

        sk.sweep(grid={"mask": ["snip", "grasp"], "sparsity": [0.9, 0.98], "seed": [0, 1, 2]},
                 fixed={"dataset": "digits", "epochs": 8}, out="runs/grid")

    Settings are those of `sparsekit train` (plus `recipe` and the recipe fields). `backend`:
    "local" (worker processes on this machine, `workers` of them, default one per core),
    "ray" (Ray tasks; `address` joins a cluster; each run asks for `cpus_per_run` CPUs and
    `gpus_per_run` GPUs) or "inline" (here, one by one; the only backend that takes out=None,
    and whose records keep .model and .mask). A failed run never stops the others: its error
    is in its `error.txt` and in the result's `failures`. A finished run is reused only if
    its settings are the point's; `overwrite=True` trains every point anew. In a script, call
    it under `if __name__ == "__main__":` (the local workers are spawned processes, which
    import the script).
    """
    check_sweep_options(out=out, name=name, backend=backend, workers=workers, address=address,
                        cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run, progress=progress, overwrite=overwrite)
    if out is None and backend != "inline":
        raise SparsekitError("a sweep needs out= (the folder for its runs), except with backend='inline'")
    points = expand(grid, fixed, name)  # everything checked before the first run starts
    if out is not None:
        check_location(out)
    tasks = [dict(run_dir=None if out is None else str(Path(out) / point.name), name=point.name,
                  settings=point.settings, recipe=point.recipe, labels=point.labels, overwrite=overwrite)
             for point in points]
    started = time.perf_counter()
    outcomes = _collect(_execute(tasks, backend, workers, address, cpus_per_run, gpus_per_run), len(tasks), progress)
    order = {point.name: index for index, point in enumerate(points)}
    outcomes.sort(key=lambda o: order[o["name"]])
    result = SweepResult(out=None if out is None else str(out), outcomes=outcomes,
                         seconds=time.perf_counter() - started)
    return result


def _execute(tasks, backend, workers, address, cpus_per_run, gpus_per_run):
    if backend == "inline":
        return backends.run_inline(tasks)
    if backend == "local":
        return backends.run_local(tasks, workers)
    return backends.run_ray(tasks, address=address, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run,
                            num_cpus=workers)


def _collect(outcomes, total: int, progress: bool) -> List[Dict[str, Any]]:
    from tqdm.auto import tqdm

    collected = []
    with tqdm(total=total, desc="sweep", unit="run", disable=not progress) as bar:
        for outcome in outcomes:
            collected.append(outcome)
            failed = sum(o["status"] == "failed" for o in collected)
            bar.set_postfix_str(f"{outcome['name']} {outcome['status']}" + (f", {failed} failed" if failed else ""))
            bar.update(1)
    return collected
