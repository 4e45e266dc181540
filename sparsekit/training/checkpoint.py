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

from .. import atomic
from ..errors import SparsekitError

FORMAT = "sparsekit.checkpoint/1"
FILENAME = "checkpoint.pt"


def capture_rng() -> Dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(run_dir, payload: Dict[str, Any]) -> Path:
    return atomic.torch_save({"format": FORMAT, **payload, "rng": capture_rng()}, Path(run_dir) / FILENAME)


def load(run_dir) -> Dict[str, Any]:
    path = Path(run_dir) / FILENAME
    if not path.is_file():
        raise SparsekitError(f"nothing to resume: no {FILENAME} in {run_dir}")
    # Our own file: it holds numpy RNG state and Python objects, so full unpickling is needed.
    data = atomic.torch_load(path, lambda reason: f"{path}: corrupted checkpoint, cannot resume ({reason})",
                             weights_only=False)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SparsekitError(f"{path}: not a sparsekit checkpoint (expected format {FORMAT})")
    return data
