"""Does the ToST recipe train a sparse mask better? A seeded grid, run in parallel, resumable.

    python benchmarks/recipe_study.py --out benchmarks/results/study-fashion   # the README study
    python benchmarks/recipe_study.py --preset digits       # the older, smaller study on digits
    python benchmarks/recipe_study.py --report-only         # tables and figure from what is there

Grid: masks x sparsities x {default, tost, tost-release} x seeds, plus each of the four tricks
alone at the headline sparsity for the seeds in --trick-seeds. Every run of a (mask,
sparsity, seed) cell trains the SAME mask from the SAME seeded initialisation: the cell's
default run computes the mask (for lottery: iterative pruning with rewinding to that init)
and the other recipes reuse it. Nothing here is tuned toward the recipe: the recipes are the
presets, at their published values, except GradInit's half-batch (see the presets below).

Runs land in OUT/runs/<mask>-<sparsity>-seed<seed>-<recipe>/, trained by the masks x recipes
runner (`sparsekit.app.recipe_grid.run_cells`, as sweeps over worker processes, the cores
divided among them): first every cell's default run, then the other recipes on the masks
those saved. A finished run is read back and an interrupted one
resumes, so a killed study completes only what is missing. `python -m study.report OUT` turns
the records into tables, paired differences with 95% intervals, a figure and a verdict
(OUT/report.md, OUT/study.png), labelled as a short-schedule result.
"""
import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sweep workers import this module by its name
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # the study's report, `study/` at the repository root
from sparsekit.recipe.settings import TRICK_LIST  # noqa: E402
from study.report import write_study_report  # noqa: E402

# What the README's study ran, and why (about 2 hours on 2 idle CPU cores):
# - Fashion-MNIST at full 28x28 resolution, tested on the official 10,000 images;
# - ResNet-20 at half width (8/16/32 channels, 67k prunable weights), convolutions pruned and
#   the classifier dense (the release's prunable set);
# - 3,000 class-balanced training images, 2 epochs of batch 64 (94 steps, cosine from 0.1):
#   a default run costs about 50 CPU-seconds, half of it evaluating 15,000 images per epoch;
# - GradInit with the release's 180 iterations, lr, eta and gamma, on half-batches of 8
#   instead of the training batch: one iteration differentiates twice through the network,
#   and at 64 the search would cost several times the training run itself;
# - every (mask, sparsity) with default, tost and tost-release on 3 seeds; each trick alone at
#   0.98 on --trick-seeds seeds (default 1: indicative, no interval).
PRESETS = {
    "fashion": {
        "train": dict(dataset="fashion_mnist", model="resnet20", width=0.5, train_examples=3000, batch_size=64,
                      epochs=2, prune_classifier=False),
        "methods": ("random", "erk", "snip", "grasp", "synflow", "lottery", "ramanujan"),
        "sparsities": (0.9, 0.98, 0.995),
        "trick_sparsity": 0.98,
        "init_batch_size": 8,
        "mask_options": {"lottery": {"prune_fraction": 0.5, "round_epochs": 1}},
    },
    "digits": {
        "train": dict(dataset="digits", model="resnet20", width=0.5, batch_size=64, epochs=10,
                      prune_classifier=False),
        "methods": ("random", "erk", "magnitude", "snip", "grasp", "synflow", "lottery"),
        "sparsities": (0.9, 0.95, 0.98),
        "trick_sparsity": 0.95,
        "init_batch_size": 0,
        "mask_options": {},
    },
}


def recipes_for(preset: dict, init_iterations=None) -> dict:
    """label -> Recipe dict: the grid's presets, then each trick of the release's recipe alone."""
    from sparsekit import Recipe

    changes = {"init_batch_size": preset["init_batch_size"]}
    if init_iterations is not None:
        changes["init_iterations"] = init_iterations
    release = Recipe.release().with_changes(**changes)
    default = Recipe.default()
    grid = {"default": default, "tost": Recipe.tost().with_changes(**changes), "tost-release": release}
    # Each trick alone, as the release runs it (its own settings only).
    grid.update({trick.name: default.with_changes(**{name: getattr(release, name) for name in trick.field_names()})
                 for trick in TRICK_LIST})
    return {label: recipe.to_dict() for label, recipe in grid.items()}


def cell_plan(preset: dict, seeds: int, trick_seeds, methods, sparsities):
    """(method, sparsity, seed, [recipe labels]) per cell, in the order that makes a partial
    study most useful: the headline sparsity first, all seeds, then the other sparsities,
    then the tricks alone (their cells start by reading back the default run and its mask)."""
    headline = preset["trick_sparsity"]
    ordered = sorted(sparsities, key=lambda s: (s != headline, sparsities.index(s)))
    plan = [(method, sparsity, seed, ["default", "tost", "tost-release"])
            for sparsity in ordered for seed in range(seeds) for method in methods]
    if headline in sparsities:
        plan += [(method, headline, seed, ["default"] + [trick.name for trick in TRICK_LIST]) for seed in trick_seeds for method in methods]
    return plan


def plan_cells(preset: dict, plan):
    """The plan as `run_cells` cells: one per (mask, sparsity, seed), named as its run folders
    begin; its first recipe ("default") computes the mask the others train."""
    from sparsekit.app.recipe_grid import Cell

    cells = []
    for method, sparsity, seed, labels in plan:
        options = ", ".join(f"{k}={v}" for k, v in preset["mask_options"].get(method, {}).items())
        settings = dict(preset["train"], mask=method, sparsity=sparsity, seed=seed, mask_options=options)
        cells.append(Cell(f"{method}-{sparsity:g}-seed{seed}", settings, labels))
    return cells


def restart_runs_of_the_old_runner(runs: Path, names) -> None:
    """Unfinished runs the hand-written runner left (their record has no "sweep" entry) cannot
    resume under the sweep (it trains the cell's mask from its file); that runner restarted
    them, and so do we."""
    for name in names:
        path = runs / name / "record.json"
        if path.is_file():
            record = json.loads(path.read_text())
            if not record.get("finished") and "sweep" not in record:
                shutil.rmtree(runs / name)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fashion", choices=sorted(PRESETS), help="study set-up (default: fashion)")
    parser.add_argument("--out", default=None, help="output directory (default: build/study-PRESET)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell (default: 3)")
    parser.add_argument("--trick-seeds", type=int, default=1, help="seeds of the tricks-alone runs (default: 1)")
    parser.add_argument("--methods", default=None, help="comma-separated mask methods (default: the preset's)")
    parser.add_argument("--sparsities", default=None, help="comma-separated sparsities (default: the preset's)")
    parser.add_argument("--workers", type=int, default=2, help="parallel worker processes, one thread each")
    parser.add_argument("--init-iterations", type=int, default=None, help="GradInit iterations (default: 180)")
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's epochs (smoke runs)")
    parser.add_argument("--max-batches", type=int, default=None, help="cap on batches per epoch (smoke runs)")
    parser.add_argument("--report-only", action="store_true", help="train nothing; report what is there")
    args = parser.parse_args(argv)
    preset = dict(PRESETS[args.preset])
    preset["train"] = dict(preset["train"], **({"epochs": args.epochs} if args.epochs else {}),
                           **({"max_batches": args.max_batches} if args.max_batches else {}))
    PRESETS[args.preset] = preset
    methods = args.methods.split(",") if args.methods else list(preset["methods"])
    sparsities = [float(s) for s in args.sparsities.split(",")] if args.sparsities else list(preset["sparsities"])
    out = Path(args.out or f"build/study-{args.preset}")
    recipes = recipes_for(preset, args.init_iterations)
    plan = cell_plan(preset, args.seeds, range(args.trick_seeds), methods, sparsities)
    started = time.perf_counter()
    if not args.report_only:
        failures = _run_plan(out, args.preset, plan, recipes, args.workers)
        if failures:
            print(f"{len(failures)} runs failed: " + "; ".join(failures), file=sys.stderr)
    print(write_study_report(out))
    rows = json.loads((out / "rows.json").read_text())
    print(f"{len(rows)} runs reported in {time.perf_counter() - started:.0f} s; {out}/report.md, study.png")
    return 0


def _run_plan(out: Path, preset_name: str, plan, recipes: dict, workers: int) -> list:
    """Every cell's default run (it computes the cell's mask), then the other recipes on those
    masks (`run_cells`, as two sweeps). A failed run never stops the others; finished runs are
    read back."""
    from sparsekit.app.recipe_grid import run_cells

    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(json.dumps({"preset": PRESETS[preset_name], "recipes": recipes, "cells": plan},
                                              indent=1, default=str))
    cells = plan_cells(PRESETS[preset_name], plan)
    restart_runs_of_the_old_runner(out / "runs", [cell.run_name(label) for cell in cells for label in cell.recipes])
    result = run_cells(cells, recipes, out=out / "runs", workers=workers)
    print(result.summary(), flush=True)
    return [f"{f['name']}: {f['error']}" for f in result.failures]


if __name__ == "__main__":
    sys.exit(main())
