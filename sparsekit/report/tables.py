"""Run records as a pandas DataFrame, and the two summaries every comparison needs.

    runs = sk.results.load("runs/grid")                      # one row per run
    sk.results.mean_std(runs, by=["mask", "sparsity", "recipe"])
    sk.results.paired_differences(runs)                       # recipe - default, same seed

A row holds every setting of the run (its `config`), the recipe (its preset or sweep label as
`recipe`, its fields as `recipe.<field>`), and the metrics. The requested sparsity is the
setting `sparsity`; what the mask achieved is `achieved_sparsity`; `path_from_input` is False
for a run whose starting mask left no path from input to output, and `effective_density` is the
density of its kept weights that some path uses (`analysis.paths`; None in older records).
"""
import json
import math
import os
from pathlib import Path
from typing import Optional, Sequence

from ..core import formats
from ..core.errors import SparsekitError

METRIC = "best_val_test_acc"  # test accuracy at the best validation epoch (the release's metric)
METRICS = ("test_acc", "best_val_acc", "best_val_test_acc", "best_val_epoch", "density", "nonzero_density",
           "seconds")
ERROR_FILE = "error.txt"


def load(directory, finished_only: bool = False):
    """One row per run found under `directory` (any depth): finished, unfinished, diverged,
    or failed in a sweep (a folder with only `error.txt`: its error in column `error`)."""
    import pandas as pd

    if not isinstance(directory, (str, os.PathLike)):
        raise SparsekitError(f"directory must be a folder's path, got {type(directory).__name__}")
    root = Path(directory)
    if not root.is_dir():
        raise SparsekitError(f"no such directory: {root}")
    folders = sorted({p.parent for p in root.rglob("record.json")} | {p.parent for p in root.rglob(ERROR_FILE)})
    rows = [_row(root, folder) for folder in folders]
    rows = [row for row in rows if row is not None and (row["status"] == "finished" or not finished_only)]
    if not rows:
        raise SparsekitError(f"no runs under {root} (a run is a folder with record.json)")
    return pd.DataFrame(rows)


def _row(root: Path, folder: Path) -> Optional[dict]:
    run = folder.relative_to(root).as_posix() or "."
    try:
        record = json.loads((folder / "record.json").read_text())
    except FileNotFoundError:
        lines = (folder / ERROR_FILE).read_text().strip().splitlines()
        return {"run": run, "status": "failed", "error": lines[-1] if lines else ""}
    except (OSError, ValueError):
        return None  # being written, or not a record: not a run to count
    _check_record_shape(record, folder / "record.json")
    status = "finished" if record.get("finished") else "diverged" if record.get("diverged") else "unfinished"
    row = {"run": run, "status": status, **record.get("config", {})}
    recipe = record.get("recipe") or {}
    labels = (record.get("sweep") or {}).get("labels", {})
    row["recipe"] = labels.get("recipe") or record.get("recipe_preset") or _preset_of(recipe)
    row.update({f"recipe.{name}": value for name, value in recipe.items()})
    row.update({name: record.get(name) for name in METRICS})
    row["achieved_sparsity"] = record.get("sparsity")
    row["epochs_done"] = len(record.get("epochs", []))
    # False: the run's starting mask cut the network (it trained at chance); None: not judged,
    # or a record written before runs judged it
    analysis = record.get("analysis") or {}
    row["path_from_input"] = analysis.get("path_from_input_at_start")
    row["effective_density"] = analysis.get("effective_density_at_start")  # kept weights some path uses
    return row


def _check_record_shape(record, path: Path) -> None:
    """A record.json of another shape (a list, a newer format, a damaged section) is named in
    one line rather than failing somewhere in the table."""
    if isinstance(record, dict) and formats.found_format(record) is not None:
        formats.check(record, "run record", path)
    elif not isinstance(record, dict):
        raise SparsekitError(f"{path}: not a sparsekit run record ({formats.describe_found(record)})")
    for section in ("config", "recipe", "sweep"):
        if record.get(section) is not None and not isinstance(record[section], dict):
            raise SparsekitError(f"{path}: the record's {section!r} must be a table of settings, got "
                                 f"{type(record[section]).__name__}; the file is damaged or not a sparsekit record")


def _preset_of(recipe: dict) -> str:
    from ..recipe import Recipe

    return Recipe.from_dict(recipe).preset_name() if recipe else "default"


def mean_std(runs, by: Sequence[str] = ("mask", "sparsity", "recipe"), metric: str = METRIC):
    """Per group of `by`: mean, std (n - 1; NaN for one run) and n of `metric`, finished runs only."""
    by = _columns(runs, by, metric)
    finished = runs[runs["status"] == "finished"] if "status" in runs else runs
    table = finished.groupby(list(by), dropna=False)[metric].agg(["mean", "std", "count"])
    return table.rename(columns={"count": "n"}).reset_index()


def paired_differences(runs, arm: str = "recipe", baseline="default", pair_on: Sequence[str] = ("seed",),
                       by: Sequence[str] = ("mask", "sparsity"), metric: str = METRIC):
    """`metric` of every `arm` value minus `baseline`'s, paired on `pair_on` (same seed: same
    init and mask) within each group of `by`: mean, std, n and the 95% interval's half-width
    (`verdict.paired_verdict`'s interval, the kit's one rule; NaN where it gives none)."""
    from .verdict import paired_verdict

    by = [c for c in _columns(runs, by, metric) if c != arm]
    keys = by + list(_columns(runs, pair_on, metric))
    finished = runs[runs["status"] == "finished"] if "status" in runs else runs
    base = finished[finished[arm] == baseline].set_index(keys)[metric]
    rows = []
    for value, group in finished[finished[arm] != baseline].groupby(arm):
        joined = group.set_index(keys)[metric].to_frame("arm").join(base.rename("base"), how="inner")
        joined["difference"] = joined["arm"] - joined["base"]
        for cell, cell_rows in (joined.groupby(level=by) if by else [((), joined)]):
            n, differences = len(cell_rows), cell_rows["difference"]
            found = paired_verdict(differences.tolist(), f"{value} - {baseline}")
            cell = cell if isinstance(cell, tuple) else (cell,)
            rows.append({**dict(zip(by, cell)), arm: value, "mean": found.mean,
                         "std": float(differences.std()) if n > 1 else math.nan, "n": n,
                         "ci95": found.high - found.mean if found.high is not None else math.nan})
    import pandas as pd

    return pd.DataFrame(rows, columns=by + [arm, "mean", "std", "n", "ci95"])


def _columns(runs, names: Sequence[str], metric: str):
    names = [names] if isinstance(names, str) else list(names)
    missing = [name for name in names + [metric] if name not in runs.columns]
    if missing:
        raise SparsekitError(f"no column {missing[0]!r} in the runs table; columns are: {', '.join(runs.columns)}")
    return names
