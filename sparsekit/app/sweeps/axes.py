"""The two axes a sweep adds to its grid: seeds, and recipes that share one mask.

- `seeds=[0, 1, 2]`: every point of the grid is trained once per seed (its runs are named
  `<point>-seed<N>`, or by the name template when that mentions `{seed}`);
- `recipes={"default": "default", "tost": Recipe.tost()}`: every point (per seed) is trained
  with every recipe (runs named `<point>-<label>`, the label in the record's sweep labels).
  The runs of one point differ only in their recipe, so they form a group that trains ONE
  mask from ONE seeded initialisation (`groups`): a recipe's effect is measured on the same
  mask, and a costly mask (a lottery ticket's rounds) is searched once.

Without `recipes`, every run is its own group.
"""
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, List, Optional, Tuple

from ...core.errors import SparsekitError
from .spec import RECIPE, Point, expand

SEED = "seed"


def expand_axes(grid=None, fixed: Optional[Mapping] = None, name=None, seeds: Optional[Sequence[int]] = None,
                recipes: Optional[Mapping[str, Any]] = None) -> List[List[Point]]:
    """The sweep's runs as groups that share a mask, in grid order; everything checked."""
    grid, fixed, name = _with_seeds(grid, fixed, name, seeds)
    points = expand(grid, fixed, name)
    if recipes is None:
        return [[point] for point in points]
    table = _recipe_table(recipes)
    _refuse_recipe_settings(grid, fixed)
    groups = []
    for point in points:
        names = [f"{point.name}-{label}" for label in table]
        runs = expand([dict(point.settings, recipe=recipe) for recipe in table.values()], None, names)
        groups.append([dataclasses.replace(run, labels=dict(point.labels, recipe=label))
                       for run, label in zip(runs, table)])
    return groups


def _recipe_table(recipes) -> dict:
    if not isinstance(recipes, Mapping) or not recipes:
        raise SparsekitError(f"recipes must be a table of label -> recipe (a Recipe, a preset name or a recipe "
                             f"dict), e.g. {{'default': 'default', 'tost': 'tost'}}; got {recipes!r}")
    return {str(label): recipe for label, recipe in recipes.items()}


def _refuse_recipe_settings(grid, fixed) -> None:
    """With a recipe axis, a recipe set in the grid or the fixed settings would be overridden
    (even one equal to the default): refused by name."""
    from ...recipe.settings import recipe_fields

    recipe_names = {RECIPE, *(name for name, *_ in recipe_fields())}
    tables = [fixed or {}, *([grid] if isinstance(grid, Mapping) else grid or [])]
    given = [key for table in tables if isinstance(table, Mapping) for key in table]
    clash = next((key for key in given if str(key).replace("-", "_") in recipe_names), None)
    if clash is not None:
        raise SparsekitError(f"{clash!r} is set while the sweep's recipes (recipes=, a sweep file's [recipes]) "
                             f"choose the recipe; remove it from the grid and the fixed settings, or put it in "
                             f"the recipes")


def _with_seeds(grid, fixed, name, seeds) -> Tuple[Any, Optional[Mapping], Any]:
    """The grid with the seeds crossed in (and the run names that say the seed)."""
    if seeds is None:
        return grid, fixed, name
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not seeds:
        raise SparsekitError(f"seeds must be a list of whole numbers, e.g. [0, 1, 2]; got {seeds!r}")
    seeds = list(seeds)
    if len(set(seeds)) != len(seeds):
        raise SparsekitError(f"seeds {seeds} repeat a seed; each seed is one run of every point")
    given = {**(fixed or {}), **(grid if isinstance(grid, Mapping) else {})}
    if SEED in given or (isinstance(grid, Sequence) and any(isinstance(p, Mapping) and SEED in p for p in grid)):
        raise SparsekitError("'seed' is both a setting and the sweep's seeds (seeds=, a sweep file's [sweep] seeds); "
                             "keep it in one place")
    if isinstance(name, str) and "{seed" not in name:
        name += "-seed{seed}"
    if grid is None or isinstance(grid, Mapping):
        return {**(grid or {}), SEED: seeds}, fixed, name
    if not isinstance(grid, Sequence) or isinstance(grid, (str, bytes)):
        return grid, fixed, name  # not a grid: `expand` says so
    # A list of points: each seed runs every point (seeds outermost, so a stopped grid has whole seeds).
    points = [dict(point, seed=seed) if isinstance(point, Mapping) else point for seed in seeds for point in grid]
    if isinstance(name, (list, tuple)):
        if len(name) != len(grid):
            raise SparsekitError(f"{len(name)} run names for {len(grid)} runs; give one name per run")
        name = [f"{given_name}-seed{seed}" for seed in seeds for given_name in name]
    return points, fixed, name
