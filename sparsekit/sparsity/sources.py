"""A run's mask source, from its settings' masking section, and the `Sparsifier` it yields.

    source_of(masking, given) -> MaskSource          a given mask, a mask file, or a registry entry
    sparsifier_for(masking, model, seed=..., given=None, run=None) -> Sparsifier
    check(masking, given=..., parallel=...)          a plan that cannot work, refused before any work

Every source yields the run's sparsifier itself (`MaskSource.sparsifier`): a `OneShot` for a
given mask, a mask file, a score method or a procedure (lottery, ramanujan: `run` holds what
only a run has, its `train` and settings), the method's own for a dynamic one (gmp, set,
rigl), or, on `schedule="gmp"`, gradual pruning on a score method's scores (`--mask magnitude
--schedule gmp` is GMP; its GMP options sit beside the method's own in the mask options).
"""
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from torch import nn

from ..core.errors import SparsekitError
from ..core.mask import Mask
from . import registry
from .registry import METHODS
from .settings import DefaultSparsity, SparsitySettings
from .gradual import GMP_OPTIONS  # noqa: F401  (its long-standing home)
from .source_kinds import MaskSource
from .sparsifier import OneShot, Sparsifier

# How far a mask file's sparsity may sit from an explicit `sparsity` and still be "the same":
# a mask made at sparsity s keeps a rounded number of weights per layer, never half a percent off.
SPARSITY_TOLERANCE = 0.005

SCHEDULES = {
    "one-shot": "the mask is computed once, before training (dynamic methods follow their own schedule)",
    "gmp": "gradual pruning of a score method on the cubic schedule of Zhu & Gupta 2017",
}


class GivenMask(MaskSource):
    """A mask handed to the run (a `Mask`, or a `Sparsifier` used as it is)."""
    kind = "given"

    def __init__(self, mask):
        super().__init__("given", None, "a mask given to the run")
        self.given = mask

    def changes_in_training(self, schedule):
        return False

    def sparsifier(self, masking, model, seed, run=None):
        if isinstance(self.given, Sparsifier):
            return self.given
        return OneShot.of(self.given, {"method": "given"})


class MaskFile(MaskSource):
    """A saved mask, or the zeros of any checkpoint (`Mask.from_file`)."""
    kind = "file"

    def __init__(self, path: str):
        super().__init__("file", None, "a mask file or a checkpoint's zeros")
        self.path = path

    def check(self, masking, parallel=False):
        _check_trained_as_it_is(masking)
        if not Path(self.path).is_file():
            raise SparsekitError(f"mask or checkpoint file not found: {self.path}")

    def changes_in_training(self, schedule):
        return False

    def sparsifier(self, masking, model, seed, run=None):
        return OneShot(lambda model, data: self.load(masking, model), "file",
                       source={"method": "file", "path": str(self.path)})

    def load(self, masking: SparsitySettings, model: nn.Module) -> Mask:
        """The file's mask for `model`. The file decides the run's sparsity; an explicit `sparsity`
        that says otherwise would be recorded as the run's setting without being true: refused.
        Left at its default, the setting is not used (the record's top-level "sparsity" is the mask's)."""
        mask = Mask.from_file(self.path, model, masking.prune_first_layer, masking.prune_classifier)
        if isinstance(masking.sparsity, DefaultSparsity):
            return mask
        achieved, asked = mask.sparsity(), float(masking.sparsity)
        if abs(achieved - asked) > SPARSITY_TOLERANCE:
            raise SparsekitError(f"sparsity {asked:g} was given, but the mask file {self.path} has sparsity "
                                 f"{achieved:.4f}; drop sparsity (--sparsity): the mask decides it")
        return mask


def source_of(masking: SparsitySettings, given=None) -> MaskSource:
    """Where the run's mask comes from: what it was given, its mask file, or its mask method."""
    if given is not None:
        return GivenMask(given)
    if masking.mask_file:
        return MaskFile(masking.mask_file)
    return METHODS.get(masking.mask)


def check(masking: SparsitySettings, given: bool = False, parallel: bool = False) -> None:
    """The mask source, its options and the mask file, checked before any work is done.
    `given`: the run was handed a mask; `parallel`: it runs data-parallel (torchrun)."""
    if given:
        _check_trained_as_it_is(masking)
        return
    source = source_of(masking)
    if source.kind != "file":
        check_plan(masking.mask, masking.schedule)
    source.check(masking, parallel)


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
    if not entry.rescorable():
        fits = [name for name in registry.available() if METHODS.get(name).kind == "score"
                and METHODS.get(name).rescorable()]
        raise SparsekitError(f"schedule 'gmp' re-ranks the scores of the current weights at every update: it takes a "
                             f"score method that needs no data ({', '.join(fits)}), not {method!r}")


def changes_in_training(masking: SparsitySettings) -> bool:
    """Whether the settings ask for a mask that changes during training (a dynamic method, or a
    score method on schedule "gmp"); a mask file or a procedure's mask never does."""
    return source_of(masking).changes_in_training(masking.schedule)


def sparsifier_for(masking: SparsitySettings, model: nn.Module, *, seed: int = 0, given=None,
                   run: Optional[Mapping[str, Any]] = None) -> Sparsifier:
    """The run's sparsifier (see the module docstring)."""
    return source_of(masking, given).sparsifier(masking, model, seed, run)


def dynamic_sparsifier(method: str, model: nn.Module, sparsity: float, *, schedule: str = "one-shot",
                       distribution: Optional[str] = None, prune_first_layer: bool = True,
                       prune_classifier: bool = False, seed: int = 0,
                       options: Optional[Dict[str, Any]] = None) -> Optional[Sparsifier]:
    """The sparsifier of a mask that changes during training, or None for a one-shot mask."""
    check_plan(method, schedule)
    entry = METHODS.get(method)
    options = dict(options or {})
    if entry.kind == "dynamic":
        return entry.dynamic(model, sparsity, distribution, prune_first_layer, prune_classifier, seed, options)
    if schedule == "gmp":
        return entry.gradual(model, sparsity, distribution, prune_first_layer, prune_classifier, options)
    return None


def _check_trained_as_it_is(masking: SparsitySettings) -> None:
    if masking.schedule != "one-shot":
        raise SparsekitError(f"schedule {masking.schedule!r} prunes by a method's scores during training; a given "
                             f"mask or --mask-file is trained as it is (use --schedule one-shot)")
