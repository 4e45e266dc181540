"""The kinds of mask source, each one class: what an entry of the registry is and what it yields.

An entry knows its options (the keyword-only arguments of its function), checks a run's
masking settings against itself, builds its part of a mask for `registry.compute`, and yields
the run's `Sparsifier` (`sparsifier`): the one override point, as in torch.ao's sparsifiers.

- `ScoreMethod`: `fn(model, params, batches, *, option=default) -> {name: scores}`, cut to a
  distribution or an N:M pattern; on `schedule="gmp"` its scores of the current weights drive
  gradual pruning (`gradual.py`: the schedule is orthogonal to the score);
- `DynamicMethod`: `fn(params, sparsity, seed, *, option=default) -> Sparsifier` whose mask
  changes during training (gmp, set, rigl);
- `Procedure`: `fn(model, sparsity, batches, *, <run inputs it names>, option=default) -> Mask`,
  a mask found by training (lottery, ramanujan; they register from `sparsekit.runs`).
"""
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import torch
from torch import nn

from .. import data as datasets
from ..core import checks
from ..core.errors import SparsekitError
from ..core.mask import Mask
from ..core.prunable import prunable_parameters
from ..core.topk import check_sparsity, keep_count
from . import distributions, patterns
from .ablations import lowest_first, shuffle_within_layers
from .gradual import GMP_OPTIONS, GradualPruning, timing
from .settings import SparsitySettings
from .sparsifier import OneShot, Sparsifier


@dataclass(frozen=True)
class Layout:
    """What the scores will be cut to: the sparsity, the distribution and the N:M pattern (or None)."""
    sparsity: float
    distribution: str
    pattern: Optional[patterns.Pattern] = None


# What a procedure receives from whoever runs it (`registry.compute`, or a run), never as an option.
PROCEDURE_INPUTS = ("train", "train_config", "bundle", "out", "distribution", "prune_first_layer", "prune_classifier",
                    "seed", "generator")


class MaskSource:
    """One entry of the registry: a name, its function, a one-line summary."""
    kind = ""
    filled: Tuple[str, ...] = ()  # keyword arguments the source is handed, never options
    ablations: Tuple[str, ...] = ()  # options applied after the source (see ablations.py)

    def __init__(self, name: str, build: Optional[Callable], summary: str, needs_data: bool = False,
                 distribution: Optional[str] = None, progress_folder: Optional[str] = None):
        self.name, self.build, self.summary, self.needs_data = name, build, summary, needs_data
        # The distribution a score method's scores are cut to when none is asked for; a procedure's
        # when it follows one (None: it sets its own layer densities); None for a dynamic method.
        self.distribution = distribution
        # A procedure's folder under the run's out, where it keeps its progress (see `RunDirectory`).
        self.progress_folder = progress_folder

    @property
    def options(self) -> Tuple[str, ...]:
        """The source's own options: the keyword-only arguments of its function (none without one)."""
        return tuple(name for name, p in self._parameters().items()
                     if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in self.filled)

    def takes(self, name: str) -> bool:
        """Whether the source's function names `name`."""
        return name in self._parameters()

    def _parameters(self):
        return inspect.signature(self.build).parameters if self.build is not None else {}

    def check_options(self, options: Mapping[str, Any], also: Tuple[str, ...] = ()) -> Tuple[dict, dict]:
        """The one option checker: (own options, ablations) from `options`, or a one-line error
        naming an option the source lacks or a value of the wrong type. `also` names options a
        caller takes away before the source sees them (a schedule's own)."""
        options = dict(options)
        ablations = {name: checks.boolean(name, options.pop(name)) for name in self.ablations if name in options}
        unknown = sorted(set(options) - set(self.options) - set(also))
        if unknown:
            accepted = list(self.options) + list(self.ablations) + list(also)
            raise SparsekitError(f"mask method {self.name!r} has no option {unknown[0]!r}; it accepts: "
                                 f"{', '.join(accepted) or 'no options'}")
        signature = self._parameters()
        for name, value in options.items():
            if name in self.options:  # text where a number is wanted fails here, not mid-run
                checks.of_type(f"mask method {self.name!r} option {name}", value, signature[name].annotation)
        return {name: value for name, value in options.items() if name in self.options}, ablations

    def check_layout(self, distribution: Optional[str], pattern) -> None:
        """Whether the source can follow the distribution and N:M pattern asked for (None: not asked)."""

    def check(self, masking: SparsitySettings, parallel: bool = False) -> None:
        """A run's masking settings checked against this source, before any work."""
        self.check_layout(masking.distribution, masking.pattern)
        self.check_options(masking.mask_options)

    def changes_in_training(self, schedule: str) -> bool:
        return schedule != "one-shot"

    def compute(self, model: nn.Module, sparsity: Optional[float] = None, data=None, prune_first_layer: bool = True,
                prune_classifier: bool = False, seed: int = 0, shuffle: bool = False, invert: bool = False,
                distribution: Optional[str] = None, pattern: Optional[str] = None,
                procedure_inputs: Optional[Mapping[str, Any]] = None, **options) -> Mask:
        """`registry.compute` for this source: every check, then its own part (`keep`)."""
        if distribution is not None:
            distributions.check_distribution(distribution)
        pattern = patterns.parse_pattern(pattern) if pattern is not None else None
        if pattern is not None:
            sparsity = patterns.sparsity_of(pattern, sparsity)
            if distribution not in (None, "uniform") or self.distribution == "erk" and distribution is None:
                asked = repr(distribution) if distribution else f"{self.distribution!r} (the method's own)"
                raise SparsekitError(f"pattern {pattern} fixes every layer at {pattern.n} of each {pattern.m} weights; "
                                     f"it cannot follow distribution {asked}")
        sparsity = check_sparsity(sparsity)
        check_model(model)
        for name, flag in (("shuffle", shuffle), ("invert", invert), ("prune_first_layer", prune_first_layer),
                           ("prune_classifier", prune_classifier)):
            checks.boolean(name, flag)
        checks.whole_number("seed", seed, 0)
        asked = {**options, **{name: flag for name, flag in (("shuffle", shuffle), ("invert", invert)) if flag}}
        own, ablations = self.check_options(asked)
        self.check_layout(distribution, pattern)
        inputs = {**(procedure_inputs or {}), "distribution": distribution, "seed": seed,
                  "prune_first_layer": prune_first_layer, "prune_classifier": prune_classifier}
        self.check_inputs(tuple(inputs) + ("generator",))
        if self.needs_data and data is None:
            raise SparsekitError(f"mask method {self.name!r} scores weights with data: pass data= (batches of (x, y))")
        params = prunable_parameters(model, prune_first_layer, prune_classifier)
        if not params:
            raise SparsekitError("the model has no prunable Conv or Linear weights")
        if pattern is not None:  # before any scoring: SNIP on a large network would be wasted
            patterns.check_layers({name: p.shape for name, p in params.items()}, pattern)
        check_keeps_some(sum(p.numel() for p in params.values()), sparsity)
        generator = torch.Generator().manual_seed(int(seed))
        layout = Layout(sparsity, distribution or self.distribution, pattern)
        keep = self.keep(model, params, data, layout, generator, own, ablations, {**inputs, "generator": generator})
        if ablations.get("shuffle"):  # drawn after the source, from the same generator (as it always has been)
            keep = shuffle_within_layers(keep, generator, pattern)
        return Mask(keep)

    def check_inputs(self, given: Tuple[str, ...]) -> None:
        """Whether the source has what it needs beside its options (see `Procedure`)."""

    def keep(self, model: nn.Module, params, data, layout: Layout, generator: torch.Generator, own: dict,
             ablations: dict, inputs: Dict[str, Any]) -> Dict[str, torch.Tensor]:
        """Name -> kept: this source's part of `compute` (everything checked there)."""
        raise NotImplementedError

    def sparsifier(self, masking: SparsitySettings, model: nn.Module, seed: int,
                   run: Optional[Mapping[str, Any]] = None) -> Sparsifier:
        """The run's sparsifier from its masking settings (one-shot here); `run` holds what only
        a run has, for a procedure: its `train`, settings and out."""
        source = {"method": self.name, "sparsity": float(masking.sparsity)}
        # Only when asked for, so records of runs without them stay as they were.
        source.update({name: getattr(masking, name) for name in ("distribution", "pattern") if getattr(masking, name)})
        return OneShot(lambda model, data: self.one_shot_mask(masking, model, data, seed, run), self.name,
                       source=source)

    def one_shot_mask(self, masking: SparsitySettings, model: nn.Module, bundle, seed: int, run) -> Mask:
        """The mask on the run's scoring batches (a procedure may also train on the whole `bundle`)."""
        batches = scoring_batches(masking, bundle)
        return self.compute(model, float(masking.sparsity), data=batches, distribution=masking.distribution,
                            pattern=masking.pattern, prune_first_layer=masking.prune_first_layer,
                            prune_classifier=masking.prune_classifier, seed=seed,
                            procedure_inputs={"bundle": bundle, **dict(run or {})}, **masking.mask_options)


def scoring_batches(masking: SparsitySettings, bundle) -> list:
    """The batches a run's data-driven mask methods score on: `mask_examples_per_class` of
    every class in one batch (the references' choice), or the first `mask_batches` batches."""
    if masking.mask_examples_per_class:
        return datasets.balanced_examples(bundle.train, masking.mask_examples_per_class, bundle.num_classes)
    return datasets.first_batches(bundle.train, masking.mask_batches)


class ScoreMethod(MaskSource):
    kind = "score"
    # A scoring function whose scores depend on the mask being cut names `layout`, a random one
    # `generator`: `compute` hands them over.
    filled = ("layout", "generator")
    ablations = ("shuffle", "invert")

    def __init__(self, name, build, summary, needs_data=False, distribution="global"):
        distributions.check_distribution(distribution)
        super().__init__(name, build, summary, needs_data, distribution)

    def rescorable(self) -> bool:
        """Whether GMP can re-run it on the current weights: no data, no draw, no layout of its own."""
        return not self.needs_data and not self.takes("layout") and not self.takes("generator")

    def check(self, masking: SparsitySettings, parallel: bool = False) -> None:
        if masking.schedule != "gmp":
            super().check(masking, parallel)
            return
        if masking.pattern is not None:
            raise SparsekitError(f"pattern {masking.pattern} is kept by one-shot masks only; mask {self.name!r} with "
                                 f"schedule 'gmp' changes the mask during training")
        self.check_layout(masking.distribution, masking.pattern)
        self.gmp_options(masking.mask_options)

    def gmp_options(self, options: Mapping[str, Any]) -> dict:
        """The method's own options on GMP's schedule, whose timing options sit beside them."""
        own, ablations = self.check_options({k: v for k, v in options.items() if k not in GMP_OPTIONS},
                                            also=GMP_OPTIONS)
        if any(ablations.values()):
            raise SparsekitError(f"schedule 'gmp' changes the mask during training: no {', '.join(ablations)} "
                                 f"ablation")
        return own

    def sparsifier(self, masking, model, seed, run=None):
        if masking.schedule != "gmp":
            return super().sparsifier(masking, model, seed, run)
        return noted(self.gradual(model, float(masking.sparsity), masking.distribution, masking.prune_first_layer,
                                  masking.prune_classifier, masking.mask_options), masking)

    def gradual(self, model, sparsity, distribution, prune_first_layer, prune_classifier, options) -> GradualPruning:
        """Gradual pruning on this method's scores of the current weights (`schedule="gmp"`)."""
        own = self.gmp_options(options)
        params, when = _prunable(model, prune_first_layer, prune_classifier), timing(options)
        return GradualPruning(params, sparsity, lambda model, params: self.build(model, params, None, **own),
                              self.name, distribution, **when)

    def keep(self, model, params, data, layout, generator, own, ablations, inputs):
        drawn = {name: value for name, value in (("layout", layout), ("generator", generator)) if self.takes(name)}
        scores = self.build(model, params, data, **own, **drawn)
        return cut(lowest_first(scores) if ablations.get("invert") else scores, layout)


class DynamicMethod(MaskSource):
    kind = "dynamic"

    def check_layout(self, distribution, pattern):
        if pattern is not None:
            raise SparsekitError(f"mask method {self.name!r} changes the mask during training and keeps no N:M "
                                 f"pattern; give the pattern to a static method")

    def check(self, masking, parallel=False):
        if masking.pattern is not None:
            raise SparsekitError(f"pattern {masking.pattern} is kept by one-shot masks only; mask {self.name!r} with "
                                 f"schedule {masking.schedule!r} changes the mask during training")
        super().check(masking, parallel)

    def check_options(self, options, also=()):
        if any(dict(options).get(name) for name in ScoreMethod.ablations):
            raise SparsekitError(f"mask method {self.name!r} changes its mask during training: no shuffle or invert "
                                 f"ablation")
        return super().check_options(options, also)

    def changes_in_training(self, schedule):
        return True

    def dynamic(self, model, sparsity, distribution, prune_first_layer, prune_classifier, seed, options) -> Sparsifier:
        """The sparsifier itself; the `distribution` setting is the method's option of that name."""
        chosen, _ = self.check_options(options)
        if distribution is not None:
            chosen["distribution"] = distribution
        return self.build(_prunable(model, prune_first_layer, prune_classifier), sparsity, seed, **chosen)

    def keep(self, model, params, data, layout, generator, own, ablations, inputs):
        if inputs["distribution"] is not None:  # the dynamic methods take their layer counts as an option
            own.setdefault("distribution", inputs["distribution"])
        return self.build(params, layout.sparsity, inputs["seed"], **own).initial_mask(model, data)

    def sparsifier(self, masking, model, seed, run=None):
        return noted(self.dynamic(model, float(masking.sparsity), masking.distribution, masking.prune_first_layer,
                                  masking.prune_classifier, seed, masking.mask_options), masking)


class Procedure(MaskSource):
    kind = "procedure"
    filled = PROCEDURE_INPUTS
    ablations = ("shuffle",)

    def __init__(self, name, build, summary, follows_distribution: bool, progress_folder=None):
        super().__init__(name, build, summary, True, "global" if follows_distribution else None, progress_folder)

    def trains_runs(self) -> bool:
        """Whether it trains whole runs (the lottery): never inside a data-parallel run."""
        return self.takes("train")

    def check_layout(self, distribution, pattern):
        if pattern is not None:
            raise SparsekitError(f"mask method {self.name!r} cannot build an N:M pattern; give the pattern to a static "
                                 f"method")
        if distribution is not None and self.distribution is None:
            raise SparsekitError(f"mask method {self.name!r} sets its own layer densities (its densities option); "
                                 f"leave distribution out")

    def check(self, masking, parallel=False):
        if masking.schedule != "one-shot":
            raise SparsekitError(f"mask method {self.name!r} finds its mask before training; use --schedule one-shot "
                                 f"with it")
        super().check(masking, parallel)
        if parallel and self.trains_runs():
            raise SparsekitError(f"the {self.name} mask cannot be computed inside a data-parallel run; compute it "
                                 f"first (sparsekit mask --method {self.name} --out {self.name}.pt) and train it with "
                                 f"--mask-file")

    def changes_in_training(self, schedule):
        return False

    def check_inputs(self, given):
        takes = self._parameters()
        missing = [name for name in PROCEDURE_INPUTS if name in takes and name not in given
                   and takes[name].default is inspect.Parameter.empty]
        if missing:
            raise SparsekitError(f"mask method {self.name!r} trains whole runs (it needs a run's {missing[0]}): train "
                                 f"it with sparsekit.train(mask={self.name!r}, ...)")

    def keep(self, model, params, data, layout, generator, own, ablations, inputs):
        takes = self._parameters()
        return self.build(model, layout.sparsity, data, **own,
                          **{name: value for name, value in inputs.items() if name in takes})


def noted(sparsifier: Sparsifier, masking: SparsitySettings) -> Sparsifier:
    """A sparsifier whose mask changes during training, with the note of where it came from."""
    sparsifier.source = {"method": masking.mask, "sparsity": float(masking.sparsity), "schedule": masking.schedule,
                         "distribution": sparsifier.distribution}
    return sparsifier


def cut(scores: Dict[str, torch.Tensor], layout: Layout) -> Dict[str, torch.Tensor]:
    """Name -> bool tensor: the top scores as `layout` counts them (exact, ties to the earlier position)."""
    if layout.pattern is not None:
        return patterns.keep_top_in_groups(scores, layout.pattern)
    return distributions.keep_top_scores(scores, layout.sparsity, layout.distribution)


def check_keeps_some(total: int, sparsity: float) -> None:
    """A sparsity that keeps no weight of the `total` leaves nothing to train: refuse it.
    (One that empties only some layers is allowed, with a warning: see analysis.)"""
    if total and keep_count(total, 1.0 - sparsity) == 0:
        raise SparsekitError(f"sparsity {sparsity} keeps no weight at all: (1 - s) * N rounds (half up) to 0 of the "
                             f"model's N = {total} prunable weights; use a sparsity below {1 - 0.5 / total:.10g}")


def check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise SparsekitError(f"model must be a torch nn.Module (see sparsekit.models.build), got "
                             f"{type(model).__name__}")


def _prunable(model: nn.Module, prune_first_layer: bool, prune_classifier: bool):
    params = prunable_parameters(model, prune_first_layer, prune_classifier)
    if not params:
        raise SparsekitError("the model has no prunable Conv or Linear weights")
    return params
