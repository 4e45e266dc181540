"""Any traced network as a flat list of operations on channels.

`models.traced` traces the network with torch.fx down to the units the kit knows; here each
fx node becomes one of a small vocabulary: conv (a conv with the BatchNorm after it, and its
ghost branches), linear, act, add, mul (a squeeze-excitation scale), maxpool, avgpool, gap,
adaptive_avgpool, flatten, identity. Kit models, torchvision's and timm's all come out in the
same words, named by the user's own modules. Slot 0 is the input; node i writes slot i + 1.
Shapes are computed from the layers' settings. Anything outside the vocabulary gets one line
naming the module or call and what it is.
"""
import operator
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
from torch import fx, nn
from torch.nn import functional as F

from ..core.errors import SparsekitError
from ..models.traced import ConvUnit, conv_bn_pairs, is_drop_path, trace_graph

# Activation modules and calls -> the runtime's name for them.
ACTIVATION_MODULES = {nn.ReLU: "relu", nn.ReLU6: "relu6", nn.SiLU: "silu", nn.Hardswish: "hardswish",
                      nn.Hardsigmoid: "hardsigmoid", nn.Sigmoid: "sigmoid", nn.GELU: "gelu"}
ACTIVATION_FUNCTIONS = {F.relu: "relu", torch.relu: "relu", F.relu6: "relu6", F.silu: "silu",
                        F.hardswish: "hardswish", F.hardsigmoid: "hardsigmoid", torch.sigmoid: "sigmoid",
                        F.sigmoid: "sigmoid", F.gelu: "gelu"}
ACTIVATION_METHODS = {"relu": "relu", "relu_": "relu", "sigmoid": "sigmoid", "sigmoid_": "sigmoid"}
IDENTITY_MODULES = (nn.Identity, nn.Dropout, nn.Dropout2d)  # the export is for inference
ADDS = (operator.add, operator.iadd, torch.add)
MULS = (operator.mul, operator.imul, torch.mul)


@dataclass
class Node:
    op: str
    inputs: List[int]
    module: Optional[nn.Module] = None  # a ConvUnit for convs
    shape: Tuple[int, ...] = ()  # the output's shape for the export's input shape
    input_shape: Tuple[int, ...] = ()
    extra: dict = field(default_factory=dict)


def _activation_module(module: nn.Module, name: str) -> Node:
    if hasattr(module, "export_spec"):  # a smooth activation the recipe put there (`fold.activation_spec`)
        return Node("act", [], module, extra={"name": name})
    kind = ACTIVATION_MODULES[type(module)]
    if kind == "gelu" and module.approximate != "none":
        kind = "gelu_tanh"
    return Node("act", [], module, extra={"name": name, "act": {"kind": kind}})


def _pool_module(module: nn.Module, name: str) -> Node:
    if isinstance(module, nn.MaxPool2d):
        if module.dilation not in (1, (1, 1)) or module.ceil_mode:
            raise SparsekitError(f"export: max-pool {name!r} uses dilation or ceil_mode, which is not supported")
        return Node("maxpool", [], module)
    if isinstance(module, nn.AvgPool2d):
        if module.divisor_override is not None:
            raise SparsekitError(f"export: average pool {name!r} has a divisor override, which is not supported")
        return Node("avgpool", [], module)
    size = module.output_size
    if size in (1, (1, 1)):
        return Node("gap", [], module)
    return Node("adaptive_avgpool", [], module, extra={"size": tuple(size) if isinstance(size, tuple) else (size, size)})


def _reimplemented(module: nn.Module) -> bool:
    """A conv or linear subclass with its own forward (timm's Conv2dSame pads by input size, its
    StdConv2d standardises the weight); timm's `Linear` only casts dtypes under TorchScript."""
    if isinstance(module, nn.Conv2d):
        return type(module).forward is not nn.Conv2d.forward
    return isinstance(module, nn.Linear) and type(module).forward is not nn.Linear.forward and (
        type(module).__name__ != "Linear")


def _module_node(module: nn.Module, name: str, units: Dict[str, ConvUnit]) -> Node:
    if _reimplemented(module):
        raise SparsekitError(f"export does not support module {name!r} of type {type(module).__name__}: it "
                             f"changes how a {type(module).__mro__[1].__name__} computes (e.g. padding by input size)")
    if name in units:
        return Node("conv", [], units[name])
    if isinstance(module, nn.Conv2d):
        return Node("conv", [], ConvUnit(name, module, None))
    if isinstance(module, nn.Linear):
        return Node("linear", [], module, extra={"name": name})
    if type(module) in ACTIVATION_MODULES or hasattr(module, "export_spec"):
        return _activation_module(module, name)
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
        return _pool_module(module, name)
    if isinstance(module, IDENTITY_MODULES) or is_drop_path(module):
        return Node("identity", [], module)
    if isinstance(module, nn.Flatten):
        if module.start_dim != 1 or module.end_dim != -1:
            raise SparsekitError(f"export: flatten {name!r} must flatten from dimension 1 to the end")
        return Node("flatten", [], module)
    if isinstance(module, nn.BatchNorm2d):
        raise SparsekitError(f"export: BatchNorm {name!r} does not directly follow a convolution, so it cannot be "
                             f"folded into one (pre-activation networks are not supported)")
    raise SparsekitError(f"export does not support module {name!r} of type {type(module).__name__}; supported: "
                         f"Conv2d (+BatchNorm2d), Linear, ReLU/ReLU6/SiLU/GELU/Hardswish/Hardsigmoid/Sigmoid, pooling, "
                         f"Flatten, Dropout, additions and channel scales")


def _is_dims(value, dims=(2, 3)) -> bool:
    return isinstance(value, (tuple, list)) and sorted(int(d) for d in value) in (list(dims), [-2, -1])


def _call_nodes(fx_node: fx.Node, tensors: List[fx.Node]) -> List[Node]:
    """The node(s) of a call_function / call_method, or an error naming it."""
    target, args, kwargs = fx_node.target, fx_node.args, fx_node.kwargs
    function = fx_node.op == "call_function"
    if function and target in ADDS and len(tensors) == 2 and len(args) == 2 and not kwargs:
        return [Node("add", [])]
    if function and target in MULS and len(tensors) == 2 and len(args) == 2:
        return [Node("mul", [])]
    if function and target in ACTIVATION_FUNCTIONS and len(tensors) == 1:
        kind = ACTIVATION_FUNCTIONS[target]
        if kind == "gelu" and kwargs.get("approximate", "none") != "none":
            kind = "gelu_tanh"
        return [Node("act", [], extra={"name": fx_node.name, "act": {"kind": kind}})]
    if not function and target in ACTIVATION_METHODS and len(args) == 1:
        return [Node("act", [], extra={"name": fx_node.name, "act": {"kind": ACTIVATION_METHODS[target]}})]
    start = args[1] if len(args) > 1 else kwargs.get("start_dim", 0)
    if (target is torch.flatten or target == "flatten") and start == 1 and len(args) <= 2:
        return [Node("flatten", [])]
    if function and target is F.adaptive_avg_pool2d and (args[1:] + tuple(kwargs.values()))[:1] in ((1,), ((1, 1),)):
        return [Node("gap", [])]
    if not function and target == "mean" and _is_dims(args[1] if len(args) > 1 else kwargs.get("dim")):
        return [Node("gap", [])] if kwargs.get("keepdim") else [Node("gap", []), Node("flatten", [])]
    what = getattr(target, "__name__", str(target))
    raise SparsekitError(f"export does not support the {'call' if function else 'method'} {what!r} at graph node "
                         f"{fx_node.name!r} (only additions, channel scales, activations, global pooling and "
                         f"flatten are)")


def trace(model: nn.Module, input_shape: Tuple[int, ...]) -> List[Node]:
    """The model's operations in execution order, with shapes for an input of `input_shape`
    (batch, channels, height, width)."""
    graph = trace_graph(model)
    units = {unit.name: unit for unit in conv_bn_pairs(model, graph)}
    folded_bns = {name: unit for unit in units.values() for name, m in model.named_modules() if m is unit.bn}
    modules = dict(model.named_modules())
    slot_of, nodes, output = {}, [], None
    for fx_node in graph.nodes:
        tensors = [a for a in fx_node.args if isinstance(a, fx.Node)]
        if fx_node.op == "placeholder":
            if slot_of:
                raise SparsekitError("export: the model must take exactly one input tensor")
            slot_of[fx_node] = 0
            continue
        if fx_node.op == "output":
            if not isinstance(fx_node.args[0], fx.Node):
                raise SparsekitError("export: the model must return one tensor (the logits)")
            output = slot_of[fx_node.args[0]]
            continue
        if fx_node.op == "call_module" and fx_node.target in folded_bns and tensors[0].target in units:
            slot_of[fx_node] = slot_of[tensors[0]]  # folded into the conv before it
            act = getattr(modules[fx_node.target], "act", None)  # timm's BatchNormAct2d: BN, then act
            if act is None or isinstance(act, nn.Identity):
                continue
            new = [_module_node(act, f"{fx_node.target}.act", units)]
        elif fx_node.op == "call_module":
            new = [_module_node(modules[fx_node.target], fx_node.target, units)]
        elif fx_node.op in ("call_function", "call_method"):
            new = _call_nodes(fx_node, tensors)
        else:
            raise SparsekitError(f"export does not support the graph node {fx_node.name!r} ({fx_node.op} "
                                 f"{fx_node.target}): the model reads a tensor attribute in its forward")
        inputs = [slot_of[a] for a in tensors]
        for node in new:
            node.inputs = inputs
            nodes.append(node)
            inputs = [len(nodes)]
        slot_of[fx_node] = len(nodes)
    _record_shapes(nodes, input_shape)
    nodes.append(Node("output", [output]))
    return nodes


def _window(size: int, kernel: int, stride: int, padding: int, ceil: bool = False) -> int:
    span = size + 2 * padding - kernel
    out = -(-span // stride) + 1 if ceil else span // stride + 1
    if ceil and (out - 1) * stride >= size + padding:  # PyTorch: the last window must start inside
        out -= 1
    return out


def _pair(value) -> int:
    return int(value[0] if isinstance(value, (tuple, list)) else value)


def _output_shape(node: Node, shapes: List[Tuple[int, ...]]) -> Tuple[int, ...]:
    """Computed from the layer settings rather than by running the model: exporting stays
    cheap, and the same code serves any input size."""
    given = shapes[node.inputs[0]]
    if node.op == "conv":
        conv = node.module.conv
        size = [_window(d, _pair(conv.kernel_size), _pair(conv.stride), _pair(conv.padding)) for d in given[2:]]
        return (given[0], conv.out_channels, *size)
    if node.op in ("maxpool", "avgpool"):
        pool = node.module
        stride = pool.stride if pool.stride is not None else pool.kernel_size
        return given[:2] + tuple(_window(d, _pair(pool.kernel_size), _pair(stride), _pair(pool.padding),
                                         getattr(pool, "ceil_mode", False)) for d in given[2:])
    if node.op == "gap":
        return given[:2] + (1, 1)
    if node.op == "adaptive_avgpool":
        return given[:2] + node.extra["size"]
    if node.op == "flatten":
        return (given[0], int(torch.tensor(given[1:]).prod()))
    if node.op == "linear":
        return (given[0], node.module.out_features)
    if node.op in ("add", "mul"):
        other = shapes[node.inputs[1]]
        if node.op == "mul" and given[:2] == other[:2] and (given[2:] == (1, 1) or other[2:] == (1, 1)):
            return max(given, other, key=lambda s: s[2:])  # a channel scale times the map
        if other != given:
            raise SparsekitError(f"export: an {'addition' if node.op == 'add' else 'product'} of shapes {given} "
                                 f"and {other}")
    return given


def _record_shapes(nodes: List[Node], input_shape: Tuple[int, ...]) -> None:
    shapes = [tuple(input_shape)]
    for node in nodes:
        node.input_shape = shapes[node.inputs[0]]
        node.shape = _output_shape(node, shapes)
        shapes.append(node.shape)
