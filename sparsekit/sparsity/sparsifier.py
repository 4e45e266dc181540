"""`Sparsifier`: what the trainer asks of any mask method, static or dynamic.

    initial_mask(model, data) -> Mask     the mask training starts from; every run calls it
    source -> dict                        where that mask came from (method and settings, a file,
                                          a given mask), as the run record keeps it
    update(state) -> Mask | None          called at every optimizer step, after backward (and
                                          after the data-parallel gradient sync and AMP's unscale),
                                          before the gradients are masked and the optimizer steps:
                                          the dense gradients of pruned weights are there to read.
                                          None keeps the mask; a Mask replaces it for this step on.
    state_dict() / load_state_dict(...)   its own state (a generator), saved in every checkpoint
    describe(total_steps) -> dict         its name and settings, for the run record

Every one-shot mask (a static method's, a lottery ticket, a mask file, a given mask...) is a
`OneShot`: its mask is computed once and `update` always returns None. The trainer knows this
interface only, never a method's name (see tests/test_layout.py).
"""
from typing import Any, Callable, Dict, Optional

from torch import nn

from ..core.mask import Mask


class Sparsifier:
    name = "sparsifier"
    description = ""

    def initial_mask(self, model: nn.Module, data) -> Mask:
        raise NotImplementedError

    @property
    def source(self) -> Dict[str, Any]:
        """Where the initial mask came from (set by whoever builds the sparsifier; else its name)."""
        return dict(getattr(self, "_source", None) or {"method": self.name})

    @source.setter
    def source(self, value: Dict[str, Any]) -> None:
        self._source = dict(value)

    def update(self, state) -> Optional[Mask]:
        return None

    def state_dict(self) -> Dict[str, Any]:
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        pass

    def describe(self, total_steps: Optional[int] = None) -> Dict[str, Any]:
        return {"name": self.name, "description": self.description, "schedule": "one-shot"}


class OneShot(Sparsifier):
    """A mask computed once, before training: `make(model, data) -> Mask`, from `source`."""

    def __init__(self, make: Callable[[nn.Module, Any], Mask], name: str, description: str = "",
                 source: Optional[Dict[str, Any]] = None):
        self.make, self.name, self.description = make, name, description
        if source is not None:
            self.source = source

    @classmethod
    def of(cls, mask: Mask, source: Dict[str, Any]) -> "OneShot":
        """A mask computed elsewhere, trained as it is, with the note of where it came from."""
        kept = Mask(mask)
        return cls(lambda model, data: Mask(kept), str(source.get("method", "given")), source=source)

    def initial_mask(self, model: nn.Module, data) -> Mask:
        return self.make(model, data)
