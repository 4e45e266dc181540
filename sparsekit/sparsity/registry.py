"""The one table of mask sources, its one option checker, and the one call that runs any of them.

Every name a run's `mask` setting accepts is one entry here (`available()` lists them all;
`sparsity/sources.py` turns any entry into the run's `Sparsifier`). Three kinds register:
- a *score* method is one scoring function, `fn(model, params, batches, *, option=default,
  ...) -> {name: score tensor}` (higher = keep); `compute` keeps the top scores with an exact
  count, as many per layer as the distribution says (`distributions.py`: global, uniform,
  even, erk) or N of every M with an N:M pattern (`patterns.py`), then applies the
  `shuffle`/`invert` ablations. Each method declares the distribution it uses when none is
  asked for (global for most; `random` keeps the same fraction per layer, `erk` is `random`
  at ERK densities). A scoring function whose scores depend on the mask being built names
  `layout` (the `Layout` it will be cut to: SynFlow's rounds prune toward it) and a random one
  names `generator` (the seeded draw); those two come from `compute`, never from the caller;
- a *dynamic* method returns a `Sparsifier` whose mask changes during training (GMP, SET,
  RigL); `compute` gives the mask its training starts from;
- a *procedure* finds a mask by training: `fn(model, sparsity, batches, *, option=default,
  ...) -> Mask`. The lottery ticket and Ramanujan sampling register from `sparsekit/runs/`
  (they train, so they live above the trainer); whatever a run fills in for them (its `train`
  function, its settings, its data bundle) is named in `PROCEDURE_INPUTS`, never an option.

A source's own options are the other keyword-only arguments of its function: `check_options`
reads them from the signature, so an unknown option fails with a list of the accepted ones
without any per-method code, whatever the kind.
"""
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

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


# What `compute` itself hands a scoring function that names it (see the module docstring).
DRAWN_INPUTS = ("layout", "generator")
# What a procedure receives from whoever runs it (`compute`, or a run: `sources.sparsifier_for`).
PROCEDURE_INPUTS = ("train", "train_config", "bundle", "out", "distribution", "prune_first_layer", "prune_classifier",
                    "seed", "generator")
# Options every source of a kind takes besides its own, applied after it (see ablations.py).
ABLATIONS = {"score": ("shuffle", "invert"), "procedure": ("shuffle",), "dynamic": ()}
ABLATION_OPTIONS = ABLATIONS["score"]


@dataclass(frozen=True)
class MaskSource:
    name: str
    build: Callable
    kind: str  # "score", "dynamic" or "procedure"
    needs_data: bool
    summary: str
    # The distribution a score method's scores are cut to when none is asked for; a procedure's
    # when it follows one (None: it sets its own layer densities); None for a dynamic method.
    distribution: Optional[str] = "global"
    # A procedure's folder under the run's out, where it keeps its progress (see `RunDirectory`).
    progress_folder: Optional[str] = None

    @property
    def options(self) -> Tuple[str, ...]:
        """The source's own options: the keyword-only arguments of its function."""
        filled = PROCEDURE_INPUTS if self.kind == "procedure" else DRAWN_INPUTS
        return tuple(name for name, p in inspect.signature(self.build).parameters.items()
                     if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in filled)

    @property
    def ablations(self) -> Tuple[str, ...]:
        return ABLATIONS[self.kind]

    def takes(self, name: str) -> bool:
        """Whether the source's function names `name`."""
        return name in inspect.signature(self.build).parameters

    def trains_runs(self) -> bool:
        """Whether it trains whole runs (the lottery): never inside a data-parallel run."""
        return self.kind == "procedure" and self.takes("train")


METHODS = Registry("mask method")


def register_scores(name: str, summary: str, needs_data: bool = False, distribution: str = "global"):
    """Register `fn(model, params, batches, *, option=default, ...) -> {name: score tensor}`,
    cut to `distribution` when none is asked for."""
    distributions.check_distribution(distribution)

    def add(fn):
        METHODS.register(name)(MaskSource(name, fn, "score", needs_data, summary, distribution))
        return fn
    return add


def register_alias(name: str, of: str, summary: str, distribution: str):
    """Register `name` as method `of` with another default distribution (`erk` is `random`
    at ERK densities: the same mask from the same seed)."""
    entry = METHODS.get(of)
    METHODS.register(name)(MaskSource(name, entry.build, entry.kind, entry.needs_data, summary, distribution))


def register_dynamic(name: str, summary: str):
    """Register `fn(params, sparsity, seed, *, option=default, ...) -> Sparsifier`."""
    def add(fn):
        METHODS.register(name)(MaskSource(name, fn, "dynamic", False, summary, None))
        return fn
    return add


def register_procedure(name: str, summary: str, follows_distribution: bool, progress_folder: Optional[str] = None):
    """Register `fn(model, sparsity, batches, *, <PROCEDURE_INPUTS it names>, option=default, ...) -> Mask`:
    a mask found by training (it follows the run's distribution, or sets its own densities)."""
    def add(fn):
        METHODS.register(name)(MaskSource(name, fn, "procedure", True, summary,
                                          "global" if follows_distribution else None, progress_folder))
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
    """One row per source, for listings: name, kind, options (ablations included), summary,
    the distributions it follows and its default, and whether it builds N:M patterns."""
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
    """The one option checker: (the source's own options, its ablations) from `options`, or a
    one-line error naming an option it lacks or a value of the wrong type. `also` names options
    a caller takes away before the source sees them (a schedule's own)."""
    entry = METHODS.get(method)
    options = dict(options)
    if entry.kind == "dynamic" and any(options.get(name) for name in ABLATION_OPTIONS):
        raise SparsekitError(f"mask method {method!r} changes its mask during training: no shuffle or invert "
                             f"ablation")
    ablations = {name: checks.boolean(name, options.pop(name)) for name in entry.ablations if name in options}
    own = entry.options  # a dynamic method's distribution among them: it keeps its layer counts all run
    unknown = sorted(set(options) - set(own) - set(also))
    if unknown:
        accepted = list(own) + list(entry.ablations) + list(also)
        raise SparsekitError(f"mask method {entry.name!r} has no option {unknown[0]!r}; it accepts: "
                             f"{', '.join(accepted) or 'no options'}")
    signature = inspect.signature(entry.build).parameters
    for name, value in options.items():
        if name in own:  # text where a number is wanted fails here, not mid-run
            checks.of_type(f"mask method {entry.name!r} option {name}", value, signature[name].annotation)
    return {name: value for name, value in options.items() if name in own}, ablations


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def scores(method: str, model: nn.Module, data: Optional[Iterable] = None, prune_first_layer: bool = True,
           prune_classifier: bool = False, **options) -> Dict[str, torch.Tensor]:
    """Per-weight scores of a score method whose scores do not depend on the mask being cut
    (higher = more worth keeping)."""
    entry = METHODS.get(method)
    _check_model(model)
    if entry.kind != "score" or entry.takes("layout") or entry.takes("generator"):
        plain = [n for n in available() if METHODS.get(n).kind == "score" and not METHODS.get(n).takes("layout")
                 and not METHODS.get(n).takes("generator")]
        raise SparsekitError(f"mask method {method!r} has no scores apart from the mask it builds; methods with "
                             f"scores of their own: {', '.join(plain)}")
    _check_data(entry, data)
    params = prunable_parameters(model, prune_first_layer, prune_classifier)
    own, ablations = check_options(method, options)
    if ablations:
        raise SparsekitError(f"mask method {method!r} scores: {', '.join(ablations)} applies to a mask (compute)")
    return entry.build(model, params, data, **own)


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
    asked = {**options, **{name: flag for name, flag in (("shuffle", shuffle), ("invert", invert)) if flag}}
    own, ablations = check_options(method, asked)
    check_layout(method, distribution, pattern)
    procedure_inputs = {**(procedure_inputs or {}), "distribution": distribution, "seed": seed,
                        "prune_first_layer": prune_first_layer, "prune_classifier": prune_classifier}
    if entry.kind == "procedure":
        _check_inputs(entry, tuple(procedure_inputs) + ("generator",))
    _check_data(entry, data)
    params = prunable_parameters(model, prune_first_layer, prune_classifier)
    if not params:
        raise SparsekitError("the model has no prunable Conv or Linear weights")
    if pattern is not None:  # before any scoring: SNIP on a large network would be wasted
        patterns.check_layers({name: p.shape for name, p in params.items()}, pattern)
    check_keeps_some(sum(p.numel() for p in params.values()), sparsity)
    generator = _generator(seed)
    if entry.kind == "dynamic":
        if distribution is not None:  # the dynamic methods take their layer counts as an option
            own.setdefault("distribution", distribution)
        return entry.build(params, sparsity, seed, **own).initial_mask(model, data)
    if entry.kind == "procedure":
        keep = run_procedure(method, model, sparsity, data, own, generator=generator, **procedure_inputs)
    else:
        layout = Layout(sparsity, distribution or entry.distribution, pattern)
        drawn = {name: value for name, value in (("layout", layout), ("generator", generator)) if entry.takes(name)}
        score_table = entry.build(model, params, data, **own, **drawn)
        keep = cut(lowest_first(score_table) if ablations.get("invert") else score_table, layout)
    if ablations.get("shuffle"):  # drawn after the method, from the same generator (as it always has been)
        keep = shuffle_within_layers(keep, generator, pattern)
    return Mask(keep)


def run_procedure(method: str, model: nn.Module, sparsity: float, batches, options: Mapping[str, Any],
                  **inputs) -> Mask:
    """A procedure's mask: its own (checked) `options`, and those of `inputs` it names
    (`PROCEDURE_INPUTS`); one it needs and was not given fails with one line."""
    entry = METHODS.get(method)
    _check_inputs(entry, tuple(inputs))
    takes = inspect.signature(entry.build).parameters
    return entry.build(model, sparsity, batches, **options,
                       **{name: value for name, value in inputs.items() if name in takes})


def check_layout(method: str, distribution: Optional[str], pattern) -> None:
    """Whether `method` can follow the distribution and the N:M pattern asked for (None: not asked)."""
    entry = METHODS.get(method)
    if pattern is not None and entry.kind == "dynamic":
        raise SparsekitError(f"mask method {method!r} changes the mask during training and keeps no N:M pattern; "
                             f"give the pattern to a static method")
    if pattern is not None and entry.kind == "procedure":
        raise SparsekitError(f"mask method {method!r} cannot build an N:M pattern; give the pattern to a static method")
    if distribution is not None and entry.kind == "procedure" and entry.distribution is None:
        raise SparsekitError(f"mask method {method!r} sets its own layer densities (its densities option); leave "
                             f"distribution out")


def _check_inputs(entry: MaskSource, given: Tuple[str, ...]) -> None:
    """A procedure that needs what only a run has (its `train`) is refused outside a run."""
    takes = inspect.signature(entry.build).parameters
    missing = [name for name in PROCEDURE_INPUTS if name in takes and name not in given
               and takes[name].default is inspect.Parameter.empty]
    if missing:
        raise SparsekitError(f"mask method {entry.name!r} trains whole runs (it needs a run's {missing[0]}): train "
                             f"it with sparsekit.train(mask={entry.name!r}, ...)")


def cut(scores: Dict[str, torch.Tensor], layout: Layout) -> Dict[str, torch.Tensor]:
    """Name -> bool tensor: the top scores as `layout` counts them (exact, ties to the earlier position)."""
    if layout.pattern is not None:
        return patterns.keep_top_in_groups(scores, layout.pattern)
    return distributions.keep_top_scores(scores, layout.sparsity, layout.distribution)


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


def _check_data(entry: MaskSource, data) -> None:
    if entry.needs_data and data is None:
        raise SparsekitError(f"mask method {entry.name!r} scores weights with data: pass data= (batches of (x, y))")
