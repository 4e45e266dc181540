"""One run of a sweep, as a worker process (or Ray task) executes it: skipped when its record
says finished, resumed when a checkpoint is there, and on failure its error kept in
`error.txt` beside the run's files, so one failed run never stops the others."""
import json
import traceback
from pathlib import Path
from typing import Any, Dict, Optional

from ...core import threads as threads_policy
from ...core.callbacks import Callback
from ...recipe import Recipe

ERROR_FILE = "error.txt"


class SweepLabels(Callback):
    """Writes the run's sweep name and grid labels into its record (`record["sweep"]`), so a
    table can group runs by what the grid chose (a recipe's label, not its 30 fields)."""

    record_section = "sweep"

    def __init__(self, name: str, labels: Dict[str, Any]):
        self.name, self.labels = name, dict(labels)

    def record(self, state) -> Dict[str, Any]:
        return {"name": self.name, "labels": self.labels}


def finished_record(run_dir) -> Optional[dict]:
    """The run's record if it finished, else None."""
    try:
        record = json.loads((Path(run_dir) / "record.json").read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("finished") else None


def other_settings(record: dict, settings: Dict[str, Any], recipe: Dict[str, Any]) -> Optional[str]:
    """What differs between a finished run and the point that would reuse it (None: nothing)."""
    from ...training.config import TrainConfig, make_config
    from ...runs.launch import RESUMABLE_CHANGES

    before = TrainConfig.from_record(record.get("config", {})).to_dict()
    for key, value in make_config(**settings).to_dict().items():
        if key not in RESUMABLE_CHANGES and before.get(key) != value:
            return f"{key} was {before.get(key)!r}, now {value!r}"
    if record.get("recipe") and Recipe.from_dict(record["recipe"]).to_dict() != recipe:  # earlier records too
        return "the recipe differs"
    return None


def run_point(run_dir: Optional[str], name: str, settings: Dict[str, Any], recipe: Dict[str, Any],
              labels: Dict[str, Any], threads: Optional[int] = None, keep_objects: bool = False,
              overwrite: bool = False) -> Dict[str, Any]:
    """Train one point; returns {"name", "status" (skipped, trained, resumed, failed), "error",
    "record"}. `keep_objects` returns the RunRecord itself (with .model and .mask), for runs
    in this process; otherwise the record as a plain dict, which pickles cheaply. `overwrite`
    trains anew whatever the folder holds."""

    from ...runs import train

    if threads:  # this worker's share; the run still takes one thread where more would not pay
        threads_policy.limit_to(threads_policy.Threads(threads, f"{threads} thread(s): this sweep worker's share "
                                                                 f"of the machine's CPUs"))
    outcome = {"name": name, "dir": run_dir, "status": None, "error": None, "record": None}
    if run_dir is not None and not overwrite:
        done = finished_record(run_dir)
        if done is not None:
            changed = other_settings(done, settings, recipe)
            if changed:  # never report a run of other settings as this point's
                return {**outcome, "status": "failed", "error": f"{run_dir} holds a finished run of other settings "
                        f"({changed}); remove it, pass overwrite=True (--overwrite), or choose another out"}
            return {**outcome, "status": "skipped", "record": done}
    if run_dir is not None:
        (Path(run_dir) / ERROR_FILE).unlink(missing_ok=True)  # a new attempt: the old error is history
    resume = run_dir is not None and not overwrite and (Path(run_dir) / "checkpoint.pt").is_file()
    try:
        record = train(recipe=recipe, out=run_dir, resume=resume, overwrite=overwrite, progress=False,
                       callbacks=[SweepLabels(name, labels)], **settings)
    except Exception as error:  # kept, reported, and the sweep goes on
        if run_dir is not None:
            Path(run_dir).mkdir(parents=True, exist_ok=True)
            (Path(run_dir) / ERROR_FILE).write_text(traceback.format_exc())
        return {**outcome, "status": "failed", "error": f"{type(error).__name__}: {error}"}
    return {**outcome, "status": "resumed" if resume else "trained",
            "record": record if keep_objects else dict(record)}
