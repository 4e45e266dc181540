"""A study's figures: the headline differences with their intervals, the learning curves of
every budget tried, and accuracy against sparsity per mask and arm."""
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from sparsekit.report.verdict import Verdict

from .stats import by_cell, mean_std


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def headline_figure(headline: Dict[Tuple[float, str], Optional[Verdict]], cells: Sequence[dict], path: Path,
                    title: str) -> None:
    """Pooled difference per sparsity and comparison, its 95% interval as a bar (no bar: the
    rule gives no interval), and each mask's own mean difference as a faint dot."""
    plt = pyplot()
    comparisons = list(dict.fromkeys(label for _, label in headline))
    sparsities = sorted({s for s, _ in headline})
    fig, ax = plt.subplots(figsize=(max(5.0, 2.2 * len(sparsities)), 3.8))
    step = 0.8 / max(1, len(comparisons))
    for index, label in enumerate(comparisons):
        offset = (index - (len(comparisons) - 1) / 2) * step
        for x, sparsity in enumerate(sparsities):
            found = headline.get((sparsity, label))
            if found is None:
                continue
            low = found.mean - found.low if found.low is not None else 0
            high = found.high - found.mean if found.high is not None else 0
            ax.errorbar(x + offset, found.mean, yerr=[[low], [high]], fmt="o", capsize=4, color=f"C{index}",
                        label=label if x == 0 or (sparsities[0], label) not in headline else None)
            dots = [c["verdict"].mean for c in cells if c["sparsity"] == sparsity
                    and f"{c['arm']} − {c['baseline']}" == label]
            ax.scatter([x + offset] * len(dots), dots, s=10, color=f"C{index}", alpha=0.35)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(sparsities)), [f"{s:g}" for s in sparsities])
    ax.set_xlabel("sparsity")
    ax.set_ylabel("paired difference in test accuracy\n(pooled mean, 95% interval; dots: masks)")
    ax.set_title(title, fontsize="medium")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(dict(zip(labels, handles)).values(), dict(zip(labels, handles)).keys(), fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def reanalysis_figure(pooled: Sequence[dict], cells: Sequence[dict], path: Path) -> None:
    """The re-analysis (REANALYSIS.md): per sparsity and comparison, `tost` first, the pooled mean
    over masks with its Holm-corrected interval (thick) and uncorrected one (thin), and each mask's
    mean difference as a dot. Degenerate cells are not drawn (out of the pooled line; their table
    reports them): their differences, near ±0.8, would flatten the rest."""
    plt = pyplot()
    comparisons = list(dict.fromkeys(p["comparison"] for p in pooled))
    sparsities = sorted({p["sparsity"] for p in pooled})
    fig, ax = plt.subplots(figsize=(max(5.5, 2.6 * len(sparsities)), 4.0))
    step = 0.8 / max(1, len(comparisons))
    for index, name in enumerate(comparisons):
        offset = (index - (len(comparisons) - 1) / 2) * step
        for x, sparsity in enumerate(sparsities):
            found = next((p for p in pooled if (p["comparison"], p["sparsity"]) == (name, sparsity)), None)
            if found is None or found["low"] is None:
                continue
            at = x + offset
            ax.vlines(at, found["low"], found["high"], color=f"C{index}", linewidth=1)
            if found["corrected_low"] is not None:
                ax.vlines(at, found["corrected_low"], found["corrected_high"], color=f"C{index}", linewidth=4,
                          alpha=0.45)
            ax.plot(at, found["mean"], "o", color=f"C{index}", label=name.replace(" - ", " − ") if x == 0 else None)
            mine = [c for c in cells if (c["comparison"], c["sparsity"]) == (name, sparsity)]
            kept = [c["mean"] for c in mine if not c["degenerate"]]
            ax.scatter([at + 0.04] * len(kept), kept, s=10, color=f"C{index}", alpha=0.4)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(sparsities)), [f"{s:g}" for s in sparsities])
    ax.set_xlabel("sparsity")
    ax.set_ylabel("difference in test accuracy\n(mean over masks; thick: Holm-corrected,\nthin: 95%; dots: masks)")
    ax.set_title("Re-analysis: pooled over masks, one mean per mask", fontsize="medium")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # none while every pooled line lacks an interval
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def curves_figure(found: Dict[str, Dict[str, dict]], order: List[str], path: Path) -> None:
    """Validation accuracy per epoch of every curve run, one panel per budget tried; colour by
    mask, line style by sparsity."""
    plt = pyplot()
    rungs = sorted(found, key=lambda name: order.index(name) if name in order else len(order))
    fig, axes = plt.subplots(1, len(rungs), figsize=(3.6 * len(rungs), 3.4), squeeze=False, sharey=True)
    masks = sorted({name.split("-")[0] for runs in found.values() for name in runs})
    for ax, rung in zip(axes[0], rungs):
        for name, record in sorted(found[rung].items()):
            values = [row["val_acc"] for row in record.get("epochs", [])]
            mask, sparsity = name.split("-")[0], name.split("-")[1]
            ax.plot(range(1, len(values) + 1), values, color=f"C{masks.index(mask)}", alpha=0.8,
                    linestyle="-" if sparsity == "0.9" else "--", label=f"{mask} {sparsity}")
        ax.set_title(rung, fontsize="medium")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation accuracy")
    # One legend for every panel: the (mask, sparsity) pairs of all budgets, not the first one's.
    shown = {label: handle for ax in axes[0] for handle, label in zip(*ax.get_legend_handles_labels())}
    fig.legend(list(shown.values()), list(shown.keys()), fontsize="x-small", loc="lower center",
               ncol=min(len(shown), 6), frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def accuracy_figure(rows: Sequence[dict], arms: Sequence[str], path: Path, ylabel: str) -> None:
    """Mean ± std over seeds against sparsity, one panel per mask, one line per arm."""
    plt = pyplot()
    cells = by_cell(rows)
    masks = sorted({r["mask"] for r in rows})
    fig, axes = plt.subplots(1, len(masks), figsize=(3.1 * len(masks), 3.2), squeeze=False, sharey=True)
    for ax, mask in zip(axes[0], masks):
        for index, arm in enumerate(arms):
            points = sorted((s, mean_std([v["accuracy"] for v in runs.values()]))
                            for (m, s, a), runs in cells.items() if m == mask and a == arm)
            if points:
                ax.errorbar([f"{s:g}" for s, _ in points], [p[0] for _, p in points], marker="o", capsize=3,
                            yerr=[p[1] or 0 for _, p in points], color=f"C{index}", label=arm)
        ax.set_title(mask)
        ax.set_xlabel("sparsity")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    axes[0][0].legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
