"""A sparsekit model as a flat list of operations on channels, traced with torch.fx.

The trace stops at the units (`ConvBN`, `Linear`, activations, pooling), so any network built
from them - basic blocks, bottleneck blocks, inverted residuals, plain stacks - becomes the
same small vocabulary: conv, linear, act, add, maxpool, gap, flatten. Slot 0 is the input;
node i writes slot i + 1. Shapes are computed from the layers' settings.
"""
import operator
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import torch
from torch import fx, nn

from ..core.errors import SparsekitError
from ..models.units import ConvBN
from ..recipe.ghost_neurons import GhostActivation

ACTIVATIONS = (nn.ReLU, nn.ReLU6, GhostActivation)


@dataclass
class Node:
    op: str
    inputs: List[int]
    module: Optional[nn.Module] = None
    shape: Tuple[int, ...] = ()  # the output's shape for the export's input shape
    input_shape: Tuple[int, ...] = ()
    extra: dict = field(default_factory=dict)


class _UnitTracer(fx.Tracer):
    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return isinstance(module, (ConvBN,) + ACTIVATIONS) or super().is_leaf_module(module, qualified_name)


def _module_node(module: nn.Module, inputs: List[int], name: str) -> Node:
    if isinstance(module, ConvBN):
        return Node("conv", inputs, module)
    if isinstance(module, nn.Linear):
        return Node("linear", inputs, module)
    if isinstance(module, ACTIVATIONS):
        return Node("act", inputs, module)
    if isinstance(module, nn.MaxPool2d):
        if module.dilation not in (1, (1, 1)) or module.ceil_mode:
            raise SparsekitError(f"export: max-pool {name!r} uses dilation or ceil_mode, which is not supported")
        return Node("maxpool", inputs, module)
    if isinstance(module, nn.AdaptiveAvgPool2d):
        if module.output_size not in (1, (1, 1)):
            raise SparsekitError(f"export: adaptive pool {name!r} must pool to 1x1 (got {module.output_size})")
        return Node("gap", inputs, module)
    if isinstance(module, nn.Identity):
        return Node("identity", inputs, module)
    raise SparsekitError(f"export does not support module {name!r} of type {type(module).__name__}; "
                         f"models must be built from sparsekit's units (ConvBN, activations, pooling, Linear)")


def trace(model: nn.Module, input_shape: Tuple[int, ...]) -> List[Node]:
    """The model's operations in execution order, with shapes for an input of `input_shape`
    (batch, channels, height, width)."""
    graph = _UnitTracer().trace(model)
    modules = dict(model.named_modules())
    slot_of, nodes, output = {}, [], None
    for fx_node in graph.nodes:
        args = [a for a in fx_node.args if isinstance(a, fx.Node)]
        inputs = [slot_of[a] for a in args]
        if fx_node.op == "placeholder":
            if slot_of:
                raise SparsekitError("export: the model must take exactly one input tensor")
            slot_of[fx_node] = 0
            continue
        if fx_node.op == "output":
            output = slot_of[fx_node.args[0]]
            continue
        if fx_node.op == "call_module":
            node = _module_node(modules[fx_node.target], inputs, fx_node.target)
        elif fx_node.op == "call_function" and fx_node.target in (operator.add, torch.add) and len(inputs) == 2:
            node = Node("add", inputs)
        elif fx_node.op == "call_function" and fx_node.target is torch.flatten:
            node = Node("flatten", inputs)
        else:
            raise SparsekitError(f"export does not support the operation {fx_node.op} {fx_node.target}")
        nodes.append(node)
        slot_of[fx_node] = len(nodes)
    _record_shapes(nodes, input_shape)
    nodes.append(Node("output", [output]))
    return nodes


def _window(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _pair(value) -> int:
    return int(value[0] if isinstance(value, tuple) else value)


def _output_shape(node: Node, shapes: List[Tuple[int, ...]]) -> Tuple[int, ...]:
    """Computed from the layer settings rather than by running the model: exporting stays
    cheap, and the same code serves any input size."""
    given = shapes[node.inputs[0]]
    if node.op == "conv":
        conv = node.module.conv
        size = [_window(d, _pair(conv.kernel_size), _pair(conv.stride), _pair(conv.padding)) for d in given[2:]]
        return (given[0], conv.out_channels, *size)
    if node.op == "maxpool":
        pool = node.module
        stride = pool.stride if pool.stride is not None else pool.kernel_size
        return given[:2] + tuple(_window(d, _pair(pool.kernel_size), _pair(stride), _pair(pool.padding))
                                 for d in given[2:])
    if node.op == "gap":
        return given[:2] + (1, 1)
    if node.op == "flatten":
        if len(given) != 4 or given[2:] != (1, 1):
            raise SparsekitError(f"export: flatten must follow a global pool (a 1x1 map), got a map of shape {given}")
        return given[:2]
    if node.op == "linear":
        return (given[0], node.module.out_features)
    if node.op == "add" and shapes[node.inputs[1]] != given:
        raise SparsekitError(f"export: an addition of shapes {given} and {shapes[node.inputs[1]]}")
    return given


def _record_shapes(nodes: List[Node], input_shape: Tuple[int, ...]) -> None:
    shapes = [tuple(input_shape)]
    for node in nodes:
        node.input_shape = shapes[node.inputs[0]]
        node.shape = _output_shape(node, shapes)
        shapes.append(node.shape)
