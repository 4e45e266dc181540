"""Whether a mask leaves any path of kept weights from a network's input to its output.

A mask can keep weights in every layer and still cut the network: a channel whose incoming
weights all survive may have lost every outgoing one, and at extreme sparsity the channels that
receive the input and those that feed the output stop meeting. The output then cannot depend on
the input, and training stays at chance with nothing else to say so. An emptied layer
(`collapsed_layers`) is one way to cut a plain network; in a residual network it often is not,
since a shortcut runs beside every layer but the first.

The test reads the network's structure only, not its weights' values: every kept weight becomes
1, every pruned one 0, a dense weight all ones, every bias 0, BatchNorm the identity, and the
input positive. Each output is then a sum of positive products, one per path of kept weights,
so it is zero exactly when no path is left; no sign can cancel one path against another, and no
ReLU is shut by a sign. (Asking whether two random inputs give the same output on the network
as initialised is not the same test: random weights can shut a ReLU for every input although a
path is there, which training's batch-normalised BatchNorm does not.)

That argument holds for layers that keep a positive input positive and zero at zero: those in
`READABLE`. A network holding any other module (LayerNorm subtracts a mean, a sigmoid maps 0 to
one half, attention) is not judged: the answer is None. Arithmetic in a module's own `forward`
is not seen; the kit's networks and torchvision's CNNs only add there.
"""
import copy
import warnings
from typing import List, Mapping, Optional, Sequence

import torch
from torch import nn

from ..core.errors import SparsekitError

# Modules that map a positive input to a non-negative output and zero to zero once weights are
# non-negative and biases zero: conv/linear layers, BatchNorm as the identity, the rectifiers
# and their smooth stand-ins (ghost neurons), pooling, the shape-only modules, and the containers
# (an empty ModuleList, such as a kit unit's list of ghost branches, is a leaf that computes nothing).
READABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.modules.batchnorm._BatchNorm,
            nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish,
            nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
            nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
            nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
            nn.Flatten, nn.Identity, nn.Dropout, nn.Dropout2d, nn.Dropout3d,
            nn.Sequential, nn.ModuleList, nn.ModuleDict)
READABLE_NAMES = ("GhostActivation",)  # the recipe's smooth ReLUs: swish(0) = 0, swish(x > 0) > 0


def unreadable_modules(model: nn.Module) -> List[str]:
    """The names of the modules the test cannot read: leaves outside `READABLE`, and any module
    outside it that holds parameters of its own."""
    found = []
    for name, module in model.named_modules():
        readable = isinstance(module, READABLE) or type(module).__name__ in READABLE_NAMES
        is_leaf = next(module.children(), None) is None
        owns_parameters = next(module.parameters(recurse=False), None) is not None
        if not readable and (is_leaf or owns_parameters):
            found.append(name or type(module).__name__)
    return found


def _structural_copy(model: nn.Module, mask: Mapping[str, torch.Tensor]) -> nn.Module:
    """A float64 CPU copy of `model` whose weights are the mask (ones where dense), biases zero
    and BatchNorm the identity; the original (on whatever device) is not copied first."""
    parameters = dict(model.named_parameters())
    memo = {}
    for name, parameter in parameters.items():
        if parameter.dim() > 1:
            value = mask[name].to("cpu", torch.float64) if name in mask else torch.ones(parameter.shape)
        else:  # a bias is zero; a BatchNorm scale (or a masked vector) keeps its kept entries at 1
            value = torch.zeros(parameter.shape) if name.endswith("bias") else (
                mask[name].to("cpu", torch.float64) if name in mask else torch.ones(parameter.shape))
        memo[id(parameter)] = nn.Parameter(value.to(torch.float64), requires_grad=False)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
            memo[id(module.running_mean)] = torch.zeros(module.running_mean.shape, dtype=torch.float64)
            memo[id(module.running_var)] = torch.full(module.running_var.shape, 1.0 - module.eps,
                                                      dtype=torch.float64)  # divides by exactly 1
    for buffer in model.buffers():
        if id(buffer) not in memo:
            memo[id(buffer)] = buffer.detach().to("cpu")
    return copy.deepcopy(model, memo).eval()


def path_from_input(model: nn.Module, mask: Mapping[str, torch.Tensor],
                    input_shape: Sequence[int]) -> Optional[bool]:
    """True when a path of kept weights joins the input (one example of `input_shape`, e.g.
    (channels, height, width)) to the output; False when the mask cuts the network; None when the
    network holds a module the test cannot read (`unreadable_modules`), or its forward cannot run
    on the float64 copy."""
    missing = sorted(set(mask) - {name for name, _ in model.named_parameters()})
    if missing:
        raise SparsekitError(f"the mask names layers the network does not have: {', '.join(missing[:3])}")
    if unreadable_modules(model):
        return None
    try:
        work = _structural_copy(model, mask)
        with torch.no_grad():
            output = work(torch.ones((1, *input_shape), dtype=torch.float64))
    except Exception:  # noqa: BLE001 - a network that cannot be copied, or whose forward cannot run in
        return None    # float64 on the CPU (a float32 constant of its own): a diagnostic never stops a run
    return bool((output != 0).any()) if isinstance(output, torch.Tensor) else None


def warn_cut_network(advice: str = "") -> None:
    """The warning a run gives when `path_from_input` found no path (`advice`: what to try)."""
    warnings.warn("the mask cuts the network: no path of kept weights joins its input to its output, so the "
                  "output cannot depend on the input and plain training stays at chance (a recipe's ghost skip "
                  f"connections bridge convolutions after the first only). {advice}".rstrip(), RuntimeWarning, stacklevel=3)
