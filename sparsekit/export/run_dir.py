"""The trained network of a finished run directory, rebuilt as the trainer left it.

A run directory holds `record.json` (config and recipe), `model.pt` (the final state dict,
pruned weights exactly zero) and `mask.pt`. The architecture is the registry's model plus what
the recipe's tricks declare survives training (`Recipe.final_architecture`: ghosts kept all
run, as in the release; ghosts annealed away leave the plain model).
"""
import json
import os
from pathlib import Path
from typing import Tuple

from torch import nn

from ..core import atomic, formats
from .. import data, models
from ..core.errors import SparsekitError
from ..core.mask import Mask
from ..recipe import Recipe


def read_record(run_dir: Path) -> dict:
    if not run_dir.is_dir():
        raise SparsekitError(f"run directory not found: {run_dir}")
    path = run_dir / "record.json"
    if not path.is_file():
        raise SparsekitError(f"{run_dir} is not a run directory (no record.json)")
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SparsekitError(f"{path}: cannot read the run record ({exc})") from None
    formats.check(record, "run record", path)
    if not isinstance(record.get("config"), dict):
        raise SparsekitError(f"{path}: a run record without its settings (no 'config' table)")
    if not record.get("finished") or not (run_dir / "model.pt").is_file():
        raise SparsekitError(f"the run in {run_dir} is unfinished (no final model.pt); finish it with "
                             f"`sparsekit train --resume --out {run_dir}` first")
    return record


def load_run(run_dir) -> Tuple[nn.Module, Mask, Tuple[int, int, int]]:
    """(trained model in eval mode, its mask, the input shape (C, H, W)) of a finished run."""
    run_dir = Path(run_dir)
    record = read_record(run_dir)
    network = network_arguments(record)
    model = models.build(network["model"], network["num_classes"], in_channels=network["in_channels"],
                         width=network["width"], input_size=network["input_size"])
    Recipe.from_dict(record.get("recipe") or {}).final_architecture(model)
    state = atomic.torch_load(run_dir / "model.pt", lambda reason: f"{run_dir}/model.pt: cannot read ({reason})")
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as exc:
        first = (str(exc).splitlines() or [""])[0]
        raise SparsekitError(f"{run_dir}/model.pt does not fit the recorded model and recipe ({first})") from None
    mask = Mask.load(run_dir / "mask.pt")
    mask.check_matches(model)
    return model.eval(), mask, (network["in_channels"], network["input_size"], network["input_size"])


def network_arguments(record: dict) -> dict:
    """The network's construction arguments: from the record, or, for a record without them,
    from the dataset's description (which needs its files)."""
    network = record.get("network") or {}
    if all(network.get(key) is not None for key in ("model", "num_classes", "in_channels", "input_size")):
        return dict(network, width=network.get("width") or 1.0)
    config = record["config"]
    bundle = data.load(config["dataset"], root=config.get("data_root", "data"), batch_size=1)
    return {"model": config["model"], "num_classes": bundle.num_classes, "in_channels": bundle.in_channels,
            "input_size": bundle.image_size, "width": config.get("width", 1.0)}


def check_targets(run_dir, out, onnx=None, overwrite: bool = False) -> None:
    """The files an export writes, checked before anything is loaded or written: each a file
    path that can be written (not a folder, not under a file), not one of the run's own files,
    not the same file twice, and not an existing file unless `overwrite`."""
    from ..training.run_dir import RUN_FILES, check_file_location

    targets = [("--out", out)] + ([("--onnx", onnx)] if onnx is not None else [])
    own_files = {(Path(run_dir) / name).resolve() for name in RUN_FILES}
    for flag, target in targets:
        if not isinstance(target, (str, os.PathLike)) or not str(target):
            raise SparsekitError(f"{flag} must be a file path, got {target!r}")
        check_file_location(target, flag)
        if Path(target).resolve() in own_files:
            raise SparsekitError(f"{flag} {target} is a file of the run being exported; write the export elsewhere")
        if Path(target).exists() and not overwrite:
            raise SparsekitError(f"{target} already exists; pass --overwrite to replace it, or choose another file")
    if onnx is not None and Path(onnx).resolve() == Path(out).resolve():
        raise SparsekitError(f"--onnx and --out name the same file ({out}); the ONNX file would replace the export")
