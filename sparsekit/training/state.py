"""`TrainState`: what the trainer and its callbacks share during a run."""
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional

import torch
from torch import nn

from ..core.mask import Mask
from .config import TrainConfig
from .masking import MaskEnforcer


@dataclass
class TrainState:
    config: TrainConfig
    model: nn.Module
    mask: Mask
    data: Any  # a sparsekit.data.DataBundle (or anything with train/val/test batch iterables)
    device: torch.device
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    optimizer: Optional[torch.optim.Optimizer] = None
    enforcer: Optional[MaskEnforcer] = None
    epoch: int = 0  # finished epochs
    step: int = 0  # finished optimizer steps
    steps_per_epoch: int = 0
    total_steps: int = 0
    lr: float = 0.0
    epoch_record: Dict[str, Any] = field(default_factory=dict)
    # Run-level facts a callback wants in the record (e.g. how init scales moved).
    extras: Dict[str, Any] = field(default_factory=dict)
    precision: Any = None  # a `Precision` when --amp is on
    forward: Optional[nn.Module] = None  # the compiled model (--compile), sharing the model's weights

    # The run's sparsifier (anything with update/state_dict/load_state_dict/describe) and
    # one entry per mask change (`analysis.mask_change`).
    sparsifier: Any = None
    mask_history: List[Dict[str, Any]] = field(default_factory=list)

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
