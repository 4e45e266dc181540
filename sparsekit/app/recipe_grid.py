"""Masks x recipes x seeds, each mask computed once: the one runner behind `compare_recipes`
(notebook 14), `make demo` and `benchmarks/recipe_study.py`.

A `Cell` is the settings of one mask (method, sparsity, seed, ... as `TrainConfig`
overrides) and the labels of the recipes that train it. Every run of a cell trains the SAME
mask from the SAME seeded initialisation, so a recipe's effect is measured on one mask and
not on two draws, and a lottery ticket is searched once. The plan runs one of two ways:

- in this process (`out=None`): the cell's mask is computed once (`prepare`) and handed, with
  the data, to each recipe's run; the records keep `.model` and `.mask` for figures;
- as two sweeps under `out` (worker processes, resumable): every cell's first recipe trains
  and saves its mask, then the other recipes train from that `mask.pt`. A cell whose first
  run failed is reported there and trains nothing more.

A mask that changes during training (gmp, set, rigl, or schedule "gmp") has no single mask
to hand on: each recipe of such a cell starts from the same seeded draw on its own.
Every run's settings are checked, as `train` checks them, before the first run starts.
"""
import dataclasses
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ..core.errors import SparsekitError
from ..recipe.search_cache import reuse_searches
from ..runs import mask_sources
from ..runs.inputs import resolve_recipe
from ..training.config import TrainConfig, make_config
from .sweeps import SweepResult, sweep


@dataclasses.dataclass(frozen=True)
class Cell:
    """One mask (its settings) and the recipes (labels) that train it; the first one's run
    computes the mask. Runs are named `<name>-<recipe label>`."""
    name: str
    settings: Mapping[str, Any]
    recipes: Sequence[str]

    def run_name(self, recipe: str) -> str:
        return f"{self.name}-{recipe}"


def run_cells(cells: Sequence[Cell], recipes: Mapping[str, Any], *, out=None, workers: Optional[int] = None,
              progress: bool = False, overwrite: bool = False) -> SweepResult:
    """Train every cell with each of its recipes (`recipes`: label -> a `Recipe`, a preset
    name or a recipe dict); returns one outcome per run, in plan order (`result.records`
    by run name). In this process with `out=None`, as resumable sweeps under `out` otherwise."""
    recipes = {label: resolve_recipe(recipe) for label, recipe in recipes.items()}
    cells = _merged(cells, recipes)
    configs = {cell.name: make_config(**cell.settings) for cell in cells}
    for cell in cells:  # the whole plan is checked before any run starts
        if not configs[cell.name].mask_file:
            mask_sources.check(configs[cell.name], mask_given=False)
    started = time.perf_counter()
    if out is None:
        outcomes = _in_process(cells, configs, recipes, progress)
    else:
        outcomes = _as_sweeps(cells, configs, recipes, Path(out), workers, progress, overwrite)
    return SweepResult(out=None if out is None else str(out), outcomes=outcomes, seconds=time.perf_counter() - started)


def shares_mask(config: TrainConfig) -> bool:
    """Whether a cell's runs can train one mask: a mask fixed before training."""
    return not mask_sources.changes_in_training(config)


def _merged(cells: Sequence[Cell], recipes: Mapping[str, Any]) -> List[Cell]:
    """Cells of the same name joined (their recipes in first-seen order): a plan may list a
    cell twice, e.g. the grid's presets and, later, each trick alone on the same mask."""
    joined: Dict[str, Cell] = {}
    for cell in cells:
        unknown = [label for label in cell.recipes if label not in recipes]
        if unknown or not cell.recipes:
            raise SparsekitError(f"cell {cell.name!r}: " + (f"unknown recipe {unknown[0]!r}; recipes are: "
                                 f"{', '.join(recipes)}" if unknown else "no recipes to train"))
        before = joined.get(cell.name)
        if before is not None and dict(before.settings) != dict(cell.settings):
            raise SparsekitError(f"two cells named {cell.name!r} have different settings; name each mask once")
        labels = list(before.recipes) if before else []
        joined[cell.name] = Cell(cell.name, dict(cell.settings), labels + [r for r in cell.recipes if r not in labels])
    return list(joined.values())


def _in_process(cells: List[Cell], configs: Dict[str, TrainConfig], recipes, progress: bool) -> List[Dict]:
    from tqdm.auto import tqdm

    from ..runs import train
    from ..runs.launch import prepare
    from ..sparsity import OneShot

    outcomes = []
    # The recipes search GradInit on the same network from the same start: once per cell, and
    # each record says whether its search was read back (`init.reused`).
    with reuse_searches(), tqdm(total=sum(len(c.recipes) for c in cells), disable=not progress, desc="runs") as bar:
        for cell in cells:
            config = configs[cell.name].with_changes(progress=False)
            mask = data = source = None
            if shares_mask(config):
                data, _, mask, source = prepare(config)
            for label in cell.recipes:
                # The mask goes in with where it came from, so the record says so.
                given = OneShot.of(mask, dict(source, computed_once=True)) if mask is not None else None
                record = train(config, recipe=recipes[label], mask=given, data=data)
                outcomes.append({"name": cell.run_name(label), "dir": None, "status": "trained", "error": None,
                                 "record": record})
                bar.update(1)
    return outcomes


def _as_sweeps(cells: List[Cell], configs, recipes, out: Path, workers, progress: bool, overwrite: bool) -> List[Dict]:
    """Two sweeps: every cell's mask-computing runs, then the other recipes on the masks those
    saved. A failed run never stops the others; finished runs are read back."""
    outcomes = []
    for second in (False, True):
        names, points = [], []
        for cell in cells:
            shared = shares_mask(configs[cell.name])
            mask_file = out / cell.run_name(cell.recipes[0]) / "mask.pt"
            for index, label in enumerate(cell.recipes):
                if second != (shared and index > 0):
                    continue
                settings = dict(cell.settings)
                if second:
                    if not mask_file.is_file():
                        continue  # the cell's first run failed: reported there
                    settings["mask_file"] = str(mask_file)
                names.append(cell.run_name(label))
                points.append(dict(settings, recipe=recipes[label].to_dict()))
        if points:
            result = sweep(points, out=out, name=names, workers=workers, progress=progress, overwrite=overwrite)
            outcomes += result.outcomes
    order = {cell.run_name(label): (i, j) for i, cell in enumerate(cells) for j, label in enumerate(cell.recipes)}
    return sorted(outcomes, key=lambda outcome: order[outcome["name"]])
