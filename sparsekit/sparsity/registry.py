"""The one table of mask sources, and the calls that reach any entry by name.

Every name a run's `mask` setting accepts is one entry here (`available()` lists them all, and
an unknown name is refused with that list). An entry is one of the kinds of `source_kinds.py`:
- a score method (`register_scores`): `fn(model, params, batches, *, option=default, ...) ->
  {name: score tensor}` (higher = keep), cut with an exact count to a distribution
  (`distributions.py`: global, uniform, even, erk; each method declares the one it uses when
  none is asked for) or to an N:M pattern (`patterns.py`), then the `shuffle`/`invert` ablations;
- a dynamic method (`register_dynamic`): `fn(params, sparsity, seed, *, option=default, ...) ->
  Sparsifier` whose mask changes during training (GMP, SET, RigL);
- a procedure (`register_procedure`): `fn(model, sparsity, batches, *, ..., option=default) ->
  Mask`, a mask found by training. The lottery ticket and Ramanujan sampling register from
  `sparsekit/runs/` (they train, so they live above the trainer); what a run fills in for them
  (its `train`, settings, data bundle: `PROCEDURE_INPUTS`) is never an option.

A source's own options are the other keyword-only arguments of its function, checked by one
checker (`MaskSource.check_options`), so an unknown option fails with a list of the accepted
ones without any per-method code. Each entry yields the run's `Sparsifier` (`sparsifier`).
"""
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import torch
from torch import nn

from ..core.errors import SparsekitError
from ..core.mask import Mask
from ..core.prunable import prunable_parameters
from ..core.registry import Registry
from .source_kinds import PROCEDURE_INPUTS, DynamicMethod, MaskSource, Procedure, ScoreMethod, check_model  # noqa: F401

METHODS = Registry("mask method")
# Options every score method takes besides its own, applied after it (see ablations.py).
ABLATION_OPTIONS = ScoreMethod.ablations


def register_scores(name: str, summary: str, needs_data: bool = False, distribution: str = "global"):
    """Register `fn(model, params, batches, *, option=default, ...) -> {name: score tensor}`,
    cut to `distribution` when none is asked for."""
    def add(fn):
        METHODS.register(name)(ScoreMethod(name, fn, summary, needs_data, distribution))
        return fn
    return add


def register_alias(name: str, of: str, summary: str, distribution: str):
    """Register `name` as score method `of` with another default distribution (`erk` is `random`
    at ERK densities: the same mask from the same seed)."""
    entry = METHODS.get(of)
    METHODS.register(name)(ScoreMethod(name, entry.build, summary, entry.needs_data, distribution))


def register_dynamic(name: str, summary: str):
    """Register `fn(params, sparsity, seed, *, option=default, ...) -> Sparsifier`."""
    def add(fn):
        METHODS.register(name)(DynamicMethod(name, fn, summary))
        return fn
    return add


def register_procedure(name: str, summary: str, follows_distribution: bool, progress_folder: Optional[str] = None):
    """Register `fn(model, sparsity, batches, *, <PROCEDURE_INPUTS it names>, option=default, ...) -> Mask`:
    a mask found by training, which follows the run's distribution or sets its own densities."""
    def add(fn):
        METHODS.register(name)(Procedure(name, fn, summary, follows_distribution, progress_folder))
        return fn
    return add


def is_dynamic(method: str) -> bool:
    return METHODS.get(method).kind == "dynamic"


def available() -> List[str]:
    """Every name a run's `mask` setting accepts: score methods, dynamic methods and procedures."""
    return METHODS.names()


def describe() -> Dict[str, str]:
    """Source name -> one line on what it does."""
    return {name: METHODS.get(name).summary for name in METHODS.names()}


def progress_folders() -> Tuple[str, ...]:
    """Folders under a run's out where procedures keep their progress (see `RunDirectory`)."""
    return tuple(sorted(METHODS.get(n).progress_folder for n in METHODS.names() if METHODS.get(n).progress_folder))


def method_rows() -> List[Dict[str, object]]:
    """One row per source, for listings: name, kind, options, summary, the distributions it
    follows and its default, and whether it builds N:M patterns (the score methods)."""
    rows = []
    for name in METHODS.names():
        entry = METHODS.get(name)
        follows = entry.kind != "procedure" or entry.distribution is not None
        rows.append({"name": name, "kind": entry.kind, "summary": entry.summary,
                     # a score method's ablations are listed once, with `compute`; a procedure's here
                     "options": list(entry.options) + (list(entry.ablations) if entry.kind == "procedure" else []),
                     "distributions": ["any"] if follows else [],
                     "default_distribution": entry.distribution if entry.kind != "dynamic" else None,
                     "pattern": entry.kind == "score"})
    return rows


def check_options(method: str, options: Mapping[str, Any], also: Tuple[str, ...] = ()) -> Tuple[dict, dict]:
    """(own options, ablations) of source `method` from `options` (`MaskSource.check_options`)."""
    return METHODS.get(method).check_options(options, also)


def methods_with_scores() -> List[str]:
    """The score methods whose scores do not depend on the mask being cut (no layout, no
    random draw): the ones `scores` answers for."""
    return [name for name in available() if _plain_scores(METHODS.get(name))]


def scores(method: str, model: nn.Module, data: Optional[Iterable] = None, prune_first_layer: bool = True,
           prune_classifier: bool = False, **options) -> Dict[str, torch.Tensor]:
    """Per-weight scores of a score method whose scores do not depend on the mask being cut
    (higher = more worth keeping)."""
    entry = METHODS.get(method)
    check_model(model)
    if method not in methods_with_scores():
        raise SparsekitError(f"mask method {method!r} has no scores apart from the mask it builds; methods with "
                             f"scores of their own: {', '.join(methods_with_scores())}")
    if entry.needs_data and data is None:
        raise SparsekitError(f"mask method {method!r} scores weights with data: pass data= (batches of (x, y))")
    params = prunable_parameters(model, prune_first_layer, prune_classifier)
    own, ablations = entry.check_options(options)
    if ablations:
        raise SparsekitError(f"mask method {method!r} scores: {', '.join(ablations)} applies to a mask (compute)")
    return entry.build(model, params, data, **own)


def _plain_scores(entry: MaskSource) -> bool:
    return entry.kind == "score" and not entry.takes("layout") and not entry.takes("generator")


def compute(method: str, model: nn.Module, sparsity: Optional[float] = None, data: Optional[Iterable] = None,
            prune_first_layer: bool = True, prune_classifier: bool = False, seed: int = 0, shuffle: bool = False,
            invert: bool = False, distribution: Optional[str] = None, pattern: Optional[str] = None,
            procedure_inputs: Optional[Mapping[str, Any]] = None, **options) -> Mask:
    """Build a mask with `method` keeping exactly round((1 - sparsity) * N) prunable weights.

    `distribution` says how many weights each layer keeps: "global" (one ranking over all
    layers), "uniform" (round(d * n) per layer), "even" (the same fraction per layer, the
    total exact) or "erk"; None is the method's declared one (`method_rows`). `pattern="N:M"`
    keeps exactly N of every M consecutive weights along each layer's input dimension; it
    fixes the sparsity at 1 - N/M (leave `sparsity` out or give that value) and every layer's
    count (no distribution but "uniform").

    A dynamic method (gmp, set, rigl) gives the mask its training starts from (GMP's is dense
    unless `initial_sparsity` is set); its mask then changes during training. A procedure
    (ramanujan) runs on `data`; one that trains whole runs (lottery) needs what a run hands it
    in `procedure_inputs` (its `train`, settings and data bundle): `sk.train(mask="lottery")`.

    Ablations: `shuffle=True` keeps the method's per-layer kept counts but moves the kept
    weights to random positions (seeded; random N of each M with a pattern); `invert=True`
    keeps the LOWEST scores instead of the highest. Other keyword options go to the method
    (see `describe`).
    """
    return METHODS.get(method).compute(model, sparsity, data, prune_first_layer, prune_classifier, seed, shuffle,
                                       invert, distribution, pattern, procedure_inputs, **options)

