"""Fold each unit into one affine layer: conv + BN (+ kept ghost skip branches) -> conv with
bias; and describe each activation module as data the runtime understands.

Ghost branch: alpha * BN_g(conv1x1_g(x)) with the stride and groups of the 3x3 conv beside
it. A 1x1 conv at stride s reads x[s*i, s*j], exactly the input the centre tap of a k x k conv
with padding k//2 reads, so the branch adds its per-(out, in) scale to the centre tap. Those
taps become non-zero where the mask had pruned them: the exported layer is denser than the
mask by at most out*in/groups weights (one per centre tap), which `report` counts.

The export reads the recipe's modules through what they offer, never their classes: a branch
beside a conv offers `folded_parts()` (1x1 conv, BatchNorm, alpha); a smooth activation offers
`export_spec()`. A module added by a new trick that offers neither is refused by name.
"""
from dataclasses import dataclass

import torch
from torch import nn

from ..core.errors import SparsekitError


# The smooth functions the runtime computes (`runtime`'s activations).
SMOOTH_KINDS = ("swish", "pswish", "mish")


@dataclass
class Affine:
    """A folded conv or linear layer, in float64 while the exporter works on it."""

    weight: torch.Tensor  # (out, in / groups, k, k) or (out, in)
    bias: torch.Tensor
    stride: int = 1
    padding: int = 0
    groups: int = 1
    centre_taps_added: int = 0  # pruned weights the ghost fold made non-zero


def _bn_scale_shift(bn: nn.BatchNorm2d):
    if bn.running_var is None:
        raise SparsekitError("export: a BatchNorm without running statistics cannot be folded")
    weight = bn.weight.double() if bn.weight is not None else torch.ones_like(bn.running_var, dtype=torch.float64)
    bias = bn.bias.double() if bn.bias is not None else torch.zeros_like(weight)
    scale = weight / torch.sqrt(bn.running_var.double() + bn.eps)
    return scale, bias - bn.running_mean.double() * scale


def _square(value, what: str, name: str) -> int:
    values = value if isinstance(value, tuple) else (value, value)
    if values[0] != values[1]:
        raise SparsekitError(f"export: {name} has a non-square {what} {values}")
    return int(values[0])


@torch.no_grad()
def fold_conv_bn(unit, name: str = "conv") -> Affine:
    """One conv unit (`models.traced.ConvUnit`: conv, the BN after it or None, ghost branches;
    weights already masked) as a single biased conv."""
    conv = unit.conv
    if conv.dilation not in (1, (1, 1)) or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise SparsekitError(f"export: {name} uses dilation, non-zero padding mode or string padding")
    if unit.bn is not None:
        scale, shift = _bn_scale_shift(unit.bn)
    else:
        scale, shift = torch.ones(conv.out_channels, dtype=torch.float64), torch.zeros(conv.out_channels,
                                                                                          dtype=torch.float64)
    weight = conv.weight.double() * scale.reshape(-1, 1, 1, 1)
    bias = shift + (conv.bias.double() * scale if conv.bias is not None else 0)
    kernel = _square(conv.kernel_size, "kernel", name)
    folded = Affine(weight, bias, _square(conv.stride, "stride", name), _square(conv.padding, "padding", name),
                    conv.groups)
    for ghost in unit.ghosts:
        _fold_ghost(folded, ghost, kernel, name)
    return folded


def _fold_ghost(folded: Affine, ghost: nn.Module, kernel: int, name: str) -> None:
    if not hasattr(ghost, "folded_parts"):
        raise SparsekitError(f"export: {name} carries a ghost of type {type(ghost).__name__}; only branches that "
                             f"fold into a conv's centre tap (ghost skip connections) can be exported")
    conv, bn, alpha = ghost.folded_parts()
    if (kernel % 2 == 0 or folded.padding != kernel // 2 or _square(conv.stride, "stride", name) != folded.stride
            or conv.groups != folded.groups):
        raise SparsekitError(f"export: the ghost branch of {name} does not line up with its conv's centre tap")
    scale, shift = _bn_scale_shift(bn)
    branch = conv.weight.double()[:, :, 0, 0] * (alpha * scale).reshape(-1, 1)
    centre = folded.weight[:, :, kernel // 2, kernel // 2]
    folded.centre_taps_added += int(((centre == 0) & (branch != 0)).sum())
    centre += branch
    folded.bias = folded.bias + alpha * shift


@torch.no_grad()
def fold_linear(linear: nn.Linear) -> Affine:
    bias = linear.bias.double() if linear.bias is not None else torch.zeros(linear.out_features, dtype=torch.float64)
    return Affine(linear.weight.double().clone(), bias.clone())


def activation_spec(module: nn.Module) -> dict:
    """The runtime's description of a ghost neuron: it keeps its smooth function (plain
    activations are described where the graph is read, `graph.ACTIVATION_MODULES`)."""
    if hasattr(module, "export_spec"):
        spec = module.export_spec()
        if spec["kind"] not in SMOOTH_KINDS:
            raise SparsekitError(f"export: unknown ghost activation function {spec['kind']!r}")
        return spec
    raise SparsekitError(f"export does not support activation {type(module).__name__}")
