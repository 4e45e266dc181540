"""The table of mask methods and the one call that runs any of them.

Two kinds of method register here:
- a *score* method returns a score per weight; `compute` keeps the top-scoring weights with
  an exact count (globally or per layer), and the `shuffle`/`invert` ablations apply to it;
- a *mask* method builds the mask itself (uniform random, ERK, iterative schemes).
"""
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Optional

import torch
from torch import nn

from ..errors import SparsekitError
from ..mask import Mask
from ..prunable import prunable_parameters
from ..registry import Registry
from ..topk import check_sparsity, keep_top


@dataclass(frozen=True)
class MaskMethod:
    name: str
    build: Callable
    kind: str  # "score" or "mask"
    needs_data: bool
    summary: str


METHODS = Registry("mask method")


def register_scores(name: str, summary: str, needs_data: bool = False):
    """Register `fn(model, params, data, **options) -> {name: score tensor}`."""
    def add(fn):
        METHODS.register(name)(MaskMethod(name, fn, "score", needs_data, summary))
        return fn
    return add


def register_mask(name: str, summary: str, needs_data: bool = False):
    """Register `fn(model, params, sparsity, data, scope, generator, **options) -> Mask`."""
    def add(fn):
        METHODS.register(name)(MaskMethod(name, fn, "mask", needs_data, summary))
        return fn
    return add


def available():
    return METHODS.names()


def describe() -> Dict[str, str]:
    """Method name -> one line on what it scores."""
    return {name: METHODS.get(name).summary for name in METHODS.names()}


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def scores(method: str, model: nn.Module, data: Optional[Iterable] = None, prune_first_layer: bool = True,
           prune_classifier: bool = True, **options) -> Dict[str, torch.Tensor]:
    """Per-weight scores of a score-based method (higher = more worth keeping)."""
    entry = METHODS.get(method)
    if entry.kind != "score":
        raise SparsekitError(f"mask method {method!r} builds masks directly and has no scores; "
                             f"score methods: {', '.join(n for n in available() if METHODS.get(n).kind == 'score')}")
    _check_data(entry, data)
    params = prunable_parameters(model, prune_first_layer, prune_classifier)
    return entry.build(model, params, data, **options)


def compute(method: str, model: nn.Module, sparsity: float, data: Optional[Iterable] = None,
            scope: str = "global", prune_first_layer: bool = True, prune_classifier: bool = True,
            seed: int = 0, **options) -> Mask:
    """Build a mask with `method` keeping exactly round((1 - sparsity) * N) prunable weights."""
    sparsity = check_sparsity(sparsity)
    entry = METHODS.get(method)
    _check_data(entry, data)
    params = prunable_parameters(model, prune_first_layer, prune_classifier)
    if not params:
        raise SparsekitError("the model has no prunable Conv or Linear weights")
    generator = _generator(seed)
    if entry.kind == "mask":
        return Mask(entry.build(model, params, sparsity, data, scope, generator, **options))
    score_table = entry.build(model, params, data, **options)
    return Mask(keep_top(score_table, sparsity, scope))


def _check_data(entry: MaskMethod, data) -> None:
    if entry.needs_data and data is None:
        raise SparsekitError(f"mask method {entry.name!r} scores weights with data: pass data= (batches of (x, y))")
