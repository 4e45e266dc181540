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

Runs land in OUT/runs/<mask>-<sparsity>-seed<seed>-<recipe>/; a run whose record says
finished is read back, so a killed study resumes where it stopped (cells run in parallel
worker processes; one thread each). `study_report.py` turns the records into tables, paired
differences with 95% intervals, a figure and a verdict (OUT/report.md, OUT/study.png).
"""
import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import study_report  # noqa: E402  (benchmarks/ is not a package)

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
TRICKS = ("ghost_neurons", "ghost_skip", "init", "label_smoothing")


def recipes_for(preset: dict, init_iterations=None) -> dict:
    """label -> Recipe dict: the grid's presets, then each trick of the release's recipe alone."""
    from sparsekit import Recipe

    changes = {"init_batch_size": preset["init_batch_size"]}
    if init_iterations is not None:
        changes["init_iterations"] = init_iterations
    release = Recipe.release().with_changes(**changes)
    default = Recipe.default()
    alone = {"ghost_neurons": dict(ghost_neurons=release.ghost_neurons, ghost_neurons_mode="keep"),
             "ghost_skip": dict(ghost_skip=True, ghost_skip_mode="keep"),
             "init": dict(init="gradinit", **changes),
             "label_smoothing": dict(label_smoothing=release.label_smoothing)}
    grid = {"default": default, "tost": Recipe.tost().with_changes(**changes), "tost-release": release}
    grid.update({label: default.with_changes(**values) for label, values in alone.items()})
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
        plan += [(method, headline, seed, ["default"] + list(TRICKS)) for seed in trick_seeds for method in methods]
    return plan


def run_cell(out: str, preset_name: str, method: str, sparsity: float, seed: int, labels, recipes: dict,
             progress: bool = False) -> list:
    """Train (or read back) every run of one cell; returns their rows. Runs in a worker."""
    import torch

    from sparsekit import Mask, Recipe, data as datasets, train

    torch.set_num_threads(1)
    preset = PRESETS[preset_name]
    settings = dict(preset["train"], seed=seed, sparsity=sparsity, progress=progress,
                    mask_options=", ".join(f"{k}={v}" for k, v in preset["mask_options"].get(method, {}).items()))
    bundle = None
    mask, rows = method, []
    for label in labels:
        run_dir = Path(out) / "runs" / f"{method}-{sparsity:g}-seed{seed}-{label}"
        record = _finished_record(run_dir)
        if record is None:
            if bundle is None:
                bundle = datasets.load(settings["dataset"], batch_size=settings["batch_size"], seed=seed,
                                       train_examples=settings.get("train_examples"))
            record = dict(train(recipe=Recipe.from_dict(recipes[label]), mask=mask, data=bundle, out=str(run_dir),
                                overwrite=True, **settings))
        if label == "default":
            mask = Mask.load(run_dir / "mask.pt")  # the cell's mask, trained by every other recipe
        rows.append(study_report.row_of(record, method, sparsity, seed, label))
    return rows


def _finished_record(run_dir: Path):
    path = run_dir / "record.json"
    if path.is_file():
        record = json.loads(path.read_text())
        if record.get("finished"):
            return record
    return None


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
    PRESETS[args.preset] = preset  # workers read the preset by name (fork keeps this; see _pool)
    methods = args.methods.split(",") if args.methods else list(preset["methods"])
    sparsities = [float(s) for s in args.sparsities.split(",")] if args.sparsities else list(preset["sparsities"])
    out = Path(args.out or f"build/study-{args.preset}")
    recipes = recipes_for(preset, args.init_iterations)
    plan = cell_plan(preset, args.seeds, range(args.trick_seeds), methods, sparsities)
    started = time.perf_counter()
    if not args.report_only:
        failures = _run_plan(out, args.preset, plan, recipes, args.workers)
        if failures:
            print(f"{len(failures)} cells failed: " + "; ".join(failures), file=sys.stderr)
    rows = study_report.collect(out)
    study_report.report(rows, out, headline=preset["trick_sparsity"], title=f"{args.preset} study")
    print(f"{len(rows)} runs reported in {time.perf_counter() - started:.0f} s; {out}/report.md, study.png")
    return 0


def _run_plan(out: Path, preset_name: str, plan, recipes: dict, workers: int) -> list:
    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(json.dumps({"preset": PRESETS[preset_name], "recipes": recipes, "cells": plan},
                                              indent=1, default=str))
    failures = []
    # fork: the workers inherit the preset as edited by the command line.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        futures = {pool.submit(run_cell, str(out), preset_name, m, s, seed, labels, recipes): (m, s, seed)
                   for m, s, seed, labels in plan}
        for done, future in enumerate(as_completed(futures), 1):
            method, sparsity, seed = futures[future]
            try:
                rows = future.result()
                print(f"[{done}/{len(plan)}] {method} {sparsity:g} seed {seed}: " +
                      ", ".join(f"{r['recipe']} {r['accuracy']:.4f}" for r in rows), flush=True)
            except Exception as error:  # one failed cell never stops the others
                failures.append(f"{method} {sparsity:g} seed {seed}: {type(error).__name__}: {error}")
                print(f"[{done}/{len(plan)}] FAILED {failures[-1]}", flush=True)
    return failures


if __name__ == "__main__":
    sys.exit(main())
