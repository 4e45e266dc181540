"""A run's mask source as its `Sparsifier`: the settings' masking section in, one sparsifier out.

    sparsifier_for(masking, model, seed=..., given=None, run=None) -> Sparsifier

Whatever the settings name, the answer is one of:
- a mask given to the run (a `Mask`, or a `Sparsifier` used as it is) or a mask file: a `OneShot`;
- a dynamic method (gmp, set, rigl), or a score method on `schedule="gmp"` (gradual pruning on
  that score: `--mask magnitude --schedule gmp` is GMP, its GMP options beside the method's own
  in the mask options): the sparsifier that changes the mask during training;
- anything else in the registry, a score method or a procedure (lottery, ramanujan): a
  `OneShot` around `registry.compute` / `registry.run_procedure` on the run's data. `run`
  holds what only a run has, which a procedure may name (`registry.PROCEDURE_INPUTS`): the
  lottery trains its rounds with the run's `train` and settings.

`check(masking, given=..., parallel=...)` refuses, before any work, a plan that cannot work.
"""
import inspect
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from torch import nn

from .. import data as datasets
from ..core.errors import SparsekitError
from ..core.mask import Mask
from ..core.prunable import prunable_parameters
from . import dynamic_gmp, registry
from .registry import METHODS
from .settings import SparsitySettings
from .sparsifier import OneShot, Sparsifier

SCHEDULES = {
    "one-shot": "the mask is computed once, before training (dynamic methods follow their own schedule)",
    "gmp": "gradual pruning of a score method on the cubic schedule of Zhu & Gupta 2017",
}
GMP_OPTIONS = tuple(name for name, p in inspect.signature(dynamic_gmp.gradual_magnitude_pruning).parameters.items()
                    if p.kind is inspect.Parameter.KEYWORD_ONLY and name != "distribution")


def check(masking: SparsitySettings, given: bool = False, parallel: bool = False) -> None:
    """The mask source, its options and the mask file, checked before any work is done.
    `given`: the run was handed a mask; `parallel`: it runs data-parallel (torchrun)."""
    if given or masking.mask_file:
        if masking.schedule != "one-shot":
            raise SparsekitError(f"schedule {masking.schedule!r} prunes by a method's scores during training; a "
                                 f"given mask or --mask-file is trained as it is (use --schedule one-shot)")
        if not given and not Path(masking.mask_file).is_file():
            raise SparsekitError(f"mask or checkpoint file not found: {masking.mask_file}")
        return
    name = masking.mask
    entry = METHODS.get(name)
    check_plan(name, masking.schedule)
    if masking.pattern is not None and changes_in_training(masking):
        raise SparsekitError(f"pattern {masking.pattern} is kept by one-shot masks only; mask {name!r} with "
                             f"schedule {masking.schedule!r} changes the mask during training")
    registry.check_layout(name, masking.distribution, masking.pattern)
    gmp_schedule = masking.schedule == "gmp" and name != "gmp"
    _, ablations = registry.check_options(name, masking.mask_options, also=GMP_OPTIONS if gmp_schedule else ())
    if gmp_schedule and any(ablations.values()):
        raise SparsekitError(f"schedule 'gmp' changes the mask during training: no {', '.join(ablations)} ablation")
    if parallel and entry.trains_runs():
        raise SparsekitError(f"the {name} mask cannot be computed inside a data-parallel run; compute it first "
                             f"(sparsekit mask --method {name} --out {name}.pt) and train it with --mask-file")


def check_plan(method: str, schedule: str) -> None:
    """Refuse a method/schedule combination with one line."""
    if schedule not in SCHEDULES:
        raise SparsekitError(f"unknown schedule {schedule!r}; choose one of: {', '.join(SCHEDULES)}")
    entry = METHODS.get(method)
    if schedule != "gmp" or method == "gmp":
        return
    if entry.kind == "dynamic":
        raise SparsekitError(f"mask method {method!r} follows its own schedule; use --schedule one-shot with it")
    if entry.kind == "procedure":
        raise SparsekitError(f"mask method {method!r} finds its mask before training; use --schedule one-shot with it")
    if not _rescorable(entry):
        fits = [name for name in registry.available() if _rescorable(METHODS.get(name))]
        raise SparsekitError(f"schedule 'gmp' re-ranks the scores of the current weights at every update: it takes a "
                             f"score method that needs no data ({', '.join(fits)}), not {method!r}")


def changes_in_training(masking: SparsitySettings) -> bool:
    """Whether the settings ask for a mask that changes during training (a dynamic method, or a
    score method on schedule "gmp"); a mask file or a procedure's mask never does."""
    if masking.mask_file or METHODS.get(masking.mask).kind == "procedure":
        return False
    return masking.schedule != "one-shot" or registry.is_dynamic(masking.mask)


def sparsifier_for(masking: SparsitySettings, model: nn.Module, *, seed: int = 0, given=None,
                   run: Optional[Mapping[str, Any]] = None) -> Sparsifier:
    """The run's sparsifier (see the module docstring); `run` fills a procedure's run inputs."""
    if isinstance(given, Sparsifier):
        return given
    if given is not None:
        return OneShot.of(given, {"method": "given"})
    if masking.mask_file:
        return OneShot(lambda model, data: Mask.from_file(masking.mask_file, model, masking.prune_first_layer,
                                                          masking.prune_classifier),
                       "file", source={"method": "file", "path": str(masking.mask_file)})
    sparsity = float(masking.sparsity)
    if changes_in_training(masking):
        dynamic = dynamic_sparsifier(masking.mask, model, sparsity, schedule=masking.schedule,
                                     distribution=masking.distribution, prune_first_layer=masking.prune_first_layer,
                                     prune_classifier=masking.prune_classifier, seed=seed,
                                     options=masking.mask_options)
        dynamic.source = {"method": masking.mask, "sparsity": sparsity, "schedule": masking.schedule,
                          "distribution": dynamic.distribution}
        return dynamic
    source = {"method": masking.mask, "sparsity": sparsity}
    # Only when asked for, so records of runs without them stay as they were.
    source.update({name: getattr(masking, name) for name in ("distribution", "pattern") if getattr(masking, name)})
    return OneShot(lambda model, data: _one_shot_mask(masking, model, data, seed, dict(run or {})), masking.mask,
                   source=source)


def _one_shot_mask(masking: SparsitySettings, model: nn.Module, bundle, seed: int, run: Dict[str, Any]) -> Mask:
    """The mask `masking.mask` gives `model`: scored on the run's scoring batches; a procedure
    may also train on the whole `bundle`."""
    if masking.mask_examples_per_class:
        batches = datasets.balanced_examples(bundle.train, masking.mask_examples_per_class, bundle.num_classes)
    else:
        batches = datasets.first_batches(bundle.train, masking.mask_batches)
    return registry.compute(masking.mask, model, float(masking.sparsity), data=batches,
                            distribution=masking.distribution, pattern=masking.pattern,
                            prune_first_layer=masking.prune_first_layer, prune_classifier=masking.prune_classifier,
                            seed=seed, procedure_inputs={"bundle": bundle, **run}, **masking.mask_options)


def dynamic_sparsifier(method: str, model: nn.Module, sparsity: float, *, schedule: str = "one-shot",
                       distribution: Optional[str] = None, prune_first_layer: bool = True,
                       prune_classifier: bool = False, seed: int = 0,
                       options: Optional[Dict[str, Any]] = None) -> Optional[Sparsifier]:
    """The sparsifier of a mask that changes during training, or None for a one-shot mask."""
    check_plan(method, schedule)
    entry = METHODS.get(method)
    if entry.kind != "dynamic" and schedule != "gmp":
        return None
    params = prunable_parameters(model, prune_first_layer, prune_classifier)
    if not params:
        raise SparsekitError("the model has no prunable Conv or Linear weights")
    options = dict(options or {})
    if entry.kind == "dynamic":
        chosen, _ = registry.check_options(method, options)
        if distribution is not None:  # the setting; a `distribution=` mask option says the same
            chosen["distribution"] = distribution
        return entry.build(params, sparsity, seed, **chosen)
    own, ablations = registry.check_options(method, {k: v for k, v in options.items() if k not in GMP_OPTIONS})
    if any(ablations.values()):
        raise SparsekitError(f"schedule 'gmp' changes the mask during training: no {', '.join(ablations)} ablation")
    timing = {name: value for name, value in options.items() if name in GMP_OPTIONS}

    def scores(model, params):
        return entry.build(model, params, None, **own)

    return dynamic_gmp.GradualPruning(params, sparsity, scores, method, distribution, **{**_gmp_defaults(), **timing})


def _rescorable(entry) -> bool:
    """A score method GMP can re-run on the current weights: no data, no draw, no layout of its own."""
    return entry.kind == "score" and not entry.needs_data and not entry.takes("layout") \
        and not entry.takes("generator")


def _gmp_defaults() -> Dict[str, Any]:
    return {name: p.default for name, p in inspect.signature(dynamic_gmp.gradual_magnitude_pruning).parameters.items()
            if name in GMP_OPTIONS}
