"""A run again, from its record alone: `sparsekit rerun RECORD --out DIR`.

The record holds every setting ("config", read by `TrainConfig.from_record`, which knows the
renamed ones), the recipe ("recipe", read by `Recipe.from_dict`, which knows earlier fields),
where its mask came from ("mask_source") and the torch thread count it ran with. The rerun
trains the same mask from the same seed with the same threads, so on the same machine and code
it gives the same numbers bit for bit; it reports the recorded metrics beside the new ones.
"""
import json
from pathlib import Path
from typing import Dict, Optional, Tuple

from ..core import formats, threads as threads_policy
from ..core.checks import whole_number
from ..core.errors import SparsekitError
from ..core.version import code_version
from ..recipe.settings import Recipe
from ..sparsity.settings import DefaultSparsity
from ..training.config import TrainConfig
from .launch import train

COMPARED = ("best_val_test_acc", "test_acc", "best_val_acc", "bn_reestimated_test_acc")


def read_record(path) -> dict:
    """A run record from its record.json (or the run folder holding one), checked."""
    path = Path(path)
    if path.is_dir():
        path = path / "record.json"
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise SparsekitError(f"no run record at {path}") from None
    except (OSError, ValueError) as exc:
        raise SparsekitError(f"{path}: not a readable run record ({exc})") from None
    formats.check(record, "run record", path)  # names the format found, e.g. a newer version's
    # Each section a rerun reads has the shape it was written with; a hand-edited or foreign file
    # fails here in one line, not in the middle of rebuilding the run.
    for section, required in (("config", True), ("recipe", False), ("mask_source", False), ("environment", False)):
        value = record.get(section)
        if (value is not None or required) and not isinstance(value, dict):
            raise SparsekitError(f"{path}: the record's {section!r} must be a table of settings, got "
                                 f"{type(value).__name__}; the file is damaged or not a sparsekit run record")
    return record


def recorded_mask_file(record: dict, record_path: Path) -> Optional[str]:
    """The file the run took its mask from, found again: the recorded path, else the same run
    folder and file name beside the record's own folder (a study moved or cloned elsewhere),
    else mask.pt beside the record. None when the run computed its mask from its settings."""
    source = record.get("mask_source") or {}
    folder = record_path.parent
    if source.get("method") == "given":  # a Mask object passed in: only its saved copy can stand in
        candidates = [folder / "mask.pt"]
    elif source.get("method") == "file" or record["config"].get("mask_file"):
        recorded = Path(source.get("path") or record["config"]["mask_file"])
        candidates = [recorded, folder.parent / recorded.parent.name / recorded.name, folder / "mask.pt"]
        if not recorded.is_absolute():
            candidates.insert(1, folder / recorded)
    else:
        return None
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    how = "was given as an object" if source.get("method") == "given" else "came from a file"
    raise SparsekitError(f"{record_path}: the run's mask {how}, and none of {', '.join(map(str, candidates))} "
                         f"exists; cannot rerun it")


def rerun_settings(record: dict, record_path: Path, out, **changes) -> Tuple[TrainConfig, Recipe]:
    """The exact config and recipe of a recorded run, writing to `out` (plus `changes` that do
    not change what is computed, such as `data_root` or `progress`)."""
    config = TrainConfig.from_record(record["config"])
    mask_file = recorded_mask_file(record, record_path)
    if mask_file is not None:
        # The mask decides the sparsity; the recorded setting may be the default it ignored.
        changes.update(mask_file=mask_file, sparsity=DefaultSparsity(config.sparsity))
    config = config.with_changes(out=str(out) if out else None, resume=False, **changes)
    return config, Recipe.from_dict(record.get("recipe") or {})


def rerun(record_path, out, overwrite: bool = False, **changes) -> Tuple[dict, dict]:
    """(recorded record, new record) of the run recorded at `record_path`, trained again with
    the recorded torch thread count (the thread count in effect before is restored after)."""
    record_path = Path(record_path)
    record_path = record_path / "record.json" if record_path.is_dir() else record_path
    record = read_record(record_path)
    if out is not None and Path(out).resolve() == record_path.parent.resolve():
        # with overwrite it would delete the run it reproduces (and a mask file kept there) before reading it
        raise SparsekitError(f"--out {out} is the recorded run's own folder; a rerun writes a new run beside it: "
                             f"choose another folder")
    if not record.get("finished"):
        raise SparsekitError(f"{record_path}: the run did not finish; there is no result to reproduce "
                             f"(resume it with --resume in its own folder)")
    config, recipe = rerun_settings(record, record_path, out, overwrite=overwrite, **changes)
    threads = (record.get("environment") or {}).get("torch_threads")
    if threads is not None:
        whole_number(f"{record_path}: the recorded torch_threads", threads, 1)
    if not threads:
        return record, dict(train(config, recipe=recipe))
    with threads_policy.held(int(threads), "the recorded run's thread count (a rerun)"):
        return record, dict(train(config, recipe=recipe))


def comparison(record: dict, again: dict) -> Dict[str, Tuple[Optional[float], Optional[float]]]:
    """{metric: (recorded, rerun)} for the metrics either has."""
    return {name: (record.get(name), again.get(name)) for name in COMPARED
            if record.get(name) is not None or again.get(name) is not None}


def describe(record: dict, again: dict) -> str:
    """Recorded and new metrics side by side, and what differs in the environment."""
    lines = [f"{'metric':<26}{'recorded':>12}{'rerun':>12}"]
    same = True
    for name, (old, new) in comparison(record, again).items():
        equal = old == new
        same &= equal
        shown = lambda v: "-" if v is None else f"{v:.6f}"  # noqa: E731
        lines.append(f"{name:<26}{shown(old):>12}{shown(new):>12}  {'same' if equal else 'DIFFERENT'}")
    then, now = record.get("environment") or {}, again.get("environment") or {}
    notes = [f"{key}: recorded {then.get(key)}, now {now.get(key)}" for key in ("torch", "torch_threads", "device", "cpu_capability", "cpu")
             if then.get(key) != now.get(key)]
    old_code, new_code = (then.get("code") or {}).get("commit"), code_version().get("commit")
    if old_code != new_code:
        notes.append(f"code: recorded commit {old_code or 'unknown'}, now {new_code or 'unknown'}")
    lines.append("identical to the record" if same else
                 "differs from the record" + (f" ({'; '.join(notes)})" if notes else
                                              " on the same torch, threads, device and code: a different machine?"))
    return "\n".join(lines)
