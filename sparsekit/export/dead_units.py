"""Remove dead units without changing the network's function.

A channel whose conv weights are all pruned still outputs its folded BN bias, so "dead" here
means "its value is known": every channel of every tensor is either *variable* or a
*constant* (a fully pruned conv row gives its bias; activations, pooling and additions of
constants stay constant). Two passes over the traced graph:

1. forward: the constant value of every channel (NaN = variable);
2. backward: which channels some consumer must physically read. A consumer folds a constant
   input channel into its own bias instead of reading it - a 1x1 conv or linear layer always
   (c * sum of the column), a padded conv only when c == 0 (a non-zero constant meets the
   zero padding, so its contribution varies near the border). An addition reads both
   operands on every channel it outputs, constants included: a constant channel then costs a
   bias-only row of its producer, and the addition stays one plain sum (measured: scattering
   mismatched channel sets cost more than the rows it saved). The output is read in full.

Every channel left is computed exactly as before, so the shrunk network is the same function.
Activations and pooling keep their input's channels (they are per-channel and cost little).
A channel scale (squeeze-excitation's product) reads both operands like an addition. Two
parts of other networks are left whole, as barriers: a grouped conv that is not depthwise
(RegNet) keeps every input and output channel, and a flatten of a spatial map (VGG's 7x7
classifier input) keeps every position of the channels its consumers read.
"""
from typing import Dict, List

import torch

from .graph import Node
from .runtime import Activation

ELEMENTWISE = ("act", "maxpool", "avgpool", "adaptive_avgpool", "gap", "flatten", "identity")


def _connections(weight: torch.Tensor) -> torch.Tensor:
    """(out, in) booleans: which input channels each output channel reads."""
    return (weight != 0).reshape(weight.shape[0], weight.shape[1], -1).any(-1)


def _column_sums(weight: torch.Tensor) -> torch.Tensor:
    return weight.reshape(weight.shape[0], weight.shape[1], -1).sum(-1)


def conv_kind(node: Node) -> str:
    """"dense" (groups 1), "depthwise" (one input channel per output) or "grouped"."""
    affine = node.affine
    if affine.groups == 1:
        return "dense"
    if affine.groups == affine.weight.shape[0] and affine.weight.shape[1] == 1:
        return "depthwise"
    return "grouped"


def _is_depthwise(node: Node) -> bool:
    return conv_kind(node) == "depthwise"


def _positions_per_channel(node: Node) -> int:
    """How many flattened features each input channel of a flatten becomes (1 after a global pool)."""
    return int(torch.tensor(node.input_shape[2:]).prod()) if len(node.input_shape) > 2 else 1


def _absorbable(node: Node, constant: torch.Tensor) -> torch.Tensor:
    known = ~torch.isnan(constant)
    return known & ((constant == 0) | (node.affine.padding == 0))


def constants(nodes: List[Node], input_channels: int) -> List[torch.Tensor]:
    """Per slot, the constant value of each channel (NaN where it varies with the input)."""
    values = [torch.full((input_channels,), float("nan"), dtype=torch.float64)]
    for node in nodes[:-1]:
        given = values[node.inputs[0]]
        if node.op == "conv" and conv_kind(node) == "grouped":
            out = torch.full((node.shape[1],), float("nan"), dtype=torch.float64)
        elif node.op in ("conv", "linear"):
            out = _constant_outputs(node, given)
        elif node.op == "act":
            spec = node.extra["act"]
            activation = Activation(spec["kind"], spec.get("beta", 2.0), spec.get("upper"), spec.get("strength", 1.0))
            out = activation(given.reshape(1, -1, 1, 1)).flatten()
        elif node.op == "add":
            out = given + values[node.inputs[1]]
        elif node.op == "mul":
            out = given * values[node.inputs[1]]
        elif node.op == "flatten":
            out = given.repeat_interleave(_positions_per_channel(node))
        elif node.op == "avgpool" and node.module.padding and node.module.count_include_pad:
            out = torch.where(given == 0, given, torch.full_like(given, float("nan")))  # zeros padded in vary it
        else:
            out = given.clone()
        values.append(out)
    return values


def _constant_outputs(node: Node, given: torch.Tensor) -> torch.Tensor:
    weight, bias = node.affine.weight, node.affine.bias
    absorbable = _absorbable(node, given)
    settled = torch.where(absorbable, given, torch.zeros_like(given))
    if node.op == "conv" and _is_depthwise(node):
        reads = _connections(weight)[:, 0]
        known = ~reads | absorbable
        value = bias + settled * _column_sums(weight)[:, 0]
    else:
        reads = _connections(weight)
        known = ~(reads & ~absorbable).any(1)
        value = bias + _column_sums(weight) @ settled
    return torch.where(known, value, torch.full_like(value, float("nan")))


def needed(nodes: List[Node], values: List[torch.Tensor]) -> List[torch.Tensor]:
    """Per slot, the channels some consumer reads. Folds absorbed constants into the
    consumers' biases (conv/linear weights and biases are changed in place)."""
    need = [torch.zeros(v.numel(), dtype=torch.bool) for v in values]
    need[0][:] = True  # the caller feeds whole images
    need[nodes[-1].inputs[0]][:] = True  # and reads every logit
    for index in range(len(nodes) - 2, -1, -1):
        node, out = nodes[index], need[index + 1]
        source = node.inputs[0]
        if node.op == "conv" and conv_kind(node) == "grouped":
            out[:] = True  # its consumers have been visited: they read a superset, which is fine
            need[source][:] = True
        elif node.op == "flatten":
            need[source] |= out.reshape(-1, _positions_per_channel(node)).any(1)
        elif node.op in ("conv", "linear") and not (node.op == "conv" and _is_depthwise(node)):
            _absorb_constants(node, values[source])
            need[source] |= _connections(node.affine.weight)[out].any(0)
        else:  # additions, depthwise convs and per-channel ops read the channels they output
            for operand in node.inputs:
                need[operand] |= out
    return need


@torch.no_grad()
def _absorb_constants(node: Node, given: torch.Tensor) -> None:
    absorbable = _absorbable(node, given)
    if not absorbable.any():
        return
    affine = node.affine
    settled = torch.where(absorbable, given, torch.zeros_like(given))
    affine.bias = affine.bias + _column_sums(affine.weight) @ settled
    affine.weight[:, absorbable] = 0


def physical_channels(nodes: List[Node], need: List[torch.Tensor]) -> List[torch.Tensor]:
    """Per slot, the channel indices the shrunk network actually holds (ascending).
    Per-channel operations hold exactly their input's channels."""
    kept = [need[0].nonzero().flatten()]
    for index, node in enumerate(nodes[:-1]):
        if node.op == "flatten":  # every position of each kept channel, channel-major like torch.flatten
            positions_per_channel = _positions_per_channel(node)
            channels = kept[node.inputs[0]]
            kept.append((channels[:, None] * positions_per_channel + torch.arange(positions_per_channel)).flatten())
        elif node.op in ELEMENTWISE:
            kept.append(kept[node.inputs[0]])
        else:
            kept.append(need[index + 1].nonzero().flatten())
    return kept


def positions(channels: torch.Tensor, within: torch.Tensor) -> torch.Tensor:
    """Where each of `channels` sits in the ascending index list `within`."""
    return torch.searchsorted(within, channels)


def shrink(nodes: List[Node], input_channels: int, remove: bool = True) -> Dict:
    """Run both passes; returns the constants, the per-slot physical channels and a count of
    what was removed per layer. `remove=False` keeps every channel (to measure what the
    removal buys): no constants are known, so every channel is read."""
    values = constants(nodes, input_channels)
    if not remove:
        values = [torch.full_like(v, float("nan")) for v in values]
    need = needed(nodes, values)
    if not remove:
        need = [torch.ones_like(n) for n in need]
    kept = physical_channels(nodes, need)
    removed = []
    for index, node in enumerate(nodes[:-1]):
        if node.op in ("conv", "linear"):
            removed.append({"layer": node.extra["name"], "out": (node.shape[1], int(kept[index + 1].numel())),
                            "in": (node.input_shape[1], int(kept[node.inputs[0]].numel()))})
    return {"constants": values, "kept": kept, "removed": removed}
