"""`make demo`: the paper in miniature. On digits, masks from several pruning methods at 98%
sparsity are trained three ways, each with 3 seeds: plainly; with the ToST recipe as the
abstract reads it (ghosts in the early phase only); and with the recipe as the public release
runs it (ghosts kept all run). Test accuracies are printed as mean ± std over the seeds,
with the paired difference to plain training, and drawn into `out/demo.png`.

Scaled to under five minutes on two CPU cores (27 runs): three masks (random, SNIP and GraSP:
on digits the recipe's effects went both ways on these), ResNet-20 at half width, 8 epochs,
and GradInit shortened from the release's 180 iterations to 30 (the release spends 180
iterations before ~64k CIFAR steps; here training has 160 steps). The classifier stays dense, as in the
release. Digits is small (359 test images: one image is 0.3%), so even 3 seeds say little:
the Fashion-MNIST study (`benchmarks/recipe_study.py`, README) is the evidence.
"""
import statistics
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..report.verdict import paired_verdict
from ..runs import mask_sources
from ..core.checks import whole_number
from ..training.run_dir import check_location
from ..core.errors import SparsekitError
from ..recipe import Recipe
from ..report.summary import format_table
from . import sweeps

DEMO_METHODS = ("random", "snip", "grasp")
DEMO_SPARSITIES = (0.98,)
DEMO_SEEDS = 3
DEMO_EPOCHS = 8
DEMO_SETTINGS = dict(dataset="digits", model="resnet20", width=0.5, batch_size=64, prune_classifier=False)
DEMO_RECIPES = {
    "default": Recipe.default(),
    "tost": Recipe.tost().with_changes(init_iterations=30),  # the final network is exactly the masked original
    "tost-release": Recipe.release().with_changes(init_iterations=30),  # its dense 1x1 branches stay
}
METRIC = "best_val_test_acc"  # test accuracy at the best validation epoch, as the release reports
DIGITS_RESOLUTION = 1 / 359  # one of the 359 test digits: the floor of a spread (`paired_verdict`)


def run_demo(out="runs/demo", epochs: Optional[int] = None, progress: bool = True, *,
             methods: Optional[Sequence[str]] = None, sparsities: Sequence[float] = DEMO_SPARSITIES,
             seeds: int = DEMO_SEEDS, max_batches: Optional[int] = None) -> List[Dict[str, object]]:
    """Train every (method, sparsity, seed) mask with each recipe (one `sweep`, over this
    machine's cores); print the table, save the figure and each run's record under `out`;
    return the table's rows (means over seeds)."""
    check_location(out)  # before the first line is printed: a bad folder is refused, not started
    out = Path(out)
    epochs = DEMO_EPOCHS if epochs is None else whole_number("epochs", epochs, 1)  # 0 is an error, not "default"
    methods = [m for m in (methods or DEMO_METHODS) if m in mask_sources.available()]
    print(f"ToST in miniature: {DEMO_SETTINGS['model']} (width {DEMO_SETTINGS['width']}) on digits, {epochs} epochs, "
          f"{seeds} seeds; tost = {DEMO_RECIPES['tost'].describe()}", flush=True)
    started = time.perf_counter()
    # One sweep: each (method, sparsity, seed) mask is computed once and trained by every
    # recipe (its recipe axis); the demo always trains afresh (overwrite): its table is of this call's runs.
    result = sweeps.sweep(grid={"mask": methods, "sparsity": list(sparsities)},
                          fixed=dict(DEMO_SETTINGS, epochs=epochs, max_batches=max_batches), seeds=list(range(seeds)),
                          recipes=DEMO_RECIPES, name="{mask}-{sparsity:g}", out=out, progress=progress, overwrite=True)
    if result.failures:
        raise SparsekitError(result.summary())
    accuracy: Dict[tuple, List[float]] = {}
    for seed in range(seeds):  # seeds outermost, as the paired differences need
        for sparsity in sparsities:
            for method in methods:
                for label in DEMO_RECIPES:
                    record = result.records[f"{method}-{sparsity:g}-seed{seed}-{label}"]
                    accuracy.setdefault((method, sparsity, label), []).append(record[METRIC])
    rows = [_row(accuracy, method, sparsity) for sparsity in sparsities for method in methods]
    arms = [label for label in DEMO_RECIPES if label != "default"]
    print(format_table(["method", "sparsity", "default"] + [h for a in arms for h in (a, f"{a} − default")],
                       [[r["method"], r["sparsity"], r["default"]] + [r[k] for a in arms for k in (a, f"{a}_delta")]
                        for r in rows]))
    print("mean ± std over seeds; differences are paired by seed (same init, same mask), with the 95% t-interval "
          "and verdict of sparsekit.report.verdict. tost: ghosts only in the "
          "early phase; tost-release: ghosts kept all run (its dense 1x1 branches add weights beyond the mask)")
    figure = _save_figure(accuracy, methods, sparsities, out / "demo.png", epochs, seeds)
    print(f"{len(accuracy) * seeds} runs in {time.perf_counter() - started:.0f} s; figure: {figure}; "
          f"records: {out}/*/record.json")
    return rows


def _mean_std(values: List[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4f} ± {spread:.4f}"


def _difference(differences: List[float]) -> str:
    """Mean paired difference with its 95% interval and verdict, by the kit's one rule."""
    found = paired_verdict(differences, "", resolution=DIGITS_RESOLUTION)
    interval = f" [{found.low:+.4f}, {found.high:+.4f}]" if found.low is not None else ""
    return f"{found.mean:+.4f}{interval}: {found.word}"


def _row(accuracy, method: str, sparsity: float) -> Dict[str, object]:
    base = accuracy[(method, sparsity, "default")]
    row = {"method": method, "sparsity": sparsity, "default": _mean_std(base),
           "default_mean": statistics.fmean(base)}
    for label in DEMO_RECIPES:
        if label != "default":
            values = accuracy[(method, sparsity, label)]
            row[label] = _mean_std(values)
            row[f"{label}_mean"] = statistics.fmean(values)
            row[f"{label}_delta"] = _difference([v - b for v, b in zip(values, base)])
    return row


def _save_figure(accuracy, methods, sparsities, path: Path, epochs: int, seeds: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # a script: no display needed
    import matplotlib.pyplot as plt

    groups = [(m, s) for s in sparsities for m in methods]
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(groups)), 3.8))
    width = 0.8 / len(DEMO_RECIPES)
    for index, label in enumerate(DEMO_RECIPES):
        values = [accuracy[(m, s, label)] for m, s in groups]
        positions = [g + (index - (len(DEMO_RECIPES) - 1) / 2) * width for g in range(len(groups))]
        ax.bar(positions, [statistics.fmean(v) for v in values], width, label=label, color=f"C{index}",
               yerr=[statistics.stdev(v) if len(v) > 1 else 0 for v in values], capsize=3)
    ax.set_xticks(range(len(groups)), [f"{m}\n{s:g}" for m, s in groups])
    low = min(min(v) for v in accuracy.values())
    ax.set_ylim(max(0.0, low - 0.1), 1.0)  # the differences are a few points: do not hide them
    ax.set_ylabel("test acc at best val")
    ax.set_title(f"digits, ResNet-20 x0.5, {epochs} epochs, mean ± std over {seeds} seeds")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
