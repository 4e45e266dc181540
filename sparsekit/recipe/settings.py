"""`Recipe`: which ToST tricks a run uses, as one frozen, serialisable dataclass.

    import sparsekit as sk
    sk.train(mask="snip", sparsity=0.95, recipe=sk.Recipe.tost())
    sk.train(mask="snip", sparsity=0.95, recipe=sk.Recipe(label_smoothing=0.1))

Each trick declares its own fields in its own file (see `trick.py`); `Recipe` is assembled
from them, and the CLI's recipe flags are generated from its fields. Two presets turn on all four tricks, and differ in one thing:

- `Recipe.release()` (`--recipe tost-release`): what the public release (VITA-Group/ToST)
  runs. Ghost neurons (pswish, beta 2) and ghost skip branches (alpha 1) stay for the whole
  run, so the trained network carries dense ghost-branch weights beside the mask (the run
  record counts them apart: `parameters`); GradInit as the release's README documents it (on
  the dense network, then the mask: `init_variant="dense-then-mask"`); label smoothing 0.1.
  With the trainer's default prunable set (convolutions only, dense classifier) this is the
  release's set-up.
- `Recipe.tost()` (`--recipe tost`): the abstract's reading, which introduces the ghosts "at
  the early stage of training": both anneal away over the first 25% of steps, leaving
  exactly the masked original network, so its accuracy belongs to a network with the mask's
  sparsity and nothing else.

The release never combines the four tricks in one script; both presets run the init first, on
the original architecture, then attach the ghosts (`init_order`, see `init.py`).
"""

from dataclasses import asdict, fields, make_dataclass, replace
from pathlib import Path
from typing import Any, Dict, List, Mapping

from ..core.callbacks import Callback
from ..core.checks import finite_number, whole_number
from ..core.errors import SparsekitError
from .phase import EarlyPhaseSettings, check_early_phase
from .trick import discover

PRESETS = ("default", "tost", "tost-release")
TRICK_LIST = discover(__package__, [str(Path(__file__).parent)])
# name -> label of every trick, in callback order (what toggles and tables show).
TRICKS: Dict[str, str] = {trick.name: trick.label for trick in TRICK_LIST}
# another name a trick had -> its name (`trick_name` reads either).
TRICK_ALIASES: Dict[str, str] = {alias: trick.name for trick in TRICK_LIST for alias in trick.aliases}
# name -> the `Recipe` field that switches the trick on.
TRICK_FIELDS: Dict[str, str] = {trick.name: trick.switch for trick in TRICK_LIST}


def trick_name(name):
    """A trick's name, given it or one of its aliases (anything else is returned unchanged)."""
    return TRICK_ALIASES.get(name, name)


class _RecipeMethods:
    """What every `Recipe` does; its fields come from the trick files."""

    def __post_init__(self):
        for f in fields(self):
            value, meta = getattr(self, f.name), f.metadata
            if value is None and meta.get("none_means") is not None:  # None reads naturally as "off"
                object.__setattr__(self, f.name, meta["none_means"])
                value = meta["none_means"]
            if meta.get("choices") and value not in meta["choices"]:
                raise SparsekitError(f"recipe {f.name} must be one of: {', '.join(meta['choices'])} (got {value!r})")
            if f.type is bool and not isinstance(value, bool):
                raise SparsekitError(f"recipe {f.name} must be True or False, got {value!r}")
            if meta.get("positive"):  # finite too: an infinite alpha or lr trains to NaN
                finite_number(f"recipe {f.name}", value, 0, low_open=True)
        for f in fields(self):
            if f.metadata.get("whole") is not None:
                extra = {"accepted": f.metadata["accepted"]} if f.metadata.get("accepted") else {}
                whole_number(f"recipe {f.name}", getattr(self, f.name), f.metadata["whole"], **extra)
        check_early_phase(self)
        for trick in self.DECLARED_TRICKS:
            trick.check(self)

    # ---- presets -------------------------------------------------------------------
    @classmethod
    def default(cls) -> "Recipe":
        """Plain training: every trick off."""
        return cls()

    @classmethod
    def tost(cls) -> "Recipe":
        """The abstract's reading: every trick at the paper's values, ghosts in the early phase only."""
        return cls(**{name: value for trick in cls.DECLARED_TRICKS for name, value in trick.on.items()})

    @classmethod
    def release(cls) -> "Recipe":
        """What the public release runs: every trick on, ghosts kept all run."""
        return cls.tost().with_changes(**{name: value for trick in cls.DECLARED_TRICKS for name, value in trick.release.items()})

    @classmethod
    def preset(cls, name: str) -> "Recipe":
        builders = {"default": cls.default, "tost": cls.tost, "tost-release": cls.release}
        if name not in builders:
            raise SparsekitError(f"unknown recipe {name!r}; choose one of: {', '.join(PRESETS)}")
        return builders[name]()

    def preset_name(self) -> str:
        """The preset this recipe equals, or "custom"."""
        return next((name for name in PRESETS if type(self).preset(name) == self), "custom")

    def with_changes(self, **changes) -> "Recipe":
        """This recipe with some fields changed (validated)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise SparsekitError(f"unknown recipe setting {unknown[0]!r}; settings are: {', '.join(sorted(known))}")
        return replace(self, **changes)

    def with_tricks(self, tricks, options: Mapping[str, Any] = None) -> "Recipe":
        """This recipe with the named tricks switched on at the paper's values, then `options`."""
        tricks = [trick_name(name) for name in tricks]
        names = [trick.name for trick in self.DECLARED_TRICKS]
        unknown = [name for name in tricks if name not in names]
        if unknown:
            raise SparsekitError(f"unknown recipe trick {unknown[0]!r}; tricks are: {', '.join(names)}")
        values = {name: value for trick in self.DECLARED_TRICKS if trick.name in tricks for name, value in trick.on.items()}
        return self.with_changes(**values).with_changes(**dict(options or {}))

    def tricks_on(self) -> List[str]:
        """Names of the tricks this recipe switches on."""
        return [trick.name for trick in self.DECLARED_TRICKS if trick.is_on(self)]

    # ---- serialising ---------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "Recipe":
        """The recipe a `to_dict()` (e.g. a run record's "recipe") describes, also one written
        by an older version (renamed or split settings read as what they ran); missing fields
        take their defaults."""
        if values is not None and not isinstance(values, Mapping):
            raise SparsekitError(f"a recipe is read from a mapping of setting -> value (a record's \"recipe\"), "
                                 f"got {type(values).__name__}")
        values = dict(values or {})
        for trick in cls.DECLARED_TRICKS:
            values = trick.from_legacy(values)
        return cls().with_changes(**values)

    @classmethod
    def read(cls, value) -> "Recipe":
        """The recipe section from what a user gave, the one place this is decided: None (the
        default: plain training), a preset name (`PRESETS`), a dict (`from_dict`) or a `Recipe`."""
        if value is None:
            return cls.default()
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            return cls.preset(value)
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        raise SparsekitError(f"recipe must be a sparsekit.Recipe, a preset name ({', '.join(PRESETS)}), a dict of "
                             f"recipe settings or None, got {type(value).__name__}")

    # ---- using ---------------------------------------------------------------------
    def callbacks(self) -> List[Callback]:
        """The callbacks of the tricks that are on, in the order their settings give (by
        default the init first, on the original architecture, then the ghosts, then the loss)."""
        tricks = sorted((trick for trick in self.DECLARED_TRICKS if trick.is_on(self)),
                        key=lambda trick: trick.order_in(self))
        return [hook for trick in tricks for hook in trick.callbacks(self)]

    def final_architecture(self, model):
        """`model`, freshly built, with what this recipe's tricks leave in a trained network (the
        ghosts kept all run); what a run's `model.pt` was saved from."""
        for trick in self.DECLARED_TRICKS:
            if trick.is_on(self):
                trick.final_architecture(self, model)
        return model

    def describe(self) -> str:
        """One line naming the tricks that are on."""
        parts = [trick.describe(self) for trick in self.DECLARED_TRICKS if trick.is_on(self)]
        return "; ".join(parts) if parts else "default training (no recipe tricks)"


def _fields_of(settings_class) -> list:
    return [(f.name, f.type, f) for f in fields(settings_class)]


def recipe_class(tricks) -> type:
    """A frozen `Recipe` dataclass with the fields of `tricks` (and the shared early phase)."""
    recipe = make_dataclass(
        "Recipe", [spec for trick in tricks for spec in _fields_of(trick.settings)] + _fields_of(EarlyPhaseSettings),
        bases=(_RecipeMethods,), frozen=True, namespace={"DECLARED_TRICKS": tuple(tricks)})
    recipe.__module__ = __name__  # pickling and reprs find it here
    recipe.__doc__ = "Which recipe tricks a run uses, and their settings (fields declared by the trick files)."
    return recipe


Recipe = recipe_class(TRICK_LIST)


def recipe_fields():
    """(name, type, default, help, choices) for every recipe setting, in declaration order."""
    for f in fields(Recipe):
        yield f.name, f.type, f.default, f.metadata["help"], f.metadata.get("choices")
