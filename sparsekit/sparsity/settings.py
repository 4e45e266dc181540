"""The sparsity section of a run's settings: which mask, how sparse, which weights it covers.

`mask_options` are the method's own options as typed Python values (`{"shuffle": True}`,
`{"rounds": 10}`); text such as "rounds=10, shuffle=true" (the command line's form) is read
into the same values.
"""
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from ..core.checks import whole_number
from ..core.errors import SparsekitError
from ..core.fields import check_declared, setting
from ..core.topk import check_sparsity
from ..core.nm_groups import parse_pattern
from .distributions import check_distribution
from .options import parse_options

SPARSITY_DEFAULT = 0.9


class DefaultSparsity(float):
    """A sparsity nobody gave: 0.9, or 1 - N/M with a pattern N:M (re-derived whenever the
    pattern changes). A sparsity given explicitly is a plain number and must agree with a
    pattern, whatever its value (0.9 included): the two cannot be told apart by value alone.
    `TrainConfig` hands out plain floats; only the section itself holds this marker."""

    def __repr__(self) -> str:
        return float.__repr__(self)


@dataclass(frozen=True)
class SparsitySettings:
    mask: str = setting("random", "mask method (see `sparsekit list`); --sparsity 0 trains the dense network",
                        shapes_mask=True)
    mask_file: Optional[str] = setting(None, "use this saved mask, or the zeros of this checkpoint, instead of --mask",
                                       shapes_mask=True)
    sparsity: float = setting(DefaultSparsity(SPARSITY_DEFAULT), "fraction of prunable weights removed, in [0, 1) (with --pattern N:M: 1 - N/M, "
                                   "set by the pattern when left at 0.9)", shapes_mask=True)
    distribution: Optional[str] = setting(None, "how many weights each layer keeps: global | uniform | even | erk "
                                                "(default: the method's own, see `sparsekit list`)",
                                          shapes_mask=True)
    schedule: str = setting("one-shot", "when the mask is decided: 'one-shot' (before training; the dynamic methods "
                                        "gmp, set and rigl follow their own schedule) or 'gmp' (a score method's "
                                        "weights pruned gradually on the cubic schedule: --mask magnitude "
                                        "--schedule gmp is GMP)", choices=("one-shot", "gmp"), shapes_mask=True)
    pattern: Optional[str] = setting(None, "N:M pattern: keep exactly N of every M consecutive weights along the "
                                           "input dimension, e.g. 2:4", shapes_mask=True)
    prune_first_layer: bool = setting(True, "let the mask prune the first conv layer", shapes_mask=True)
    prune_classifier: bool = setting(False, "let the mask prune the final linear classifier (the ToST release "
                                            "keeps it dense; Synaptic-Flow prunes it)", shapes_mask=True)
    mask_examples_per_class: int = setting(10, "data-driven mask methods (SNIP, GraSP) score on this many training "
                                               "examples of every class (the references' 10); 0 = use --mask-batches",
                                           shapes_mask=True)
    mask_batches: int = setting(1, "with --mask-examples-per-class 0: training batches shown to SNIP and GraSP",
                                shapes_mask=True)
    mask_options: Mapping[str, Any] = setting(
        None, "options of the mask method: in Python a dict of typed values ({'rounds': 10}); on the "
        "command line 'name=value, ...', e.g. 'rounds=10' (synflow), 'shuffle=true' or 'invert=true' (ablations), "
        "'round_epochs=2, rewind_steps=50' (lottery), 'update_every=100, drop_fraction=0.3, end_at=0.75' (rigl, set), "
        "'initial_sparsity=0, start_at=0, end_at=0.75' (gmp); none by default", shapes_mask=True, own_check=True)

    def __post_init__(self):
        # A pattern fixes the sparsity at 1 - N/M: a sparsity left at its default takes that value
        # (so the record says what the mask is); a given one must equal it (`_check_mask_layout`).
        if isinstance(self.sparsity, DefaultSparsity):
            level = parse_pattern(self.pattern).sparsity if isinstance(self.pattern, str) else SPARSITY_DEFAULT
            object.__setattr__(self, "sparsity", DefaultSparsity(level))
        check_sparsity(self.sparsity)
        whole_number("mask_batches", self.mask_batches, 1)
        whole_number("mask_examples_per_class", self.mask_examples_per_class, 0)
        object.__setattr__(self, "mask_options", read_mask_options(self.mask_options))
        check_declared(self)
        self._check_mask_layout()

    def _check_mask_layout(self) -> None:
        """distribution, pattern and sparsity agree (what `compute` will check, before any work)."""
        if self.distribution is not None:
            check_distribution(self.distribution)
        if self.pattern is not None:
            pattern = parse_pattern(self.pattern)
            if abs(self.sparsity - pattern.sparsity) > 1e-9:
                raise SparsekitError(f"pattern {pattern} fixes the sparsity at 1 - N/M = {pattern.sparsity:g}, but "
                                     f"sparsity {self.sparsity!r} was given; leave sparsity out or set it "
                                     f"to {pattern.sparsity:g}")
            if self.distribution not in (None, "uniform"):
                raise SparsekitError(f"pattern {pattern} fixes every layer's count; it cannot follow distribution "
                                     f"{self.distribution!r} (leave distribution out)")


def read_mask_options(options) -> dict:
    """Typed option values from a mapping, or from text (the command line's form)."""
    if options is None:
        return {}
    if isinstance(options, str):
        return parse_options(options)
    if isinstance(options, Mapping):
        names = [name for name in options if not isinstance(name, str)]
        if names:
            raise SparsekitError(f"mask_options names must be text, got {names[0]!r}")
        return dict(options)
    raise SparsekitError(f"mask_options must be a dict of option values (or 'name=value, ...' text), got "
                         f"{type(options).__name__}")
