"""`Trick`: one recipe trick, declared whole in its own file.

A trick file (ghost_neurons.py, ghost_skip.py, init.py, label_smoothing.py) ends
with one `TRICK = Trick(...)`: its settings (a frozen dataclass of `setting(...)` fields),
the values the paper's recipe gives them, the callbacks it adds to a run, and a one-line
description. `Recipe` is assembled from every such file in this folder, found when the
package is imported, so adding a trick touches its own file (and its tests) and nothing else.
"""
import importlib
import pkgutil
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ..core.callbacks import Callback


@dataclass(frozen=True)
class Trick:
    name: str  # what users type: sk.app.experiments tricks=("ghost_neurons", ...), widget toggles
    label: str  # what a toggle or a table shows
    order: int  # callbacks run in this order: architecture first, then the init, then the loss
    settings: type  # frozen dataclass of `setting(...)` fields, each named after the trick
    switch: str  # the field that turns the trick on (its value in `on` is "on")
    on: Mapping[str, Any]  # the paper's values (Recipe.tost())
    callbacks: Callable[[Any], List[Callback]]  # recipe -> callbacks (none when off)
    describe: Callable[[Any], Optional[str]]  # recipe -> one phrase, or None when off
    release: Mapping[str, Any] = field(default_factory=dict)  # how the public release differs from `on`
    check: Callable[[Any], None] = lambda recipe: None  # checks beyond the fields' declared kinds
    # Where the trick's callbacks run for a given recipe, when a setting moves them (else `order`).
    callback_order: Optional[Callable[[Any], int]] = None
    # A recipe dict in an older file's form -> today's fields (renamed or split settings).
    from_legacy: Callable[[dict], dict] = lambda values: values
    # (recipe, freshly built model) -> adds what the trick leaves in the trained network, so a
    # finished run rebuilds without knowing the trick (nothing for a trick that changes no module).
    final_architecture: Callable[[Any, Any], None] = lambda recipe, model: None
    # Other names older notebooks and sweep files give the trick; read as `name`.
    aliases: Tuple[str, ...] = ()

    def is_on(self, recipe) -> bool:
        off = {f.name: f.default for f in fields(self.settings)}[self.switch]
        return getattr(recipe, self.switch) != off

    def order_in(self, recipe) -> int:
        return self.callback_order(recipe) if self.callback_order is not None else self.order

    def field_names(self) -> List[str]:
        return [f.name for f in fields(self.settings)]


def discover(package: str, path) -> List[Trick]:
    """Every `TRICK` declared by a module of `package`, in callback order."""
    found: Dict[str, Trick] = {}
    for module in pkgutil.iter_modules(path):
        trick = getattr(importlib.import_module(f"{package}.{module.name}"), "TRICK", None)
        if isinstance(trick, Trick):
            found[trick.name] = trick
    return sorted(found.values(), key=lambda t: (t.order, t.name))
