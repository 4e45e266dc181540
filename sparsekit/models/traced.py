"""Any network as a torch.fx graph of the units the kit knows, without changing the network.

The trace stops at leaf modules: torch.nn's own layers, the kit's `ConvBN`, modules flagged
`sparsekit_leaf = True` (the recipe's ghosts) and the drop-path modules of torchvision and timm
(identities in eval mode). Everything else - torchvision's and timm's blocks, `nn.Sequential` -
is traced through, so the graph names the user's own modules (`layer1.0.conv1`), and those
names stay the parameter names everywhere: nothing is converted or renamed.

`conv_bn_pairs` finds the units the recipe and the export build on: a `Conv2d` whose output
goes only into a `BatchNorm2d` (the kit's `ConvBN` is one such pair by construction).
"""
from dataclasses import dataclass, field
from typing import List, Optional

import torch
from torch import fx, nn
from torch.nn import functional as F

from ..core.errors import SparsekitError
from .units import ConvBN

# Layers that are units however a package subclasses them (timm's Linear, LayerNorm2d, BatchNormAct2d):
# the unit's own code, not the subclass's forward, is what the kit reads or refuses by name.
LEAF_TYPES = (ConvBN, nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)
# Regularisers that are the identity in eval mode, from the packages whose models are supported
# (matched by name so neither package has to be imported).
DROP_PATH_TYPES = ("StochasticDepth", "DropPath", "DropBlock2d")


def is_drop_path(module: nn.Module) -> bool:
    return type(module).__name__ in DROP_PATH_TYPES


class UnitTracer(fx.Tracer):
    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return (isinstance(module, LEAF_TYPES) or getattr(module, "sparsekit_leaf", False)
                or is_drop_path(module) or super().is_leaf_module(module, qualified_name))


def trace_graph(model: nn.Module) -> fx.Graph:
    """The model's fx graph; a network fx cannot trace (data-dependent control flow) gets one line."""
    try:
        return UnitTracer().trace(model)
    except Exception as exc:  # fx raises many kinds; the first line is what the user needs
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SparsekitError(f"cannot trace {type(model).__name__} with torch.fx ({first}); the kit needs a "
                             f"network whose forward has no data-dependent control flow") from None


@dataclass
class ConvUnit:
    """A convolution with the BatchNorm right after it (or none), and the ghost branches beside
    both. `name` is what records and exported files call it: the `ConvBN`'s name in a kit model,
    else the conv's own name."""

    name: str
    conv: nn.Conv2d
    bn: Optional[nn.BatchNorm2d]
    ghosts: List[nn.Module] = field(default_factory=list)


def _only_user(node: fx.Node) -> Optional[fx.Node]:
    users = list(node.users)
    return users[0] if len(users) == 1 else None


def conv_bn_pairs(model: nn.Module, graph: Optional[fx.Graph] = None) -> List[ConvUnit]:
    """Every conv + BN unit in execution order (a conv used more than once counts once)."""
    graph = graph if graph is not None else trace_graph(model)
    modules = dict(model.named_modules())
    units, seen = [], set()
    for node in graph.nodes:
        if node.op != "call_module" or node.target in seen:
            continue
        module = modules[node.target]
        if isinstance(module, ConvBN):
            units.append(ConvUnit(node.target, module.conv, module.bn, list(module.ghosts)))
        elif isinstance(module, nn.Conv2d):
            user = _only_user(node)
            if (user is not None and user.op == "call_module" and isinstance(modules[user.target], nn.BatchNorm2d)
                    and list(user.args) == [node] and not user.kwargs):
                bn = modules[user.target]
                units.append(ConvUnit(node.target, module, bn, list(getattr(bn, "sparsekit_ghosts", []))))
        else:
            continue
        seen.add(node.target)
    return units


RECTIFIER_CALLS = (F.relu, torch.relu, F.relu6, torch.relu_, F.relu_)
RECTIFIER_METHODS = ("relu", "relu_")


def rectifier_calls(model: nn.Module) -> List[str]:
    """Graph nodes where the forward calls a ReLU as a function rather than a module (none when
    fx cannot trace the model: then nothing can be said, and nothing is claimed)."""
    try:
        graph = trace_graph(model)
    except SparsekitError:
        return []
    return [node.name for node in graph.nodes
            if (node.op == "call_function" and node.target in RECTIFIER_CALLS)
            or (node.op == "call_method" and node.target in RECTIFIER_METHODS)]
