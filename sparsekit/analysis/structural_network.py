"""A network's structure as a network: a float64 CPU copy in which every kept weight is 1, every
pruned one 0, a dense weight all ones, every bias 0 and BatchNorm the identity, so that on a
positive input each unit is positive exactly when some path of kept weights reaches it from the
input (`analysis.paths` reads paths off it).

Three rewrites keep that exact whatever the network's depth and activations, without changing
which units are reached:
- each activation is a plain ReLU: on the non-negative values the copy carries, every activation
  in `READABLE` is positive exactly where its input is and 0 at 0, and a ReLU's gradient is 1
  there (ReLU6 would saturate at 6 and stop the gradient);
- each max pool is the average pool of the same window: positive exactly where the max is, and
  its gradient reaches every input of the window (a max's reaches one);
- every module's output is read as 0/1 (positive or not), and so is every gradient flowing back
  into it: path counts grow like fan-in to the depth (a dense ResNet-104's overflow float64), the
  0/1 reading keeps only the pattern, which is all the question needs. The forward value is
  the 0/1 pattern; the gradient passes straight through to the module's own output.
"""
import copy
from typing import List, Mapping, Optional

import torch
from torch import nn

# Modules that map a positive input to a non-negative output and zero to zero once weights are
# non-negative and biases zero: conv/linear layers, BatchNorm as the identity, the rectifiers
# and their smooth stand-ins (ghost neurons), pooling, the shape-only modules, and the containers
# (an empty ModuleList, such as a kit unit's list of ghost branches, is a leaf that computes nothing).
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish)
ACTIVATION_NAMES = ("GhostActivation",)  # the recipe's smooth ReLUs: swish(0) = 0, swish(x > 0) > 0
MAX_TO_AVERAGE = {nn.MaxPool1d: nn.AvgPool1d, nn.MaxPool2d: nn.AvgPool2d, nn.MaxPool3d: nn.AvgPool3d,
                  nn.AdaptiveMaxPool1d: nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool2d: nn.AdaptiveAvgPool2d,
                  nn.AdaptiveMaxPool3d: nn.AdaptiveAvgPool3d}
READABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.modules.batchnorm._BatchNorm, *ACTIVATIONS,
            *MAX_TO_AVERAGE, *MAX_TO_AVERAGE.values(), nn.Flatten, nn.Identity, nn.Dropout, nn.Dropout2d,
            nn.Dropout3d, nn.Sequential, nn.ModuleList, nn.ModuleDict)


def _is_activation(module: nn.Module) -> bool:
    return isinstance(module, ACTIVATIONS) or type(module).__name__ in ACTIVATION_NAMES


def unreadable_modules(model: nn.Module) -> List[str]:
    """The names of the modules the structural copy cannot stand for: leaves outside `READABLE`,
    any module outside it that holds parameters of its own, and a max pool with a dilation (no
    average pool takes one)."""
    found = []
    for name, module in model.named_modules():
        readable = isinstance(module, READABLE) or _is_activation(module)
        is_leaf = next(module.children(), None) is None
        owns_parameters = next(module.parameters(recurse=False), None) is not None
        dilated = isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)) and any(
            step != 1 for step in (module.dilation if isinstance(module.dilation, tuple) else (module.dilation,)))
        if (not readable and (is_leaf or owns_parameters)) or dilated:
            found.append(name or type(module).__name__)
    return found


def _average_of(pool: nn.Module) -> nn.Module:
    average = MAX_TO_AVERAGE[type(pool)]
    if hasattr(pool, "output_size"):
        return average(pool.output_size)
    return average(pool.kernel_size, pool.stride, pool.padding, ceil_mode=pool.ceil_mode)


def _zero_or_one(module: nn.Module, inputs, output):
    if not isinstance(output, torch.Tensor):
        return output
    pattern = (output > 0).to(output.dtype)
    if not output.requires_grad:
        return pattern
    read = pattern + (output - output.detach())  # the 0/1 pattern forward; the gradient straight through
    read.register_hook(lambda gradient: (gradient > 0).to(gradient.dtype))
    return read


def structural_copy(model: nn.Module, mask: Mapping[str, torch.Tensor],
                    trainable: Optional[List[str]] = None) -> nn.Module:
    """The copy described above (evaluation mode); the original, on whatever device, is neither
    changed nor copied whole first. `trainable`: parameters whose gradient will be read."""
    memo = {}
    for name, parameter in model.named_parameters():
        if name in mask:
            value = mask[name].to("cpu", torch.float64)
        elif name.endswith("bias"):
            value = torch.zeros(parameter.shape, dtype=torch.float64)
        else:  # a dense weight, or a BatchNorm scale
            value = torch.ones(parameter.shape, dtype=torch.float64)
        memo[id(parameter)] = nn.Parameter(value, requires_grad=name in (trainable or ()))
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
            memo[id(module.running_mean)] = torch.zeros(module.running_mean.shape, dtype=torch.float64)
            memo[id(module.running_var)] = torch.full(module.running_var.shape, 1.0 - module.eps,
                                                      dtype=torch.float64)  # divides by exactly 1
    for buffer in model.buffers():
        if id(buffer) not in memo:
            memo[id(buffer)] = buffer.detach().to("cpu")
    work = copy.deepcopy(model, memo).eval()
    for parent in list(work.modules()):
        for name, child in list(parent.named_children()):
            if _is_activation(child):
                setattr(parent, name, nn.ReLU())
            elif type(child) in MAX_TO_AVERAGE:
                setattr(parent, name, _average_of(child))
    for module in work.modules():
        if next(module.children(), None) is None:
            module.register_forward_hook(_zero_or_one)
    return work
