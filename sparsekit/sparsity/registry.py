"""The table of mask methods and the one call that runs any of them.

Three kinds of method register here:
- a *score* method returns a score per weight; `compute` keeps the top-scoring weights with
  an exact count, as many per layer as the distribution says (`distributions.py`: global,
  uniform, erk) or N of every M with an N:M pattern (`patterns.py`), and the
  `shuffle`/`invert` ablations apply to it;
- a *mask* method builds the mask itself (uniform random, ERK, iterative schemes);
- a *dynamic* method returns a `Sparsifier` whose mask changes during training (GMP, SET,
  RigL); `compute` gives the mask its training starts from.

A method's own options (SynFlow's `rounds`, ...) are the keyword-only arguments of its
function: `compute` reads them from the signature, so an unknown option fails with a list of
the accepted ones without any per-method code. The trainer also passes its context
(`train_config`, `bundle`, `out`); only a method that names them in its signature gets them.
A mask method that follows named distributions declares them when it registers and names
`distribution` in its signature; one that builds N:M patterns names `pattern`. Any other mask
method takes distribution global or uniform through its positional `scope` ("global" or
"layerwise"), and `compute` refuses erk or a pattern for it with one line naming it.
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
class MaskMethod:
    name: str
    build: Callable
    kind: str  # "score", "mask" or "dynamic"
    needs_data: bool
    summary: str
    # A mask method: the distributions it follows when asked by name (it names `distribution`).
    distributions: Tuple[str, ...] = ()

    @property
    def options(self) -> Tuple[str, ...]:
        """The method's own options: the keyword-only arguments of its function."""
        return tuple(name for name, p in inspect.signature(self.build).parameters.items()
                     if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in LAYOUT_OPTIONS)

    def takes(self, name: str) -> bool:
        """Whether the method's function names `name` (a context or layout option)."""
        return name in inspect.signature(self.build).parameters


# What the trainer offers every method; a method that does not name one never sees it.
CONTEXT_OPTIONS = ("train_config", "bundle", "out")
# Options of `compute` itself, applied after any method (see ablations.py).
ABLATION_OPTIONS = ("shuffle", "invert")
# How many weights each layer keeps and in what groups: given to a mask method that names them.
LAYOUT_OPTIONS = ("distribution", "pattern")


METHODS = Registry("mask method")


def register_scores(name: str, summary: str, needs_data: bool = False):
    """Register `fn(model, params, data, *, option=default, ...) -> {name: score tensor}`."""
    def add(fn):
        METHODS.register(name)(MaskMethod(name, fn, "score", needs_data, summary))
        return fn
    return add


def register_mask(name: str, summary: str, needs_data: bool = False, distributions: Tuple[str, ...] = ()):
    """Register `fn(model, params, sparsity, data, scope, generator, *, option=default, ...) -> Mask`.

    `scope` is "global" or "layerwise" (distribution uniform). A method that follows named
    distributions lists them in `distributions` and names `distribution=None` among its
    keyword-only arguments; one that builds N:M patterns names `pattern=None`. It gets them
    when asked for (a distribution name, a `Pattern`)."""
    def add(fn):
        METHODS.register(name)(MaskMethod(name, fn, "mask", needs_data, summary, tuple(distributions)))
        return fn
    return add


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
    """One row per registered method, for listings: name, kind, own options, summary, and
    the distributions it follows by name ("any" for a score method; a mask method's declared
    ones, else none: its own counts, global or uniform through `scope` where it offers them)
    and whether it builds N:M patterns."""
    rows = []
    for name in METHODS.names():
        entry = METHODS.get(name)
        rows.append({"name": name, "kind": entry.kind, "summary": entry.summary,
                     "options": [o for o in entry.options if o not in CONTEXT_OPTIONS],
                     "distributions": ["any"] if entry.kind in ("score", "dynamic") else list(entry.distributions),
                     "pattern": entry.kind == "score" or entry.takes("pattern")})
    return rows


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def scores(method: str, model: nn.Module, data: Optional[Iterable] = None, prune_first_layer: bool = True,
           prune_classifier: bool = False, **options) -> Dict[str, torch.Tensor]:
    """Per-weight scores of a score-based method (higher = more worth keeping)."""
    entry = METHODS.get(method)
    _check_model(model)
    if entry.kind != "score":
        raise SparsekitError(f"mask method {method!r} builds masks directly and has no scores; "
                             f"score methods: {', '.join(n for n in available() if METHODS.get(n).kind == 'score')}")
    _check_data(entry, data)
    params = prunable_parameters(model, prune_first_layer, prune_classifier)
    return entry.build(model, params, data, **_method_options(entry, options, allowed=()))


def compute(method: str, model: nn.Module, sparsity: Optional[float] = None, data: Optional[Iterable] = None,
            scope: Optional[str] = None, prune_first_layer: bool = True, prune_classifier: bool = False,
            seed: int = 0, shuffle: bool = False, invert: bool = False, distribution: Optional[str] = None,
            pattern: Optional[str] = None, **options) -> Mask:
    """Build a mask with `method` keeping exactly round((1 - sparsity) * N) prunable weights.

    `distribution` says how many weights each layer keeps: "global" (one ranking over all
    layers), "uniform" (round(d * n) per layer) or "erk"; None is the method's own (global for
    a score method). The older `scope="global"|"layerwise"` means "global"|"uniform"; giving
    both, they must agree. `pattern="N:M"` keeps exactly N of every M consecutive weights
    along each layer's input dimension; it fixes the sparsity at 1 - N/M (leave `sparsity`
    out or give that value) and every layer's count (no distribution but "uniform").

    A dynamic method (gmp, set, rigl) gives the mask its training starts from (GMP's is dense
    unless `initial_sparsity` is set); its mask then changes during training.

    Ablations: `shuffle=True` keeps the method's per-layer kept counts but moves the kept
    weights to random positions (seeded; random N of each M with a pattern); `invert=True`
    (score methods) keeps the LOWEST scores instead of the highest. Other keyword options go
    to the method (see `describe`).
    """
    entry = METHODS.get(method)
    distribution = distributions.from_scope(scope, distribution)
    pattern = patterns.parse_pattern(pattern) if pattern is not None else None
    if pattern is not None:
        sparsity = patterns.sparsity_of(pattern, sparsity)
        if distribution not in (None, "uniform"):
            raise SparsekitError(f"pattern {pattern} fixes every layer at {pattern.n} of each {pattern.m} weights; it "
                                 f"cannot follow distribution {distribution!r} (leave distribution out)")
    sparsity = check_sparsity(sparsity)
    _check_model(model)
    for name, flag in (("shuffle", shuffle), ("invert", invert), ("prune_first_layer", prune_first_layer),
                       ("prune_classifier", prune_classifier)):
        checks.boolean(name, flag)
    checks.whole_number("seed", seed, 0)
    if invert and entry.kind != "score":
        raise SparsekitError(f"invert=True needs a score method; {method!r} builds its mask directly")
    if entry.kind == "dynamic" and (shuffle or scope not in (None, "global")):
        raise SparsekitError(f"mask method {method!r} changes its mask during training: no shuffle ablation, and "
                             f"its layer counts come from the distribution option (global, uniform, erk), not scope")
    method_options = _method_options(entry, options, _ablations_of(entry))
    _check_data(entry, data)
    params = prunable_parameters(model, prune_first_layer, prune_classifier)
    if not params:
        raise SparsekitError("the model has no prunable Conv or Linear weights")
    if pattern is not None:  # before any scoring: SNIP or a lottery would be wasted
        patterns.check_layers({name: p.shape for name, p in params.items()}, pattern)
    check_keeps_some(sum(p.numel() for p in params.values()), sparsity)
    if entry.kind == "dynamic":
        if pattern is not None:
            raise SparsekitError(f"mask method {method!r} changes the mask during training and keeps no N:M pattern; "
                                 f"give the pattern to a score method")
        if distribution is not None:  # the dynamic methods take their layer counts as an option
            method_options.setdefault("distribution", distribution)
        return entry.build(params, sparsity, seed, **method_options).initial_mask(model, data)
    generator = _generator(seed)
    if entry.kind == "mask":
        layout = _layout_options(entry, distribution, pattern)
        scope = "layerwise" if distribution == "uniform" else "global"
        keep = entry.build(model, params, sparsity, data, scope, generator, **method_options, **layout)
    else:
        score_table = entry.build(model, params, data, **method_options)
        keep = _keep_top(lowest_first(score_table) if invert else score_table, sparsity, distribution, pattern)
    if shuffle:
        keep = shuffle_within_layers(keep, generator, pattern)
    return Mask(keep)


def _keep_top(scores: Dict[str, torch.Tensor], sparsity: float, distribution: Optional[str],
              pattern: Optional[patterns.Pattern]) -> Dict[str, torch.Tensor]:
    if pattern is not None:
        return patterns.keep_top_in_groups(scores, pattern)
    return distributions.keep_top_scores(scores, sparsity, distribution or "global")


def _layout_options(entry: MaskMethod, distribution: Optional[str], pattern) -> dict:
    """The distribution and pattern for a mask method that names them; for one that does not,
    a one-line error where its `scope` cannot carry the request."""
    layout = {}
    if distribution is not None and entry.distributions:
        if distribution not in entry.distributions:
            raise SparsekitError(f"mask method {entry.name!r} follows distribution {', '.join(entry.distributions)} "
                                 f"only, not {distribution!r}; use scope='global' or leave distribution out")
        layout["distribution"] = distribution
    elif distribution not in (None, "global", "uniform"):
        raise SparsekitError(f"mask method {entry.name!r} sets its own per-layer counts and cannot follow "
                             f"distribution {distribution!r}; leave distribution out (scope global|layerwise where "
                             f"the method offers them)")
    if pattern is not None:
        if not entry.takes("pattern"):
            able = [n for n in available() if METHODS.get(n).kind == "score" or METHODS.get(n).takes("pattern")]
            raise SparsekitError(f"mask method {entry.name!r} cannot build an N:M pattern; methods that can: "
                                 f"{', '.join(able)}")
        layout["pattern"] = pattern
    return layout


def _method_options(entry: MaskMethod, options: dict, allowed: Tuple[str, ...]) -> dict:
    """The options `entry` accepts, or a one-line error naming the ones it does not."""
    # A dynamic method keeps its layer counts all run, so its distribution is its own option.
    own = entry.options + (("distribution",) if entry.kind == "dynamic" and entry.takes("distribution") else ())
    unknown = sorted(set(options) - set(own) - set(CONTEXT_OPTIONS))
    if unknown:
        accepted = [n for n in own if n not in CONTEXT_OPTIONS] + list(allowed)
        raise SparsekitError(f"mask method {entry.name!r} has no option {unknown[0]!r}; it accepts: "
                             f"{', '.join(accepted) or 'no options'}")
    signature = inspect.signature(entry.build).parameters
    for name, value in options.items():
        if name in entry.options and name not in CONTEXT_OPTIONS:
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
    return {"score": ABLATION_OPTIONS, "mask": ("shuffle",)}.get(entry.kind, ())


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
