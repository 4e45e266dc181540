"""`make demo`: the paper in miniature. On digits, masks from several pruning methods at high
sparsity are trained three times: plainly, with the ToST recipe (ghosts in the early phase
only), and with the recipe as the release runs it (ghosts kept all run). The test accuracies
are printed side by side and drawn into `out/demo.png`.

Scaled to a few minutes on two CPU cores: ResNet-20 at half width, 10 epochs, one seed, and
GradInit shortened from the release's 180 iterations to 30 (the release spends 180
iterations before ~64k CIFAR steps; here training has 200 steps). The classifier stays
dense, as in the release. One seed on a small test set (359 digits: one digit is 0.3%) is
an illustration, not evidence; `benchmarks/recipe_study.py` repeats seeds.
"""
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from . import data as datasets, masks
from .checks import whole_number
from .recipe import Recipe
from .summary import format_table

DEMO_METHODS = ("random", "snip", "synflow", "grasp")
DEMO_SPARSITIES = (0.95, 0.98)
DEMO_EPOCHS = 10
DEMO_SETTINGS = dict(dataset="digits", model="resnet20", width=0.5, batch_size=64, prune_classifier=False, seed=0)
_TOST = Recipe.tost().with_changes(init_iterations=30)
DEMO_RECIPES = {
    "default": Recipe.default(),
    "tost": _TOST,  # ghosts in early mode: the final network is exactly the masked original
    # The release's variant: both ghosts kept all run (its dense 1x1 branches add weights beyond the mask).
    "tost_keep": _TOST.with_changes(ghost_neurons_mode="keep", ghost_skip_mode="keep"),
}
METRIC = "best_val_test_acc"  # test accuracy at the best validation epoch, as the release reports


def run_demo(out="runs/demo", epochs: Optional[int] = None, progress: bool = False, *,
             methods: Optional[Sequence[str]] = None, sparsities: Sequence[float] = DEMO_SPARSITIES,
             max_batches: Optional[int] = None) -> List[Dict[str, object]]:
    """Train every (method, sparsity) with and without the recipe; print the table, save
    the figure and each run's record under `out`; return the table's rows."""
    from .training import train

    out = Path(out)
    epochs = DEMO_EPOCHS if epochs is None else whole_number("epochs", epochs, 1)  # 0 is an error, not "default"
    methods = [m for m in (methods or DEMO_METHODS) if m in masks.available()]
    bundle = datasets.load(DEMO_SETTINGS["dataset"], batch_size=DEMO_SETTINGS["batch_size"],
                           seed=DEMO_SETTINGS["seed"])
    print(f"ToST in miniature: {DEMO_SETTINGS['model']} (width {DEMO_SETTINGS['width']}) on digits, {epochs} epochs; "
          f"tost = {DEMO_RECIPES['tost'].describe()}", flush=True)
    started = time.perf_counter()
    grid: Dict[str, Dict[str, dict]] = {}
    rows = []
    for sparsity in sparsities:
        for method in methods:
            results = {}
            for label, recipe in DEMO_RECIPES.items():
                results[label] = train(recipe=recipe, mask=method, sparsity=sparsity, epochs=epochs,
                                       max_batches=max_batches, data=bundle, progress=progress, overwrite=True,
                                       out=str(out / f"{method}-{sparsity}-{label}"), **DEMO_SETTINGS)
                print(f"  {method:<8} sparsity {sparsity}  {label:<7} {results[label][METRIC]:.4f} "
                      f"({results[label]['seconds']:.0f} s)", flush=True)
            grid[f"{method}\n{sparsity:g}"] = results
            rows.append({"method": method, "sparsity": sparsity, "default_acc": results["default"][METRIC],
                         **{f"{label}_acc": results[label][METRIC] for label in DEMO_RECIPES if label != "default"},
                         **{f"{label}_delta": results[label][METRIC] - results["default"][METRIC]
                            for label in DEMO_RECIPES if label != "default"}})
    seconds = time.perf_counter() - started
    arms = [label for label in DEMO_RECIPES if label != "default"]
    print(format_table(["method", "sparsity", "default acc"] + [h for a in arms for h in (f"{a} acc", f"{a} delta")],
                       [[r["method"], r["sparsity"], r["default_acc"]] + [r[f"{a}_{k}"] for a in arms
                                                                           for k in ("acc", "delta")]
                        for r in rows]))
    print("tost: ghosts only in the early phase (the trained network is exactly the masked original); "
          "tost_keep: ghosts kept all run, as in the release (its dense 1x1 branches add weights beyond the mask)")
    figure = _save_figure(grid, out / "demo.png", epochs)
    print(f"{len(rows) * len(DEMO_RECIPES)} runs in {seconds:.0f} s; figure: {figure}; records: {out}/*/record.json")
    return rows


def _save_figure(grid, path: Path, epochs: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # a script: no display needed
    import matplotlib.pyplot as plt

    from .run_plots import plot_grouped_accuracy

    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(grid)), 3.8))
    plot_grouped_accuracy(grid, metric=METRIC, ax=ax,
                          title=f"digits, ResNet-20 x0.5, {epochs} epochs: default vs ToST recipe")
    low = min(run[METRIC] for runs in grid.values() for run in runs.values())
    ax.set_ylim(max(0.0, low - 0.1), 1.0)  # the differences are a few points: do not hide them
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")  # beside the bars, not on them
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
