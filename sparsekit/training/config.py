"""`TrainConfig`: every setting of a run, as one nested object of six sections: data,
network (the model), masking (the sparsity), optimization, run, and recipe. (Section names
differ from every setting's name, so `config.sparsity` is the setting, a number.)

    config = TrainConfig(mask="snip", sparsity=0.95, epochs=10)
    config.masking.mask, config.optimization.lr      # by section
    config.mask, config.lr                           # or by name alone: every name is unique

Each section is declared next to the code that reads it (`data/settings.py`,
`models/settings.py`, `sparsity/settings.py`, `training/settings.py`, and the recipe, whose
fields come from its trick files). Every field carries its help text and its roles
(`core/fields.py`): the command line's flags, the widgets' experiment settings, the run
record, the resume check and the lottery ticket's reuse rule are all read from here.
"""
import os
from dataclasses import MISSING, asdict, fields, is_dataclass, replace
from typing import Any, Dict, Iterator, Mapping, Optional, Tuple

from ..core.errors import SparsekitError
from ..data.settings import DataSettings
from ..models.settings import ModelSettings
from ..recipe.settings import Recipe
from ..sparsity.distributions import SCOPES
from ..sparsity.settings import SparsitySettings
from .settings import OptimizationSettings, RunSettings

# Section name -> its settings class, in the order the command line lists them.
SECTIONS = {"data": DataSettings, "network": ModelSettings, "masking": SparsitySettings,
            "optimization": OptimizationSettings, "run": RunSettings, "recipe": Recipe}
# The sections whose fields are set by name (`sk.train(lr=0.05)`, `--lr 0.05`) and make up the
# record's "config"; the recipe is set whole (`recipe=`, `--recipe`: a `Recipe`, a preset name or a
# dict, read by `Recipe.read`) and recorded as "recipe". It is a section like the others: a run's
# recipe is `config.recipe` and nothing else.
NAMED_SECTIONS = ("data", "network", "masking", "optimization", "run")
_OWNER = {f.name: section for section in NAMED_SECTIONS for f in fields(SECTIONS[section])}
# A record written before a setting was renamed names it the old way (with the old values).
_RENAMED = {"schedule": ("lr_schedule", ("cosine", "multistep", "constant"))}
# Settings no longer declared that older configs, records and sweep specs may still name; a
# `TrainConfig` reads them as what they meant (`scope_as_distribution`).
RETIRED_SETTINGS = ("scope",)


class TrainConfig:
    """Every setting of a training run; built from names (`TrainConfig(lr=0.05)`) or sections
    (`TrainConfig(optimization=OptimizationSettings(lr=0.05))`), checked when built, frozen."""

    __slots__ = tuple(SECTIONS)

    def __init__(self, **values):
        values = scope_as_distribution(values)  # configs, records and sweep specs written with `scope`
        given = {name: values.pop(name) for name in list(values) if name in SECTIONS}
        unknown = sorted(set(values) - set(_OWNER))
        if unknown:
            raise SparsekitError(f"unknown setting {unknown[0]!r}; settings are: {', '.join(sorted(_OWNER))}")
        for section, kind in SECTIONS.items():
            base = given.get(section)
            if section == "recipe" and base is not None:  # a preset name, a dict or a Recipe: `Recipe.read`
                base = Recipe.read(base)
            if base is not None and not isinstance(base, kind):
                if not isinstance(base, Mapping):
                    raise SparsekitError(f"settings section {section!r} must be a {kind.__name__} or a dict, "
                                         f"got {type(base).__name__}")
                base = kind(**base)
            changes = {name: value for name, value in values.items() if _OWNER[name] == section}
            object.__setattr__(self, section, replace(base, **changes) if base is not None else kind(**changes))

    # ---- reading -----------------------------------------------------------------------
    def __getattr__(self, name: str):
        section = _OWNER.get(name)
        if section is None:
            raise AttributeError(f"TrainConfig has no setting {name!r}")
        return _plain_number(getattr(getattr(self, section), name))

    def __setattr__(self, name, value):
        raise AttributeError("a TrainConfig is frozen: use config.with_changes(name=value)")

    def __eq__(self, other) -> bool:
        return isinstance(other, TrainConfig) and all(getattr(self, s) == getattr(other, s) for s in SECTIONS)

    __hash__ = None

    def __repr__(self) -> str:
        return "TrainConfig(" + ", ".join(f"{s}={getattr(self, s)!r}" for s in SECTIONS) + ")"

    def __reduce__(self):  # pickled by sections (sweep workers receive configs)
        return _from_sections, ({s: getattr(self, s) for s in SECTIONS},)

    def milestone_fractions(self):
        return self.optimization.milestone_fractions()

    def steps_per_epoch(self, batches_per_epoch: int) -> int:
        """Optimizer steps in one epoch of `batches_per_epoch` batches (max_batches caps it)."""
        return min(batches_per_epoch, self.max_batches or batches_per_epoch)

    # ---- changing and writing ------------------------------------------------------------
    def with_changes(self, **changes) -> "TrainConfig":
        """This config with some settings (by name) or whole sections changed, checked."""
        return TrainConfig(**{**{s: getattr(self, s) for s in SECTIONS}, **changes})

    def to_dict(self) -> Dict[str, Any]:
        """The named settings, flat (the run record's "config")."""
        return {f.name: _plain(getattr(self, f.name)) for _, f in setting_fields()}

    def sections_dict(self) -> Dict[str, Dict[str, Any]]:
        """Every section, the recipe included, as nested plain values."""
        return {s: {k: _plain(v) for k, v in asdict(getattr(self, s)).items()} for s in SECTIONS}

    @classmethod
    def from_record(cls, values: Mapping[str, Any]) -> "TrainConfig":
        """The config a record's "config" describes; settings added since take their defaults,
        and names it does not know (a setting since removed) are left out."""
        if not isinstance(values, Mapping):
            raise SparsekitError(f"a run's settings are read from a mapping of setting -> value (a record's "
                                 f"\"config\"), got {type(values).__name__}")
        values = scope_as_distribution(values)
        for old, (new, old_values) in _RENAMED.items():
            if values.get(old) in old_values and new not in values:
                values[new] = values.pop(old)
        return cls(**{name: value for name, value in values.items() if name in _OWNER})


def scope_as_distribution(values: Mapping[str, Any]) -> dict:
    """Settings written with the retired `scope` ("global" | "layerwise"), read as the distribution
    it meant: "layerwise" is "uniform"; "global" was every run's default and asked for nothing
    beyond the method's own, so it leaves `distribution` as it was."""
    values = dict(values)
    scope = values.pop("scope", None)
    if scope is None:
        return values
    if scope not in SCOPES:
        raise SparsekitError(f"unknown scope {scope!r} (the retired name of distribution); use distribution "
                             f"global | uniform | even | erk")
    if scope == "layerwise":
        if values.get("distribution") not in (None, "uniform"):
            raise SparsekitError(f"scope 'layerwise' means distribution 'uniform', which conflicts with distribution "
                                 f"{values['distribution']!r}; give only distribution")
        values["distribution"] = "uniform"
    return values


def _from_sections(sections):
    return TrainConfig(**sections)


def _plain(value):
    return dict(value) if isinstance(value, Mapping) else _plain_number(value)


def _plain_number(value):
    """A float, not a marked one (the sparsity default): what records and checkpoints hold."""
    return float(value) if isinstance(value, float) and type(value) is not float else value


def setting_fields() -> Iterator[Tuple[str, Any]]:
    """(section, dataclass field) for every named setting, in command-line order."""
    for section in NAMED_SECTIONS:
        for f in fields(SECTIONS[section]):
            yield section, f


def names_with(role: str) -> Tuple[str, ...]:
    """The named settings that carry `role` ("shapes_mask" or "resumable")."""
    return tuple(f.name for _, f in setting_fields() if f.metadata.get(role))


def make_config(config: Optional[TrainConfig] = None, **overrides) -> TrainConfig:
    """A checked config: `config` (or the defaults) with `overrides` applied."""
    if config is not None and not isinstance(config, TrainConfig):
        raise SparsekitError(f"config must be a TrainConfig (or None), got {type(config).__name__}")
    # Paths read naturally as pathlib.Path; the config stores them as text (it goes into JSON).
    overrides = {name: os.fspath(value) if isinstance(value, os.PathLike) else value
                 for name, value in overrides.items()}
    return (config or TrainConfig()).with_changes(**overrides)


def config_fields():
    """(name, type, default, help, choices) for every named setting, in declaration order
    (the same shape as `recipe_fields`, so one function turns either into command-line
    flags). A setting typed as a mapping is text on the command line."""
    for _, f in setting_fields():
        default = f.default if f.default is not MISSING else None
        if f.type == Mapping[str, Any]:
            yield f.name, str, "", f.metadata["help"], f.metadata.get("choices")
        else:
            yield f.name, f.type, default, f.metadata["help"], f.metadata.get("choices")
