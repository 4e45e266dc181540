"""Which parameters a mask may prune.

By default: the weights of every Conv and Linear layer. Biases and BatchNorm are never
pruned (they are few and pruning them hurts more than it saves). Modules flagged with
`sparsekit_dense = True` (the recipe's ghost branches) and everything below them are never
prunable, so they never count toward a mask's density.
"""
from typing import Dict, List

import torch
from torch import nn

PRUNABLE_LAYER_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def dense_prefixes(model: nn.Module) -> List[str]:
    return [name + "." for name, module in model.named_modules() if getattr(module, "sparsekit_dense", False)]


def prunable_layers(model: nn.Module) -> Dict[str, nn.Module]:
    """Module name -> Conv/Linear module whose weight may be pruned, in registration order."""
    skip = dense_prefixes(model)
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, PRUNABLE_LAYER_TYPES) and not any((name + ".").startswith(p) for p in skip)
    }


def prunable_parameters(model: nn.Module, prune_first_layer: bool = True,
                        prune_classifier: bool = False) -> Dict[str, torch.nn.Parameter]:
    """Parameter name -> weight tensor that a mask covers.

    The first layer is the first Conv/Linear in registration order and the classifier the
    last Linear: references disagree on pruning them (Synaptic-Flow prunes both, the ToST
    release keeps the classifier dense), so both are options.
    """
    layers = prunable_layers(model)
    names = list(layers)
    excluded = set()
    if not prune_first_layer and names:
        excluded.add(names[0])
    if not prune_classifier:
        linears = [n for n in names if isinstance(layers[n], nn.Linear)]
        if linears:
            excluded.add(linears[-1])
    return {f"{name}.weight": layers[name].weight for name in names if name not in excluded}
