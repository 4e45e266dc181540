"""Per-epoch checkpoints that let an interrupted run finish with the same final weights.

Besides weights and optimizer state, a checkpoint holds the random-number generators' states
(data augmentation draws from them) and the callbacks' states, so resuming replays exactly
what an uninterrupted run would have done.
"""
import random
from pathlib import Path
from typing import Any, Dict

import numpy as np
import torch

from ..core import atomic, formats
from ..core.errors import SparsekitError

FORMAT = formats.CHECKPOINT
FILENAME = "checkpoint.pt"


def capture_rng() -> Dict[str, Any]:
    """The generators' states as tensors and plain numbers, so the checkpoint loads with
    torch.load(weights_only=True) (numpy's state is a tuple holding an array; Python's a tuple
    of 625 ints)."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
             "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64),
                        "gauss_next": gauss_next}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    saved = state["numpy"]
    if isinstance(saved, tuple):  # a checkpoint from before c28bf72: numpy's own tuple
        np.random.set_state(saved)
    else:
        np.random.set_state((saved["kind"], saved["keys"].numpy().astype(np.uint32), saved["position"],
                             saved["has_gauss"], saved["cached_gaussian"]))
    python = state["python"]
    if isinstance(python, tuple):  # likewise: Python's own state tuple
        random.setstate(python)
    else:
        random.setstate((python["version"], tuple(int(v) for v in python["internal"].tolist()),
                         python["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(run_dir, payload: Dict[str, Any]) -> Path:
    return atomic.torch_save({"format": FORMAT, **payload, "rng": capture_rng()}, Path(run_dir) / FILENAME)


def load(run_dir) -> Dict[str, Any]:
    path = Path(run_dir) / FILENAME
    if not path.is_file():
        raise SparsekitError(f"nothing to resume: no {FILENAME} in {run_dir}")
    data = atomic.torch_load(path, lambda reason: f"{path}: corrupted checkpoint, cannot resume ({reason})")
    formats.check(data, "checkpoint", path)
    return data
