"""The notebooks' experiments repeated over seeds, so a claim is measured, not eyeballed.

- `run_variants_over_seeds(settings, variants, seeds)`: {label: [record per seed]}, each seed
  training every variant (notebooks 10 to 13);
- `compare_recipes(settings, methods, recipes, seeds)`: {method: {recipe: [record per seed]}},
  each (method, seed) mask computed ONCE and trained by every recipe from the same
  initialisation (notebook 14), by the one masks x recipes runner (`recipe_grid`). A lottery
  ticket is therefore found once per seed.
"""
from typing import Dict, List, Mapping, Optional, Sequence

from .experiments import ExperimentSettings, make_settings, run_variants, train_settings
from .recipe_grid import Cell, run_cells

Seeded = Dict[str, List]


def run_variants_over_seeds(settings, variants: Mapping[str, Mapping], seeds: Sequence[int]) -> Seeded:
    base = make_settings(settings)
    seeded: Seeded = {label: [] for label in variants}
    for seed in seeds:
        for label, record in run_variants(make_settings(base, seed=seed), variants).items():
            seeded[label].append(record)
    return seeded


def compare_recipes(settings: ExperimentSettings, methods: Sequence[str], recipes: Sequence[str],
                    seeds: Sequence[int], mask_options: Optional[Mapping[str, str]] = None,
                    recipe_options: Optional[Mapping] = None, progress: bool = False) -> Dict[str, Seeded]:
    """Every method's mask, per seed, trained with every recipe preset (`Recipe.preset(name)`
    with `recipe_options` changed on top), by `recipe_grid.run_cells` in this process. Every
    setting of `settings` reaches the runs; a method's own `mask_options` replace the settings'
    ones. `progress` shows one bar over all runs."""
    from ..recipe import Recipe

    settings = make_settings(settings)
    mask_options = dict(mask_options or {})
    # The options tune tricks; plain training has none to tune.
    table = {name: Recipe.preset(name) if name == "default" else
             Recipe.preset(name).with_changes(**dict(recipe_options or {})) for name in recipes}
    shared = {name: value for name, value in train_settings(settings).items() if name != "progress"}
    cells = {(method, seed): Cell(f"{method}-seed{seed}", dict(
        shared, mask=method, seed=seed, mask_options=mask_options.get(method, settings.mask_options)), list(recipes))
        for method in methods for seed in seeds}
    records = run_cells(list(cells.values()), table, progress=progress).records
    return {method: {recipe: [records[cells[(method, seed)].run_name(recipe)] for seed in seeds] for recipe in recipes}
            for method in methods}


def flatten_seeded(grid: Mapping[str, Mapping[str, Sequence]]) -> Dict[str, Mapping]:
    """{method: {recipe: [records]}} as {"method / recipe / seed N": record} for the JSON result."""
    return {f"{method} / {recipe} / seed {record['config']['seed']}": record
            for method, row in grid.items() for recipe, records in row.items() for record in records}


def flatten_variants(seeded: Mapping[str, Sequence]) -> Dict[str, Mapping]:
    """{label: [records]} as {"label / seed N": record} for tables and the JSON result."""
    return {f"{label} / seed {record['config']['seed']}": record for label, records in seeded.items()
            for record in records}
