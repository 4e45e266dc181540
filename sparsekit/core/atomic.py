"""Write files so that a crash never leaves a half-written one behind, and read them back
with a one-line error when they are damaged.

Each writer writes to a temporary file in the same directory and renames it over the target:
a rename within one filesystem is atomic, so readers see the old file or the new one.
"""
import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any, Callable

import torch

from .errors import SparsekitError


TEMPORARY_SUFFIX = ".tmp"


def _atomic_write(path, write: Callable[[Any], None], mode: str) -> Path:
    """Write through a temporary file renamed over `path`. An OSError (a full disk, a lost
    permission) becomes one `SparsekitError` line, and the temporary file is removed."""
    path = Path(path)
    temporary = path.parent / f".{path.name}.{secrets.token_hex(6)}{TEMPORARY_SUFFIX}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # os.open with 0o666 applies the umask, as open() would (mkstemp would force 0600,
        # making every result unreadable to colleagues sharing the folder).
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(handle, mode) as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise SparsekitError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    return path


def remove_stale_temporaries(directory) -> None:
    """Remove what a killed write left behind (`.NAME.XXXX.tmp`); call only while holding the
    directory's lock, so no live writer's temporary file is touched."""
    directory = Path(directory)
    if directory.is_dir():
        for entry in directory.iterdir():
            if is_temporary(entry.name) and entry.is_file():
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()


def is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMPORARY_SUFFIX)


def write_json(data: Any, path) -> Path:
    return _atomic_write(path, lambda s: s.write(json.dumps(data, indent=2) + "\n"), "w")


def write_text(text: str, path) -> Path:
    return _atomic_write(path, lambda s: s.write(text), "w")


def write_bytes(data: bytes, path) -> Path:
    return _atomic_write(path, lambda s: s.write(data), "wb")


def torch_save(obj: Any, path) -> Path:
    return _atomic_write(path, lambda s: torch.save(obj, s), "wb")


def _numpy_array_constructors():
    """What rebuilds a numpy array, and nothing else: checkpoints written before 2026-11-22
    (c28bf72) hold numpy's generator state as an array, and still load weights-only."""
    import numpy as np

    numpy_core = getattr(np, "_core", None) or np.core  # numpy 2 / numpy 1
    return [numpy_core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def torch_load(path, damaged: Callable[[str], str]) -> Any:
    """torch.load onto the CPU, always with weights_only=True: loading a file someone shared
    can never run code. A file torch cannot read becomes one `SparsekitError` line,
    `damaged(reason)`, where reason is the first line of torch's own complaint."""
    try:
        with torch.serialization.safe_globals(_numpy_array_constructors()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise SparsekitError(damaged(reason)) from None
