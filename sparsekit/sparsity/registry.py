"""The table of mask methods and the one call that runs any of them.

Two kinds of method register here:
- a *static* method is one scoring function, `fn(model, params, batches, *, option=default,
  ...) -> {name: score tensor}` (higher = keep); `compute` keeps the top scores with an exact
  count, as many per layer as the distribution says (`distributions.py`: global, uniform,
  even, erk) or N of every M with an N:M pattern (`patterns.py`), then applies the
  `shuffle`/`invert` ablations. Each method declares the distribution it uses when none is
  asked for (global for most; `random` keeps the same fraction per layer, `erk` is `random`
  at ERK densities). A scoring function whose scores depend on the mask being built names
  `layout` (the `Layout` it will be cut to: SynFlow's rounds prune toward it) and a random one
  names `generator` (the seeded draw); those two come from `compute`, never from the caller;
- a *dynamic* method returns a `Sparsifier` whose mask changes during training (GMP, SET,
  RigL); `compute` gives the mask its training starts from.

A method's own options (SynFlow's `rounds`, ...) are the other keyword-only arguments of its
function: `compute` reads them from the signature, so an unknown option fails with a list of
the accepted ones without any per-method code. Procedures made of whole trainings (lottery
tickets, Ramanujan sampling) are not mask methods here: `sparsekit.runs` runs them.
"""
import inspect
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import torch
from torch import nn

from ..core import checks
from ..core.errors import SparsekitError
from ..core.mask import Mask
from ..core.prunable import prunable_parameters
from ..core.registry import Registry
from ..core.topk import check_sparsity, keep_count
from . import distributions, patterns
from .ablations import lowest_first, shuffle_within_layers


@dataclass(frozen=True)
class Layout:
    """What the scores will be cut to: the sparsity, the distribution and the N:M pattern (or None)."""
    sparsity: float
    distribution: str
    pattern: Optional[patterns.Pattern] = None


@dataclass(frozen=True)
class MaskMethod:
    name: str
    build: Callable
    kind: str  # "score" or "dynamic"
    needs_data: bool
    summary: str
    # The distribution a static method's scores are cut to when none is asked for.
    distribution: str = "global"

    @property
    def options(self) -> Tuple[str, ...]:
        """The method's own options: the keyword-only arguments of its function."""
        return tuple(name for name, p in inspect.signature(self.build).parameters.items()
                     if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in DRAWN_INPUTS)

    def takes(self, name: str) -> bool:
        """Whether the method's function names `name`."""
        return name in inspect.signature(self.build).parameters


# What `compute` itself hands a scoring function that names it (see the module docstring).
DRAWN_INPUTS = ("layout", "generator")
# Options of `compute` itself, applied after any method (see ablations.py).
ABLATION_OPTIONS = ("shuffle", "invert")


METHODS = Registry("mask method")


def register_scores(name: str, summary: str, needs_data: bool = False, distribution: str = "global"):
    """Register `fn(model, params, batches, *, option=default, ...) -> {name: score tensor}`,
    cut to `distribution` when none is asked for."""
    distributions.check_distribution(distribution)

    def add(fn):
        METHODS.register(name)(MaskMethod(name, fn, "score", needs_data, summary, distribution))
        return fn
    return add


def register_alias(name: str, of: str, summary: str, distribution: str):
    """Register `name` as method `of` with another default distribution (`erk` is `random`
    at ERK densities: the same mask from the same seed)."""
    entry = METHODS.get(of)
    METHODS.register(name)(MaskMethod(name, entry.build, entry.kind, entry.needs_data, summary, distribution))


def register_dynamic(name: str, summary: str):
    """Register `fn(params, sparsity, seed, *, option=default, ...) -> Sparsifier`."""
    def add(fn):
        METHODS.register(name)(MaskMethod(name, fn, "dynamic", False, summary))
        return fn
    return add


def is_dynamic(method: str) -> bool:
    return METHODS.get(method).kind == "dynamic"


def available():
    return METHODS.names()


def describe() -> Dict[str, str]:
    """Method name -> one line on what it scores."""
    return {name: METHODS.get(name).summary for name in METHODS.names()}


def method_rows() -> List[Dict[str, object]]:
    """One row per registered method, for listings: name, kind, own options, summary, the
    distribution it uses when none is asked for (every method follows any distribution) and
    whether it builds N:M patterns (the static ones)."""
    return [{"name": name, "kind": entry.kind, "summary": entry.summary, "options": list(entry.options),
             "distributions": ["any"], "default_distribution": entry.distribution if entry.kind == "score" else None,
             "pattern": entry.kind == "score"}
            for name, entry in ((name, METHODS.get(name)) for name in METHODS.names())]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def methods_with_scores() -> List[str]:
    """The static methods whose scores do not depend on the mask being cut (no layout, no
    random draw): the ones `scores` answers for."""
    return [name for name in available() if METHODS.get(name).kind == "score"
            and not METHODS.get(name).takes("layout") and not METHODS.get(name).takes("generator")]


def scores(method: str, model: nn.Module, data: Optional[Iterable] = None, prune_first_layer: bool = True,
           prune_classifier: bool = False, **options) -> Dict[str, torch.Tensor]:
    """Per-weight scores of a static method whose scores do not depend on the mask being cut
    (higher = more worth keeping)."""
    entry = METHODS.get(method)
    _check_model(model)
    if method not in methods_with_scores():
        raise SparsekitError(f"mask method {method!r} has no scores apart from the mask it builds; methods with "
                             f"scores of their own: {', '.join(methods_with_scores())}")
    _check_data(entry, data)
    params = prunable_parameters(model, prune_first_layer, prune_classifier)
    return entry.build(model, params, data, **_method_options(entry, options, allowed=()))


def compute(method: str, model: nn.Module, sparsity: Optional[float] = None, data: Optional[Iterable] = None,
            prune_first_layer: bool = True, prune_classifier: bool = False, seed: int = 0, shuffle: bool = False,
            invert: bool = False, distribution: Optional[str] = None, pattern: Optional[str] = None,
            **options) -> Mask:
    """Build a mask with `method` keeping exactly round((1 - sparsity) * N) prunable weights.

    `distribution` says how many weights each layer keeps: "global" (one ranking over all
    layers), "uniform" (round(d * n) per layer), "even" (the same fraction per layer, the
    total exact) or "erk"; None is the method's declared one (`method_rows`). `pattern="N:M"`
    keeps exactly N of every M consecutive weights along each layer's input dimension; it
    fixes the sparsity at 1 - N/M (leave `sparsity` out or give that value) and every layer's
    count (no distribution but "uniform").

    A dynamic method (gmp, set, rigl) gives the mask its training starts from (GMP's is dense
    unless `initial_sparsity` is set); its mask then changes during training.

    Ablations: `shuffle=True` keeps the method's per-layer kept counts but moves the kept
    weights to random positions (seeded; random N of each M with a pattern); `invert=True`
    keeps the LOWEST scores instead of the highest. Other keyword options go to the method
    (see `describe`).
    """
    entry = METHODS.get(method)
    if distribution is not None:
        distributions.check_distribution(distribution)
    pattern = patterns.parse_pattern(pattern) if pattern is not None else None
    if pattern is not None:
        sparsity = patterns.sparsity_of(pattern, sparsity)
        if distribution not in (None, "uniform") or entry.distribution == "erk" and distribution is None:
            asked = repr(distribution) if distribution else f"{entry.distribution!r} (the method's own)"
            raise SparsekitError(f"pattern {pattern} fixes every layer at {pattern.n} of each {pattern.m} weights; it "
                                 f"cannot follow distribution {asked}")
    sparsity = check_sparsity(sparsity)
    _check_model(model)
    for name, flag in (("shuffle", shuffle), ("invert", invert), ("prune_first_layer", prune_first_layer),
                       ("prune_classifier", prune_classifier)):
        checks.boolean(name, flag)
    checks.whole_number("seed", seed, 0)
    if entry.kind == "dynamic" and (shuffle or invert):
        raise SparsekitError(f"mask method {method!r} changes its mask during training: no shuffle or invert "
                             f"ablation")
    method_options = _method_options(entry, options, _ablations_of(entry))
    _check_data(entry, data)
    params = prunable_parameters(model, prune_first_layer, prune_classifier)
    if not params:
        raise SparsekitError("the model has no prunable Conv or Linear weights")
    if pattern is not None:  # before any scoring: SNIP on a large network would be wasted
        patterns.check_layers({name: p.shape for name, p in params.items()}, pattern)
    check_keeps_some(sum(p.numel() for p in params.values()), sparsity)
    if entry.kind == "dynamic":
        if pattern is not None:
            raise SparsekitError(f"mask method {method!r} changes the mask during training and keeps no N:M pattern; "
                                 f"give the pattern to a static method")
        if distribution is not None:  # the dynamic methods take their layer counts as an option
            method_options.setdefault("distribution", distribution)
        return entry.build(params, sparsity, seed, **method_options).initial_mask(model, data)
    generator = _generator(seed)
    layout = Layout(sparsity, distribution or entry.distribution, pattern)
    drawn = {name: value for name, value in (("layout", layout), ("generator", generator)) if entry.takes(name)}
    score_table = entry.build(model, params, data, **method_options, **drawn)
    keep = cut(lowest_first(score_table) if invert else score_table, layout)
    if shuffle:
        keep = shuffle_within_layers(keep, generator, pattern)
    return Mask(keep)


def cut(scores: Dict[str, torch.Tensor], layout: Layout) -> Dict[str, torch.Tensor]:
    """Name -> bool tensor: the top scores as `layout` counts them (exact, ties to the earlier position)."""
    if layout.pattern is not None:
        return patterns.keep_top_in_groups(scores, layout.pattern)
    return distributions.keep_top_scores(scores, layout.sparsity, layout.distribution)


def _method_options(entry: MaskMethod, options: dict, allowed: Tuple[str, ...]) -> dict:
    """The options `entry` accepts, or a one-line error naming the ones it does not."""
    # A dynamic method keeps its layer counts all run, so its distribution is its own option.
    own = entry.options + (("distribution",) if entry.kind == "dynamic" and entry.takes("distribution") else ())
    unknown = sorted(set(options) - set(own))
    if unknown:
        accepted = list(own) + list(allowed)
        raise SparsekitError(f"mask method {entry.name!r} has no option {unknown[0]!r}; it accepts: "
                             f"{', '.join(accepted) or 'no options'}")
    signature = inspect.signature(entry.build).parameters
    for name, value in options.items():
        if name in entry.options:
            kind = signature[name].annotation
            if kind in _CHECKED_TYPES:  # text where a number is wanted fails here, not mid-run
                checks.of_type(f"mask method {entry.name!r} option {name}", value, kind)
    return {name: value for name, value in options.items() if name in own}


_CHECKED_TYPES = (bool, int, float, Optional[int], Optional[float], Optional[bool])


def check_options(method: str, options: dict) -> None:
    """Check a method's options (names and types) before any work: what `compute` will do."""
    entry = METHODS.get(method)
    ablations = {name: options[name] for name in ABLATION_OPTIONS if name in options}
    for name, flag in ablations.items():
        checks.boolean(name, flag)
    rest = {name: value for name, value in options.items() if name not in ablations}
    _method_options(entry, rest, _ablations_of(entry))


def _ablations_of(entry: MaskMethod) -> Tuple[str, ...]:
    return ABLATION_OPTIONS if entry.kind == "score" else ()


def check_keeps_some(total: int, sparsity: float) -> None:
    """A sparsity that keeps no weight of the `total` leaves nothing to train: refuse it.
    (One that empties only some layers is allowed, with a warning: see analysis.)"""
    if total and keep_count(total, 1.0 - sparsity) == 0:
        raise SparsekitError(f"sparsity {sparsity} keeps no weight at all: (1 - s) * N rounds (half up) to 0 of the model's "
                             f"N = {total} prunable weights; use a sparsity below {1 - 0.5 / total:.10g}")


def _check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise SparsekitError(f"model must be a torch nn.Module (see sparsekit.models.build), got "
                             f"{type(model).__name__}")


def _check_data(entry: MaskMethod, data) -> None:
    if entry.needs_data and data is None:
        raise SparsekitError(f"mask method {entry.name!r} scores weights with data: pass data= (batches of (x, y))")
