"""The converged study's answer as one figure: per (mask, sparsity) cell, each comparison's
mean paired difference with its 95% interval, one panel per sparsity. Drawn from the answer
read through the package (`answer.load_answer`), so it shows inline wherever JupyterLab was
started; no image file is linked."""
from typing import Sequence

from .answer import StudyAnswer, comparison_key

HEADLINE = ("tost - default", "tost-release - default", "capacity - default", "tost-release - capacity")
# An interval this many times wider than the median one (a seed that stayed at chance) does not
# set the scale: it is cut at the axis edge and marked, so it cannot flatten the rest to dots.
WIDE_FACTOR = 10
CORRECTED_WIDTH = 0.8  # the Holm-corrected interval: a thin line through the thick 95% one


def _limits(cells: Sequence[dict]):
    """The y range of the intervals of cells that are not degenerate (0 always inside)."""
    kept = [c for c in cells if not c.get("degenerate")] or list(cells)
    spread = [c["high"] - c["low"] for c in kept]
    typical = sorted(spread)[len(spread) // 2] if spread else 0.0
    values = [0.0] + [v for c, s in zip(kept, spread) if s <= WIDE_FACTOR * max(typical, 1e-3)
                      for v in (c["mean"], c["low"], c["high"], c.get("corrected_low"), c.get("corrected_high"))
                      if v is not None]
    low, high = min(values), max(values)
    pad = 0.08 * (high - low or 0.02)
    return low - pad, high + pad


def _draw_cell(ax, x: float, colour: str, cell: dict, edges) -> None:
    """The mean, the 95% interval (thick), the corrected one (thin) where given, each cut at the
    axis `edges`; a triangle at an edge an interval runs past."""
    low_edge, high_edge = edges
    spans = [(cell["low"], cell["high"], 2.0)]
    if cell.get("corrected_low") is not None and cell.get("corrected_high") is not None:
        spans.append((cell["corrected_low"], cell["corrected_high"], CORRECTED_WIDTH))
    for low, high, width in spans:
        ax.plot([x, x], [max(low, low_edge), min(high, high_edge)], color=colour, linewidth=width)
    mean = min(max(cell["mean"], low_edge), high_edge)
    ax.plot([x], [mean], "o", color=colour, markerfacecolor="white" if cell.get("degenerate") else colour)
    if min(low for low, _, _ in spans) < low_edge:
        ax.plot([x], [low_edge], "v", color=colour, markersize=7)
    if max(high for _, high, _ in spans) > high_edge:
        ax.plot([x], [high_edge], "^", color=colour, markersize=7)


def plot_study_answer(answer: StudyAnswer, comparisons: Sequence[str] = HEADLINE, fig=None):
    """One panel per sparsity, masks along x, one colour per comparison: the mean, its 95%
    interval (thick) and the corrected interval where the answer gives one (thin); a hollow
    marker is a cell the answer calls degenerate; a triangle at an edge: an interval runs past it.
    Returns the figure (also the axes' data can be read back by tests)."""
    import matplotlib.pyplot as plt

    wanted = [comparison_key(c) for c in comparisons]
    cells = [c for c in answer.cells if comparison_key(c["comparison"]) in wanted]
    sparsities = sorted({c["sparsity"] for c in cells})
    masks = sorted({c["mask"] for c in cells})
    if fig is None:
        fig = plt.figure(figsize=(max(7.0, 4.8 * len(sparsities) + 1), 4.4))
    axes = fig.subplots(1, max(1, len(sparsities)), sharey=True, squeeze=False)[0]
    low_edge, high_edge = _limits(cells)
    step = 0.8 / max(1, len(wanted))
    for ax, sparsity in zip(axes, sparsities):
        for index, key in enumerate(wanted):
            offset = (index - (len(wanted) - 1) / 2) * step
            for cell in cells:
                if cell["sparsity"] != sparsity or comparison_key(cell["comparison"]) != key:
                    continue
                _draw_cell(ax, masks.index(cell["mask"]) + offset, f"C{index}", cell, (low_edge, high_edge))
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(masks)), masks)
        ax.set_title(f"sparsity {sparsity:g}", fontsize="medium")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylim(low_edge, high_edge)
    axes[0].set_ylabel("paired difference in test accuracy\n(mean, 95% interval over seeds)")
    handles = [plt.Line2D([], [], color=f"C{i}", marker="o", linewidth=2, label=key.replace(" - ", " − "))
               for i, key in enumerate(wanted)]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize="small", frameon=False)
    fig.suptitle("The converged study: paired differences per (mask, sparsity) cell\n"
                 "thick: 95% interval; thin: Holm-corrected, where given; hollow: a cell the study marks "
                 "degenerate; triangle: runs past the axis", fontsize="medium")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig
