"""Does the ToST recipe help, and which trick does it? A seeded grid on digits.

    python benchmarks/recipe_study.py [--out build/study] [--epochs 10] [--seeds 3]

Grid: masks {random, erk, magnitude, snip, grasp, synflow, lottery} x sparsity {0.9, 0.95,
0.98} x recipe {default, tost} x seeds, plus each trick alone at 0.95 for every mask and
seed. `--keep-mode` adds tost with both ghosts kept for the whole run (the release's variant;
its 1x1 branches add dense weights, so it is not a same-sparsity comparison). Model and data settings are the demo's (ResNet-20 x0.5 on digits, batch 64, dense
classifier); the tost recipe is `Recipe.tost()` unchanged (GradInit 180 iterations) unless
--init-iterations says otherwise. Nothing here is tuned toward the recipe.

Each (mask, sparsity, seed) computes its mask once, in its default run; every other run of
that cell trains the SAME mask from the SAME seeded init (for lottery, the rewind point is
that init), so the recipes differ only in training. Runs land in OUT/runs/<name>/; a run whose
record says finished is read back instead of trained again, so an interrupted study resumes.
Writes OUT/study.csv (one row per run), OUT/summary.csv (mean, std per cell), OUT/table.md
(default vs recipe side by side), OUT/tricks.md (each trick alone) and OUT/study.png (mean +- std), and prints the tables.
"""
import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

from sparsekit import Mask, Recipe, data as datasets, masks, train
from sparsekit.demo import DEMO_SETTINGS, METRIC
from sparsekit.interactive import recipe_from_toggles
from sparsekit.summary import format_table

METHODS = ("random", "erk", "magnitude", "snip", "grasp", "synflow", "lottery")
SPARSITIES = (0.9, 0.95, 0.98)
TRICKS_SPARSITY = 0.95


def trick_recipes(tost: Recipe) -> dict:
    """Each of tost's four tricks alone, at the paper's values (GradInit with tost's iterations)."""
    toggles = {"ghost_neurons": "ghost_neurons", "ghost_skip": "ghost_skip", "init": "modified_init",
               "label_smoothing": "label_smoothing"}  # the CSV's label -> interactive's toggle name
    return {label: recipe_from_toggles(**{toggle: True},
                                       options={"init_iterations": tost.init_iterations} if label == "init" else None)
            for label, toggle in toggles.items()}


def run_once(run_dir: Path, mask, **settings):
    """(record, mask, trained now?) of a finished run: read back from run_dir if it is
    there, else trained."""
    record_path = run_dir / "record.json"
    if record_path.is_file():
        record = json.loads(record_path.read_text())
        if record.get("finished"):
            return record, Mask.load(run_dir / "mask.pt"), False
    result = train(out=str(run_dir), overwrite=True, mask=mask, **settings)
    return dict(result), result.mask, True


def study(out: Path, methods, sparsities, seeds: int, epochs: int, max_batches=None, init_iterations=None,
          tricks: bool = True, keep_mode: bool = False, progress: bool = False):
    """Train the grid; returns one row per run, and how many runs this call trained (the
    others were read back from a previous call)."""
    tost = Recipe.tost() if init_iterations is None else Recipe.tost().with_changes(init_iterations=init_iterations)
    full_grid = {"tost": tost}  # recipes trained at every sparsity; the tricks only at TRICKS_SPARSITY
    if keep_mode:  # the release's variant: both ghosts stay for the whole run
        full_grid["tost_keep"] = tost.with_changes(ghost_neurons_mode="keep", ghost_skip_mode="keep")
    recipes = {**full_grid, **(trick_recipes(tost) if tricks else {})}
    base = dict(DEMO_SETTINGS, epochs=epochs, max_batches=max_batches, progress=progress)
    rows, trained_now = [], 0
    for seed in range(seeds):
        bundle = datasets.load(base["dataset"], batch_size=base["batch_size"], seed=seed)
        for method in methods:
            for sparsity in sparsities:
                cell = dict(base, seed=seed, sparsity=sparsity, data=bundle)
                name = f"{method}-{sparsity:g}-seed{seed}"
                record, mask, trained = run_once(out / "runs" / f"{name}-default", method,
                                                 recipe=Recipe.default(), **cell)
                rows.append(_row(method, sparsity, "default", seed, record))
                trained_now += trained
                for label, recipe in recipes.items():
                    if label not in full_grid and sparsity != TRICKS_SPARSITY:
                        continue
                    record, _, trained = run_once(out / "runs" / f"{name}-{label}", mask, recipe=recipe, **cell)
                    rows.append(_row(method, sparsity, label, seed, record))
                    trained_now += trained
                print(f"  {name}: " + ", ".join(f"{r['recipe']} {r['accuracy']:.4f}" for r in rows
                                               if (r["method"], r["sparsity"], r["seed"]) == (method, sparsity, seed)),
                      flush=True)
    return rows, trained_now


def _row(method, sparsity, recipe, seed, record):
    return {"method": method, "sparsity": sparsity, "recipe": recipe, "seed": seed, "accuracy": record[METRIC],
            "final_test_acc": record["test_acc"], "density": record["density"], "seconds": record["seconds"]}


def summarize(rows):
    """Mean and standard deviation of the accuracy per (method, sparsity, recipe)."""
    cells = {}
    for row in rows:
        cells.setdefault((row["method"], row["sparsity"], row["recipe"]), []).append(row["accuracy"])
    return [{"method": m, "sparsity": s, "recipe": r, "mean": statistics.fmean(v),
             "std": statistics.stdev(v) if len(v) > 1 else 0.0, "runs": len(v)}
            for (m, s, r), v in cells.items()]


def side_by_side(summary):
    """Headers and rows: one row per (method, sparsity), default vs each full-grid recipe."""
    cell = {(s["method"], s["sparsity"], s["recipe"]): s for s in summary}
    arms = [r for r in ("tost", "tost_keep") if any(k[2] == r for k in cell)]
    headers = ["mask", "sparsity", "default"] + [h for r in arms for h in (r, f"{r} - default")]
    rows = []
    for method, sparsity in dict.fromkeys((s["method"], s["sparsity"]) for s in summary):
        base = cell.get((method, sparsity, "default"))
        if base is None:
            continue
        row = [method, f"{sparsity:g}", _mean_std(base)]
        for arm in arms:
            other = cell.get((method, sparsity, arm))
            row += [_mean_std(other), f"{other['mean'] - base['mean']:+.4f}"] if other else ["", ""]
        rows.append(row)
    return headers, rows


def tricks_alone(summary):
    """Headers and rows at TRICKS_SPARSITY: per mask, default, each trick alone and the full
    recipe (mean over seeds), plus a last row averaging over masks."""
    cell = {(s["method"], s["recipe"]): s["mean"] for s in summary if s["sparsity"] == TRICKS_SPARSITY}
    recipes = [r for r in ("default", "ghost_neurons", "ghost_skip", "init", "label_smoothing", "tost", "tost_keep")
               if any(k[1] == r for k in cell)]
    methods = list(dict.fromkeys(k[0] for k in cell))
    rows = [[m] + [f"{cell[(m, r)]:.4f}" if (m, r) in cell else "" for r in recipes] for m in methods]
    rows.append(["mean over masks"] + [f"{statistics.fmean(cell[(m, r)] for m in methods if (m, r) in cell):.4f}"
                                        for r in recipes])
    return [f"mask (sparsity {TRICKS_SPARSITY:g})"] + recipes, rows


def _mean_std(entry) -> str:
    return f"{entry['mean']:.4f} ± {entry['std']:.4f}"


def write_markdown(headers, rows, path: Path) -> None:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    path.write_text("\n".join(lines) + "\n")


def write_csv(rows, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def plot(summary, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(s["method"] for s in summary))
    fig, axes = plt.subplots(1, len(methods) + 1, figsize=(3 * (len(methods) + 1), 3.2), squeeze=False)
    for ax, method in zip(axes[0], methods):
        for index, recipe in enumerate(("default", "tost", "tost_keep")):
            points = sorted((s["sparsity"], s["mean"], s["std"]) for s in summary
                            if s["method"] == method and s["recipe"] == recipe)
            if points:
                xs, means, stds = zip(*points)
                ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, color=f"C{index}", label=recipe)
        ax.set_title(method)
        ax.set_xlabel("sparsity")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test acc at best val (mean +- std)")
    axes[0][0].legend(fontsize="small")
    ax = axes[0][-1]
    labels = list(dict.fromkeys(s["recipe"] for s in summary if s["sparsity"] == TRICKS_SPARSITY))
    means = [statistics.fmean(s["mean"] for s in summary if s["recipe"] == r and s["sparsity"] == TRICKS_SPARSITY)
             for r in labels]
    ax.bar(range(len(labels)), means, color=[f"C{i}" for i in range(len(labels))])
    ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right", fontsize="small")
    ax.set_ylim(max(0.0, min(means) - 0.1), 1.0)
    ax.set_title(f"each trick alone, sparsity {TRICKS_SPARSITY}\n(mean over masks and seeds)", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/study", help="output directory (default: build/study)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per run (default: 10, the demo's)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell (default: 3)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated mask methods")
    parser.add_argument("--sparsities", default=",".join(map(str, SPARSITIES)), help="comma-separated sparsities")
    parser.add_argument("--max-batches", type=int, default=None, help="cap on batches per epoch (smoke runs)")
    parser.add_argument("--init-iterations", type=int, default=None, help="GradInit iterations (default: tost's 180)")
    parser.add_argument("--no-tricks", action="store_true", help="skip the each-trick-alone runs")
    parser.add_argument("--keep-mode", action="store_true",
                        help="also train tost with both ghosts kept all run (the release's variant)")
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in masks.available()]
    if unknown:
        print(f"error: unknown mask method {unknown[0]!r}; choose from: {', '.join(masks.available())}",
              file=sys.stderr)
        return 2
    out = Path(args.out)
    started = time.perf_counter()
    rows, trained_now = study(out, methods, [float(s) for s in args.sparsities.split(",")], args.seeds, args.epochs,
                 args.max_batches, args.init_iterations, tricks=not args.no_tricks, keep_mode=args.keep_mode)
    summary = summarize(rows)
    write_csv(rows, out / "study.csv")
    write_csv(summary, out / "summary.csv")
    plot(summary, out / "study.png")
    print(format_table(["method", "sparsity", "recipe", "mean acc", "std", "runs"],
                       [[s["method"], s["sparsity"], s["recipe"], s["mean"], s["std"], s["runs"]] for s in summary]))
    for headers, table, name in (side_by_side(summary) + ("table.md",), tricks_alone(summary) + ("tricks.md",)):
        print(format_table(headers, table))
        write_markdown(headers, table, out / name)
    print(f"{len(rows)} runs, {trained_now} trained now and {len(rows) - trained_now} read back, in "
          f"{time.perf_counter() - started:.0f} s; {out}/study.csv, summary.csv, table.md, "
          f"tricks.md, study.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
