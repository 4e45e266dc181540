"""A notebook's parameters checked in its settings cell, before any training.

`ExperimentSettings` checks values (a sparsity in [0, 1), a whole number of epochs) but not
names: a mask method, a model or a dataset name is looked up only when a run builds it. A
notebook that loops over `METHODS` would then train several runs before "unknown mask method
'SNIP'". These checks do every look-up `train` does before its work, without building
anything, and name the parameter at fault:

    settings = check_settings(ExperimentSettings(...))
    check_each(settings, "METHODS", "mask", METHODS)
    check_recipes("RECIPES", RECIPES)
"""
from typing import Any, Iterable, Sequence

from ..core import checks
from ..core.errors import SparsekitError
from ..runs import mask_sources
from ..runs.inputs import check_names
from .experiments import ExperimentSettings, make_settings


def check_settings(settings: ExperimentSettings) -> ExperimentSettings:
    """Every name in `settings` (dataset, model, mask method and its options, recipe tricks
    and options) looked up as a run would; returns `settings` unchanged."""
    config = settings.to_config()  # the recipe's tricks and options too
    check_names(config)
    mask_sources.check(config, mask_given=False)
    return settings


def _values(parameter: str, values: Any) -> list:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise SparsekitError(f"{parameter} must be a list, e.g. [{values!r}], got {values!r}")
    values = list(values)
    if not values:
        raise SparsekitError(f"{parameter} is empty: give at least one value")
    return values


def check_each(settings: ExperimentSettings, parameter: str, setting: str, values: Sequence) -> list:
    """Each value of the list parameter `parameter` (e.g. "METHODS") checked as the setting
    `setting` (e.g. "mask") of `settings`; returns the values as a list."""
    values = _values(parameter, values)
    for index, value in enumerate(values):
        try:
            check_settings(make_settings(settings, **{setting: value}))
        except SparsekitError as exc:
            raise SparsekitError(f"{parameter}[{index}] = {value!r}: {exc}") from None
    return values


def check_recipes(parameter: str, names: Sequence[str]) -> list:
    """Each name a recipe preset (`sparsekit.Recipe.preset`)."""
    from ..recipe import Recipe

    names = _values(parameter, names)
    for index, name in enumerate(names):
        try:
            Recipe.preset(name)
        except SparsekitError as exc:
            raise SparsekitError(f"{parameter}[{index}] = {name!r}: {exc}") from None
    return names


def check_counts(**counts: int) -> None:
    """Whole numbers >= 1, by parameter name: check_counts(SEEDS=SEEDS, ROUNDS=ROUNDS)."""
    for name, value in counts.items():
        checks.whole_number(name, value, minimum=1)


# Notebook parameters named after a run setting (SPARSITY, EPOCHS, MODEL, ...) take that
# setting's values; a list parameter named by the plural (SPARSITIES, PATTERNS) takes a list of
# them. The course calls the mask method METHOD. Mask options depend on the method: not checked alone.
PARAMETER_ALIASES = {"method": "mask"}
CHECKED_ALONE_NOT = ("mask_options",)


def setting_of(parameter: str):
    """(setting name, is_list) a notebook parameter stands for, or None."""
    from ..recipe.settings import recipe_fields
    from ..training.config import config_fields

    known = {name for name, *_ in config_fields()} | {name for name, *_ in recipe_fields()}
    lower = parameter.lower()
    for name, is_list in ((lower, False), (lower[:-3] + "y" if lower.endswith("ies") else lower[:-1], True)):
        name = PARAMETER_ALIASES.get(name, name)
        if name in known and name not in CHECKED_ALONE_NOT:
            return name, is_list
    return None


def check_parameter_values(parameters) -> None:
    """Each parameter that stands for a run setting checked as `train` checks that setting
    (value and, for names, the look-up), before any kernel starts: one line naming it."""
    from ..recipe.settings import Recipe, recipe_fields
    from ..training.config import make_config

    recipe_names = {name for name, *_ in recipe_fields()}
    for parameter, value in parameters.items():
        found = setting_of(parameter)
        if found is None or (found[1] and not isinstance(value, (list, tuple))):
            continue  # not a setting, or a count where a list could stand (SEEDS = 3)
        name, is_list = found
        for one in (value if is_list else [value]):
            try:
                if name in recipe_names:
                    Recipe().with_changes(**{name: one})
                    continue
                config = make_config(**{name: one})
                check_names(config)
                mask_sources.check(config, mask_given=False)
            except SparsekitError as exc:
                raise SparsekitError(f"parameter {parameter} = {value!r}: {exc}") from None
