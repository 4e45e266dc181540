"""Keep pruned weights exactly zero through any optimizer.

Three guards, each cheap: gradients are masked before the step (so momentum, Adam moments
and weight decay see nothing at pruned positions), the optimizer's per-weight state is zeroed
at pruned positions whenever the mask is installed or changed, and the weights are re-masked
after every step (so even an optimizer that moves zeros, or a change made by a callback,
cannot leave a pruned weight non-zero).

When a dynamic method changes the mask mid-run (`replace`), every position that changed
(dropped or grown) starts afresh: weight exactly zero and optimizer state (momentum, Adam's
moments) zeroed, so a grown weight carries nothing of a past life and a dropped one leaves
nothing behind. The enforcer is changed in place: the step that holds it sees the new mask.
"""
from typing import List, Optional, Tuple

import torch
from torch import nn

from ..core.mask import Mask


class MaskEnforcer:
    def __init__(self, model: nn.Module, mask: Mask):
        self.model = model
        self.pairs: List[Tuple[torch.nn.Parameter, torch.Tensor]] = self._pairs(mask)

    def _pairs(self, mask: Mask) -> List[Tuple[torch.nn.Parameter, torch.Tensor]]:
        mask.check_matches(self.model)
        params = dict(self.model.named_parameters())
        # Float copies on the parameter's device, made once per mask: the hot path only multiplies.
        return [(params[name], keep.to(params[name].device, params[name].dtype)) for name, keep in mask.items()]

    @torch.no_grad()
    def replace(self, mask: Mask, optimizer: Optional[torch.optim.Optimizer]) -> None:
        """Switch to `mask` mid-run: changed positions restart at zero (weights and optimizer state)."""
        before = {id(param): keep for param, keep in self.pairs}
        self.pairs = self._pairs(mask)
        for param, keep in self.pairs:
            previous = before.get(id(param))
            fresh = keep if previous is None else keep * (previous == keep)  # kept and unchanged: 1
            param.mul_(fresh)
            if optimizer is not None:
                _scale_state(optimizer, param, fresh)

    def mask_gradients(self) -> None:
        for param, keep in self.pairs:
            if param.grad is not None:
                param.grad.mul_(keep)

    @torch.no_grad()
    def mask_weights(self) -> None:
        for param, keep in self.pairs:
            param.mul_(keep)

    @torch.no_grad()
    def mask_optimizer_state(self, optimizer: torch.optim.Optimizer) -> None:
        for param, keep in self.pairs:
            _scale_state(optimizer, param, keep)


def _scale_state(optimizer: torch.optim.Optimizer, param: torch.nn.Parameter, factor: torch.Tensor) -> None:
    """Multiply the optimizer's per-weight tensors of `param` (not its scalars such as Adam's step)."""
    for value in optimizer.state.get(param, {}).values():
        if torch.is_tensor(value) and value.shape == param.shape:
            value.mul_(factor)
