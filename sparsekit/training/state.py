"""`TrainState`: one run being trained, shared by the loop and every callback.

`sparsekit.runs` builds it (settings, model, mask, data, sparsifier, recipe); set-up adds the
optimizer and the precision; the loop moves `epoch`, `step` and `lr`; the standard callbacks
fill `epochs`. `state_dict()` / `load_state_dict()` are the one description of a checkpoint:
no other module names a checkpoint's keys, and a checkpoint written by any earlier version
still resumes (keys it lacks take what that version did). `checkpoint_to_resume` reads one
back, once the settings asking to resume are known to describe the same run.
"""
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import torch
from torch import nn

from ..core.callbacks import CallbackList
from ..core.errors import SparsekitError
from ..core.mask import Mask
from . import checkpoint
from .config import TrainConfig, names_with
from .masking import MaskEnforcer

# Settings that may differ between an interrupted run and its resumption (declared by role).
RESUMABLE_CHANGES = frozenset(names_with("resumable"))


@dataclass
class TrainState:
    config: TrainConfig
    model: nn.Module
    data: Any  # a sparsekit.data.DataBundle (or anything with train/val/test batch iterables)
    device: torch.device
    # None until set-up asks the sparsifier for its first mask (or takes a resumed run's).
    mask: Optional[Mask] = None
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = field(default_factory=nn.CrossEntropyLoss)
    mask_source: Dict[str, Any] = field(default_factory=dict)  # where the mask came from, for the record
    recipe: Optional[Dict[str, Any]] = None  # the recipe's settings, for the record and the resume check
    recipe_preset: Optional[str] = None
    # perf_counter() when the run was asked for, less what an interrupted run had spent: the
    # record's seconds cover the set-up (mask, recipe) too.
    began: float = field(default_factory=time.perf_counter)
    # The run's own callbacks (recipe, probe, the caller's), whose states travel in checkpoints;
    # the standard ones keep what they need in this state.
    callbacks: CallbackList = field(default_factory=lambda: CallbackList([]))
    optimizer: Optional[torch.optim.Optimizer] = None
    enforcer: Optional[MaskEnforcer] = None
    epoch: int = 0  # finished epochs
    step: int = 0  # finished optimizer steps
    steps_per_epoch: int = 0
    total_steps: int = 0
    lr: float = 0.0
    epochs: List[Dict[str, Any]] = field(default_factory=list)  # one row per finished epoch
    epoch_record: Dict[str, Any] = field(default_factory=dict)  # the row of the epoch ending now
    # The last step's outputs, for the callbacks that watch or sum them (on the device: reading
    # them every step would make the host wait for a GPU).
    loss: Optional[torch.Tensor] = None
    logits: Optional[torch.Tensor] = None
    targets: Optional[torch.Tensor] = None
    # What the network carried when training began (`record.parameter_counts`), kept across a
    # resume: a dynamic mask or an early ghost removal changes it later.
    parameters_at_start: Optional[Dict[str, int]] = None
    # Whether the starting mask leaves a path of kept weights from input to output
    # (`analysis.paths`; None where the input's shape or a module cannot be read).
    path_from_input_at_start: Optional[bool] = None
    effective_density_at_start: Optional[float] = None  # the kept weights on such a path, as a density
    precision: Any = None  # a `Precision` when --amp is on
    forward: Optional[nn.Module] = None  # the compiled model (--compile), sharing the model's weights
    diverged: Any = None  # the `Diverged` error once the loss became non-finite

    # The run's sparsifier (anything with update/state_dict/load_state_dict/describe) and
    # one entry per mask change (`analysis.mask_change`).
    sparsifier: Any = None
    mask_history: List[Dict[str, Any]] = field(default_factory=list)

    def seconds(self) -> float:
        return time.perf_counter() - self.began

    def set_mask(self, mask: Mask) -> None:
        """Install a mask, at the start or mid-run (dynamic sparsity): pruned weights and their
        optimizer state are zeroed; mid-run, so are those of every position that changed (a
        grown weight starts at zero with no momentum), and the enforcer the step holds follows."""
        self.mask = mask
        if self.enforcer is None:
            self.enforcer = MaskEnforcer(self.model, mask)
            self.enforcer.mask_weights()
            if self.optimizer is not None:
                self.enforcer.mask_optimizer_state(self.optimizer)
        else:
            self.enforcer.replace(mask, self.optimizer)

    def forget_parameters(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Remove parameters (e.g. ghost branches being deleted) from the optimizer."""
        doomed = {id(p) for p in params}
        if self.optimizer is None:
            return
        for group in self.optimizer.param_groups:
            group["params"] = [p for p in group["params"] if id(p) not in doomed]
        for param in [p for p in self.optimizer.state if id(p) in doomed]:
            del self.optimizer.state[param]

    def state_dict(self) -> Dict[str, Any]:
        """Everything an interrupted run needs to end exactly as an uninterrupted one
        (`checkpoint.save` adds the random generators)."""
        return {"epoch": self.epoch, "step": self.step, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "callbacks": self.callbacks.state_dict(),
                "epochs": self.epochs, "seconds": self.seconds(), "config": self.config.to_dict(),
                "recipe": self.recipe,
                "precision": self.precision.state_dict() if self.precision is not None else None,
                # The mask may have moved: a resumed run continues from this one, never recomputes it.
                "mask": dict(self.mask), "mask_source": self.mask_source, "mask_history": self.mask_history,
                "parameters_at_start": self.parameters_at_start,
                "sparsifier": self.sparsifier.state_dict() if self.sparsifier is not None else None}

    def load_state_dict(self, saved: Dict[str, Any]) -> None:
        """Continue from a checkpoint, on a state set up as the interrupted run was (optimizer
        built). The callbacks' `on_resume` runs once the position is known and before the
        weights load, so a trick can first rebuild the architecture they were saved from."""
        self.epoch, self.step = saved["epoch"], saved["step"]
        self.callbacks.call("on_resume", self)
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.callbacks.load_state_dict(saved["callbacks"])
        self.epochs = saved["epochs"]
        self.began -= saved["seconds"]
        if self.precision is not None:
            self.precision.load_state_dict(saved.get("precision"))
        if self.sparsifier is not None and saved.get("sparsifier") is not None:
            self.sparsifier.load_state_dict(saved["sparsifier"])
        self.mask_history = list(saved.get("mask_history", []))
        # What the network carried when training began, not where a dynamic mask has moved since.
        self.parameters_at_start = saved.get("parameters_at_start", self.parameters_at_start)
        checkpoint.restore_rng(saved["rng"])

    @staticmethod
    def saved_mask(saved: Dict[str, Any]) -> Optional[Tuple[Mask, Dict[str, Any]]]:
        """(mask, its source) a checkpoint holds; None for checkpoints written before dynamic
        masks, whose run recomputes its one-shot mask."""
        return (Mask(saved["mask"]), saved["mask_source"]) if "mask" in saved else None


def checkpoint_to_resume(config: TrainConfig) -> Dict[str, Any]:
    """The checkpoint in `config.out`, once the settings are known to be the interrupted run's
    (`cannot resume: ...`, one line, before any work)."""
    resumed = checkpoint.load(config.out)
    run_dir = Path(config.out)
    # A setting added after the interrupted run was written had its default value there. Runs
    # from before recipes were always stored hold none: the default recipe, the same run.
    saved_config, saved_recipe = resumed["config"], resumed.get("recipe")
    before = TrainConfig.from_record(saved_config).to_dict()
    for name, value in config.to_dict().items():
        if name not in RESUMABLE_CHANGES and before.get(name) != value:
            raise SparsekitError(f"cannot resume: setting {name!r} was {before.get(name)!r} in the interrupted "
                                 f"run, now {value!r}")
    # A recipe written before a setting existed is read as what it ran (`Recipe.read`).
    if type(config.recipe).read(saved_recipe) != config.recipe:
        raise SparsekitError("cannot resume: the recipe differs from the interrupted run's")
    diverged = _previous_record(run_dir).get("diverged")
    if diverged:
        raise SparsekitError(f"cannot resume: the run in {run_dir} diverged at step {diverged['step']} and would "
                             f"diverge again; start it anew with other settings (overwrite=True, --overwrite)")
    return resumed


def _previous_record(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "record.json").read_text())
    except (OSError, ValueError):
        return {}
