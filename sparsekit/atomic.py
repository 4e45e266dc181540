"""Write files so that a crash never leaves a half-written one behind, and read them back
with a one-line error when they are damaged.

Each writer writes to a temporary file in the same directory and renames it over the target:
a rename within one filesystem is atomic, so readers see the old file or the new one.
"""
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

from .errors import SparsekitError


def _atomic_write(path, write: Callable[[Any], None], mode: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, mode) as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path


def write_json(data: Any, path) -> Path:
    return _atomic_write(path, lambda s: s.write(json.dumps(data, indent=2) + "\n"), "w")


def torch_save(obj: Any, path) -> Path:
    return _atomic_write(path, lambda s: torch.save(obj, s), "wb")


def torch_load(path, damaged: Callable[[str], str], weights_only: bool = True) -> Any:
    """torch.load onto the CPU; a file torch cannot read becomes one `SparsekitError` line,
    `damaged(reason)`, where reason is the first line of torch's own complaint."""
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as exc:  # torch raises many types for a damaged file
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise SparsekitError(damaged(reason)) from None
