"""Keep pruned weights exactly zero through any optimizer.

Three guards, each cheap: gradients are masked before the step (so momentum, Adam moments
and weight decay see nothing at pruned positions), the optimizer's per-weight state is zeroed
at pruned positions whenever the mask is installed or changed, and the weights are re-masked
after every step (so even an optimizer that moves zeros, or a change made by a callback,
cannot leave a pruned weight non-zero).
"""
from typing import List, Tuple

import torch
from torch import nn

from ..core.mask import Mask


class MaskEnforcer:
    def __init__(self, model: nn.Module, mask: Mask):
        mask.check_matches(model)
        params = dict(model.named_parameters())
        # Float copies on the parameter's device, made once: the hot path only multiplies.
        self.pairs: List[Tuple[torch.nn.Parameter, torch.Tensor]] = [
            (params[name], keep.to(params[name].device, params[name].dtype)) for name, keep in mask.items()
        ]

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
            for value in optimizer.state.get(param, {}).values():
                if torch.is_tensor(value) and value.shape == param.shape:
                    value.mul_(keep)
