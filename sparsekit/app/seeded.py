"""The notebooks' experiments repeated over seeds, so a claim is measured, not eyeballed; each
is ONE `sweep` in this process (its seeds axis, and for recipes its shared-mask recipe axis),
under one progress bar.

- `run_variants_over_seeds(settings, variants, seeds)`: {label: [record per seed]}, each seed
  training every variant (notebooks 10 to 13);
- `compare_recipes(settings, methods, recipes, seeds)`: {method: {recipe: [record per seed]}},
  each (method, seed) mask computed ONCE and trained by every recipe from the same
  initialisation (notebook 14). A lottery ticket is therefore found once per seed.
"""
from typing import Dict, List, Mapping, Optional, Sequence

from ..core.errors import SparsekitError
from .experiments import ExperimentSettings, make_settings, sweep_here

Seeded = Dict[str, List]


def run_variants_over_seeds(settings, variants: Mapping[str, Mapping], seeds: Sequence[int]) -> Seeded:
    base = make_settings(settings)
    chosen = next((label for label, changes in variants.items() if "seed" in changes), None)
    if chosen is not None:
        raise SparsekitError(f"variant {chosen!r} sets 'seed'; the seeds are the call's `seeds`")
    records = sweep_here({label: make_settings(base, **dict(changes)) for label, changes in variants.items()},
                         seeds=list(seeds))
    return {label: [records[f"{label}-seed{seed}"] for seed in seeds] for label in variants}


def compare_recipes(settings: ExperimentSettings, methods: Sequence[str], recipes: Sequence[str],
                    seeds: Sequence[int], mask_options: Optional[Mapping[str, str]] = None,
                    recipe_options: Optional[Mapping] = None, progress: bool = False) -> Dict[str, Seeded]:
    """Every method's mask, per seed, trained with every recipe preset (`Recipe.preset(name)`
    with `recipe_options` changed on top): one `sweep` in this process. Every setting of
    `settings` reaches the runs; a method's own `mask_options` replace the settings' ones.
    `progress` shows one bar over all runs' epochs."""
    from ..recipe import Recipe

    settings = make_settings(settings)
    mask_options = dict(mask_options or {})
    # The options tune tricks; plain training has none to tune.
    table = {name: Recipe.preset(name) if name == "default" else
             Recipe.preset(name).with_changes(**dict(recipe_options or {})) for name in recipes}
    cells = {method: make_settings(settings, mask=method, mask_options=mask_options.get(method, settings.mask_options))
             for method in methods}
    records = sweep_here(cells, seeds=list(seeds), recipes=table, progress=progress)
    return {method: {recipe: [records[f"{method}-seed{seed}-{recipe}"] for seed in seeds] for recipe in recipes}
            for method in methods}


def flatten_seeded(grid: Mapping[str, Mapping[str, Sequence]]) -> Dict[str, Mapping]:
    """{method: {recipe: [records]}} as {"method / recipe / seed N": record} for the JSON result."""
    return {f"{method} / {recipe} / seed {record['config']['seed']}": record
            for method, row in grid.items() for recipe, records in row.items() for record in records}


def flatten_variants(seeded: Mapping[str, Sequence]) -> Dict[str, Mapping]:
    """{label: [records]} as {"label / seed N": record} for tables and the JSON result."""
    return {f"{label} / seed {record['config']['seed']}": record for label, records in seeded.items()
            for record in records}
