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
from .options import parse_options


@dataclass(frozen=True)
class SparsitySettings:
    mask: str = setting("random", "mask method (see `sparsekit list`); --sparsity 0 trains the dense network",
                        shapes_mask=True)
    mask_file: Optional[str] = setting(None, "use this saved mask, or the zeros of this checkpoint, instead of --mask",
                                       shapes_mask=True)
    sparsity: float = setting(0.9, "fraction of prunable weights removed, in [0, 1)", shapes_mask=True)
    scope: str = setting("global", "rank scores over all layers or per layer", choices=("global", "layerwise"),
                         shapes_mask=True)
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
        "'round_epochs=2, rewind_steps=50' (lottery); none by default", shapes_mask=True, own_check=True)

    def __post_init__(self):
        check_sparsity(self.sparsity)
        whole_number("mask_batches", self.mask_batches, 1)
        whole_number("mask_examples_per_class", self.mask_examples_per_class, 0)
        object.__setattr__(self, "mask_options", read_mask_options(self.mask_options))
        check_declared(self)


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
