"""The notebooks' experiments repeated over seeds, so a claim is measured, not eyeballed.

- `run_variants_over_seeds(settings, variants, seeds)`: {label: [record per seed]}, each seed
  training every variant (notebooks 10 to 13);
- `compare_recipes(settings, methods, recipes, seeds)`: {method: {recipe: [record per seed]}},
  each (method, seed) mask computed ONCE and trained by every recipe from the same
  initialisation (notebook 14). A lottery ticket is therefore found once per seed.
"""
from typing import Dict, List, Mapping, Optional, Sequence

from ..recipe.search_cache import reuse_searches
from .experiments import ExperimentSettings, make_settings, run_variants, train_settings

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
    with `recipe_options` changed on top). `progress` shows one bar over all runs."""
    from tqdm.auto import tqdm

    from ..recipe import Recipe
    from ..runs import train
    from ..training import make_config
    from ..runs.launch import prepare

    settings = make_settings(settings)
    mask_options = dict(mask_options or {})
    # Every setting of `settings` reaches the runs (distribution, pattern, ...): a method's own
    # `mask_options` replace the settings' ones; all configs are checked before any training.
    configs = {(method, seed): make_config(**dict(train_settings(settings), mask=method, seed=seed, progress=False,
                                                  mask_options=mask_options.get(method, settings.mask_options)))
               for method in methods for seed in seeds}
    grid: Dict[str, Seeded] = {method: {recipe: [] for recipe in recipes} for method in methods}
    # The presets search GradInit on the same network from the same start: once per cell, and
    # each record says whether its search was read back (`gradinit.reused`).
    with reuse_searches(), \
            tqdm(total=len(methods) * len(seeds) * len(recipes), disable=not progress, desc="runs") as bar:
        for method in methods:
            for seed in seeds:
                config = configs[(method, seed)]
                data, _, mask, source = prepare(config)
                for recipe in recipes:
                    chosen = Recipe.preset(recipe)
                    if recipe != "default":  # the options tune tricks; plain training has none to tune
                        chosen = chosen.with_changes(**dict(recipe_options or {}))
                    record = train(config, recipe=chosen, mask=mask, data=data)
                    # The record says "given" for a mask passed in; keep where it came from.
                    record["mask_source"] = dict(source, computed_once=True)
                    grid[method][recipe].append(record)
                    bar.update(1)
    return grid


def flatten_seeded(grid: Mapping[str, Mapping[str, Sequence]]) -> Dict[str, Mapping]:
    """{method: {recipe: [records]}} as {"method / recipe / seed N": record} for the JSON result."""
    return {f"{method} / {recipe} / seed {record['config']['seed']}": record
            for method, row in grid.items() for recipe, records in row.items() for record in records}


def flatten_variants(seeded: Mapping[str, Sequence]) -> Dict[str, Mapping]:
    """{label: [records]} as {"label / seed N": record} for tables and the JSON result."""
    return {f"{label} / seed {record['config']['seed']}": record for label, records in seeded.items()
            for record in records}
