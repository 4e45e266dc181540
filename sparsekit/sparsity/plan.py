"""Which sparsifier a run's settings ask for: method x schedule x distribution.

- a dynamic method (gmp, set, rigl) is its own sparsifier, with its own schedule;
- a score method with `schedule="gmp"` is gradual pruning on that score (`--mask magnitude
  --schedule gmp` is GMP); its GMP options (update_every, initial_sparsity, start_at, end_at)
  sit beside the method's own in the mask options;
- anything else is one-shot: `dynamic_sparsifier` returns None and the caller wraps the
  mask computation it already has in a `OneShot`.

`check_plan` refuses a combination that cannot work, before any work is done.
"""
import inspect
from typing import Any, Dict, Optional

from torch import nn

from ..core.errors import SparsekitError
from ..core.prunable import prunable_parameters
from . import dynamic_gmp
from .registry import METHODS, _method_options, available
from .sparsifier import Sparsifier

SCHEDULES = {
    "one-shot": "the mask is computed once, before training (dynamic methods follow their own schedule)",
    "gmp": "gradual pruning of a score method on the cubic schedule of Zhu & Gupta 2017",
}
GMP_OPTIONS = tuple(name for name, p in inspect.signature(dynamic_gmp.gradual_magnitude_pruning).parameters.items()
                    if p.kind is inspect.Parameter.KEYWORD_ONLY and name != "distribution")


def check_plan(method: str, schedule: str) -> None:
    """Refuse a method/schedule combination with one line."""
    if schedule not in SCHEDULES:
        raise SparsekitError(f"unknown schedule {schedule!r}; choose one of: {', '.join(SCHEDULES)}")
    entry = METHODS.get(method)
    if schedule != "gmp" or method == "gmp":
        return
    if entry.kind == "dynamic":
        raise SparsekitError(f"mask method {method!r} follows its own schedule; use --schedule one-shot with it")
    if not _rescorable(entry):
        fits = [name for name in available() if _rescorable(METHODS.get(name))]
        raise SparsekitError(f"schedule 'gmp' re-ranks the scores of the current weights at every update: it takes a "
                             f"score method that needs no data ({', '.join(fits)}), not {method!r}")


def dynamic_sparsifier(method: str, model: nn.Module, sparsity: float, *, schedule: str = "one-shot",
                       distribution: Optional[str] = None, prune_first_layer: bool = True,
                       prune_classifier: bool = False, seed: int = 0,
                       options: Optional[Dict[str, Any]] = None) -> Optional[Sparsifier]:
    """The sparsifier of a mask that changes during training, or None for a one-shot mask."""
    check_plan(method, schedule)
    entry = METHODS.get(method)
    options = dict(options or {})
    if entry.kind != "dynamic" and schedule != "gmp":
        return None
    params = prunable_parameters(model, prune_first_layer, prune_classifier)
    if not params:
        raise SparsekitError("the model has no prunable Conv or Linear weights")
    if entry.kind == "dynamic":
        chosen = _method_options(entry, options, ())
        if distribution is not None:  # the setting; a `distribution=` mask option says the same
            chosen["distribution"] = distribution
        return entry.build(params, sparsity, seed, **chosen)
    own = {name: value for name, value in options.items() if name not in GMP_OPTIONS}
    timing = {name: value for name, value in options.items() if name in GMP_OPTIONS}
    own = _method_options(entry, own, GMP_OPTIONS)

    def scores(model, params):
        return entry.build(model, params, None, **own)

    return dynamic_gmp.GradualPruning(params, sparsity, scores, method, distribution, **{**_gmp_defaults(), **timing})


def _rescorable(entry) -> bool:
    """A static method GMP can re-run on the current weights: no data, no draw, no layout of its own."""
    return entry.kind == "score" and not entry.needs_data and not entry.takes("layout") \
        and not entry.takes("generator")


def _gmp_defaults() -> Dict[str, Any]:
    return {name: p.default for name, p in inspect.signature(dynamic_gmp.gradual_magnitude_pruning).parameters.items()
            if name in GMP_OPTIONS}
