"""What a sweep runs: a grid of settings crossed into points, each with a readable, unique name.

A setting is anything `sparsekit train` takes on its command line: a `TrainConfig` field, the
recipe preset (`recipe`), or a recipe field (`label_smoothing`, ...). Names may be written as
on the command line (`mask-options`) or as in Python (`mask_options`).

A grid value is a list (each value becomes part of the run names) or a table of
label -> value (the label names the runs: `recipe = {tost = "tost", ls = {...}}`).
Everything is checked here, before any run starts or any file is written.
"""
import dataclasses
import itertools
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, Dict, List, Optional, Tuple

from ...core.checks import boolean, finite_number, text, whole_number
from ...core.errors import SparsekitError
from ...runs import mask_sources
from ...runs.inputs import check_names
from ...training.config import RETIRED_SETTINGS
from ...training.config import config_fields, make_config

# The sweep decides these per run: the run directory, resuming, and quiet workers.
SWEEP_OWNED = ("out", "resume", "overwrite", "progress")
RECIPE = "recipe"


@dataclasses.dataclass(frozen=True)
class Point:
    """One run of a sweep: its name, its `TrainConfig` overrides (`settings` by name and the
    recipe section, as a dict) and the labels of the values the grid chose for it (what
    tables group by)."""
    name: str
    settings: Dict[str, Any]
    recipe: Dict[str, Any]
    labels: Dict[str, Any]

    def config(self):
        """The run's settings as the one `TrainConfig` (the sweep's own settings left at their defaults)."""
        return make_config(**self.settings, recipe=self.recipe)


def setting_names() -> List[str]:
    from ...recipe.settings import recipe_fields

    train = [name for name, *_ in config_fields() if name not in SWEEP_OWNED]
    return train + [RECIPE] + [name for name, *_ in recipe_fields()]


def normalise_name(name, where: str) -> str:
    if not isinstance(name, str):
        raise SparsekitError(f"{where}: setting names must be text, got {name!r}")
    known = setting_names()
    python_name = name.replace("-", "_")
    if python_name in SWEEP_OWNED:
        raise SparsekitError(f"{where}: {name!r} is set by the sweep itself (each run gets its own directory, "
                             f"is resumed when interrupted and runs quietly); remove it")
    if python_name not in known and python_name not in RETIRED_SETTINGS:  # a retired one: the config maps it
        raise SparsekitError(f"{where}: unknown setting {name!r}; settings are those of `sparsekit train`: "
                             f"{', '.join(known)}")
    return python_name


def label_of(value) -> str:
    """How a value reads in a run name and a table."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if hasattr(value, "preset_name"):  # a Recipe object
        return value.preset_name()
    if isinstance(value, Mapping):
        return "custom"
    return str(value)


def labelled_values(name: str, values) -> List[Tuple[str, Any]]:
    """[(label, value)] of one grid entry: a list, or a label -> value table."""
    if isinstance(values, Mapping):
        pairs = [(str(label), value) for label, value in values.items()]
    elif isinstance(values, Sequence) and not isinstance(values, (str, bytes)):
        pairs = [(label_of(value), value) for value in values]
    else:
        raise SparsekitError(f"grid: {name!r} must be a list of values (or a table of label = value), "
                             f"got {values!r}; put a single value under [fixed]")
    if not pairs:
        raise SparsekitError(f"grid: {name!r} has no values; give at least one")
    labels = [label for label, _ in pairs]
    repeated = next((label for label in labels if labels.count(label) > 1), None)
    if repeated is not None:
        raise SparsekitError(f"grid: {name!r} has the value {repeated!r} twice")
    return pairs


def expand(grid=None, fixed: Optional[Mapping] = None, name: Optional[str] = None) -> List[Point]:
    """The points of a sweep, checked: `grid` is a mapping (its values crossed) or a list
    of mappings (one run each); `fixed` settings are shared by every run; `name` is a
    format string over the settings (e.g. "{mask}-{sparsity:g}-seed{seed}"), a list of
    names (one per point) or None for "key=label,key=label" over the grid's keys."""
    fixed = _named(fixed or {}, "fixed")
    if grid is None or isinstance(grid, Mapping):
        grid = _named(grid or {}, "grid")
        if not grid:  # one run named "run" is not what an empty table asks for: say so
            raise SparsekitError("the sweep's grid is empty: list the settings to vary (e.g. seed = [0, 1, 2]); "
                                 "a single run is `sparsekit train` (or a one-value list, e.g. seed = [0])")
        # A label from a table stands in the template for its value (a recipe table has no
        # readable text); a plain value stays itself there, so "{sparsity:g}" works.
        choices = [[(key, label, label if isinstance(values, Mapping) else _shown(label, value), value)
                    for label, value in labelled_values(key, values)] for key, values in grid.items()]
        combos = [list(combo) for combo in itertools.product(*choices)]
    elif isinstance(grid, Sequence) and not isinstance(grid, (str, bytes)):
        combos = []
        for index, entry in enumerate(grid):
            if not isinstance(entry, Mapping):
                raise SparsekitError(f"grid: point {index} must be a table of settings, got {entry!r}")
            entry = _named(entry, f"grid point {index}")
            combos.append([(key, label_of(value), _shown(label_of(value), value), value)
                           for key, value in entry.items()])
    else:
        raise SparsekitError(f"grid must be a table of setting -> list of values, or a list of points; "
                             f"got {type(grid).__name__}")
    clash = sorted(set(fixed) & {key for combo in combos for key, *_ in combo})
    if clash:
        raise SparsekitError(f"{clash[0]!r} is both in the grid and fixed; keep it in one place")
    if isinstance(name, (list, tuple)):
        if len(name) != len(combos):
            raise SparsekitError(f"{len(name)} run names for {len(combos)} runs; give one name per run")
        points = [_point(combo, fixed, None, given) for combo, given in zip(combos, name)]
    else:
        points = [_point(combo, fixed, name) for combo in combos]
    names = [point.name for point in points]
    repeated = next((n for n in names if names.count(n) > 1), None)
    if repeated is not None:
        raise SparsekitError(f"two runs of the sweep would share the directory {repeated!r}; make the name "
                             f"template include every grid setting")
    return points


def check_sweep_options(out=None, name=None, backend="local", workers=None, address=None, cpus_per_run=1,
                        gpus_per_run=0, progress=True, overwrite=False) -> None:
    """The sweep's own options (`[sweep]` of a spec file, `sk.sweep`'s keywords), each of its
    type, checked before any run starts or any file is written."""
    from .backends import BACKENDS

    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise SparsekitError(f"the sweep's out must be a folder's path, got {out!r} ({type(out).__name__})")
    if name is not None and not isinstance(name, (str, list, tuple)):
        raise SparsekitError(f"the sweep's name must be a template such as \"{{mask}}-seed{{seed}}\" or a list of "
                             f"run names, got {name!r}")
    if backend not in BACKENDS:
        raise SparsekitError(f"unknown sweep backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    if workers is not None:
        whole_number("workers", workers, 1)
    if address is not None:
        text("address", address)
    finite_number("cpus_per_run", cpus_per_run, 0, low_open=True)
    finite_number("gpus_per_run", gpus_per_run, 0)
    ray_only = [option for option, value, default in (("address", address, None), ("cpus_per_run", cpus_per_run, 1),
                                                      ("gpus_per_run", gpus_per_run, 0)) if value != default]
    if ray_only and backend != "ray":  # accepted and ignored would be worse than refused
        raise SparsekitError(f"{ray_only[0]} applies to the ray backend only (this sweep's backend is {backend!r}); "
                             f"drop it or choose backend ray")
    boolean("progress", progress)
    boolean("overwrite", overwrite)


def _shown(label: str, value):
    return value if isinstance(value, (int, float, str)) else label


def _named(table: Mapping, where: str) -> Dict[str, Any]:
    if not isinstance(table, Mapping):
        raise SparsekitError(f"{where} must be a table of settings, got {table!r}")
    return {normalise_name(key, where): value for key, value in table.items()}


def _point(combo, fixed: Mapping, template: Optional[str], given_name: Optional[str] = None) -> Point:
    from ...recipe.settings import recipe_fields
    from ...runs.inputs import resolve_recipe

    values = {**fixed, **{key: value for key, _, _, value in combo}}
    labels = {key: label for key, label, _, _ in combo}
    template_fields = {**fixed, **{key: shown for key, _, shown, _ in combo}}
    recipe_names = {name for name, *_ in recipe_fields()}
    recipe = resolve_recipe(values.get(RECIPE)).with_changes(
        **{key: value for key, value in values.items() if key in recipe_names})
    settings = {key: value for key, value in values.items() if key != RECIPE and key not in recipe_names}
    name = str(given_name) if given_name is not None else _name(template, labels, template_fields)
    point = Point(name=name, settings=settings, recipe=recipe.to_dict(), labels=labels)
    config = point.config()  # every setting checked now, before anything runs
    check_names(config)  # looked up now too: a worker would fail on them after starting
    if not config.mask_file:  # a mask file may be written by an earlier sweep; the rest is checked now
        mask_sources.check(config, mask_given=False)  # the rules `train` applies, in the one place they live
    return point


def _name(template: Optional[str], labels: Mapping, template_fields: Mapping) -> str:
    if template is None:
        text = ",".join(f"{key}={label}" for key, label in labels.items()) or "run"
    else:
        try:
            text = template.format(**template_fields)
        except (KeyError, IndexError, ValueError) as error:
            raise SparsekitError(f"run name template {template!r} cannot be filled: {error}") from None
    # One path component, safe in a shell: separators and odd characters become '_'.
    return re.sub(r"[^A-Za-z0-9=,.+_-]", "_", text)
