"""The addendum's verdict as a figure (`verdict.png`, beside the report): every cell whose planned
seeds have all finished, one panel per comparison type in the report's order (`tost` first), the
mean paired difference as a dot with its Holm-corrected interval (thick) and its 95% interval
(thin); the complete pooled lines below the cells as diamonds. Degenerate cells are left out, as
they are of the families (the report's tables list them)."""
import io
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from sparsekit.core import atomic

from .addendum_cells import COMPARISONS
from .reanalysis import label
from .figures import pyplot

# The x range drawn. A cell with a run that never trained reaches about ±1 (random 98%); drawn to
# scale it would flatten every other interval, so what reaches past the range ends in an arrow
# at its edge and the report's table gives the number.
SPAN = 0.25
FILENAME = "verdict.png"

Row = Tuple[str, str, str]  # (network, what: a mask or "pooled", sparsity shown)


def drawn(cells: Sequence[dict], pooled: Sequence[dict]) -> Dict[str, Dict[Row, dict]]:
    """{comparison: {row: cell or pooled line}} of what the figure draws, comparisons in the
    report's order; a pooled line or cell without an interval (too few pairs) is not drawn."""
    found: Dict[str, Dict[Row, dict]] = {}
    for arm, baseline in COMPARISONS:
        name = label(arm, baseline)
        mine = {}
        for c in cells:
            if c["comparison"] == name and not c["degenerate"] and c["low"] is not None:
                mine[(c["network"], c["mask"], f"{c['sparsity']:g}")] = c
        for p in pooled:
            if p["comparison"] == name and p["low"] is not None:
                mine[(p["network"], "pooled", f"{p['sparsity']:g}")] = p
        if mine:
            found[name] = mine
    return found


def _row_order(found: Dict[str, Dict[Row, dict]]) -> List[Row]:
    rows = {row for mine in found.values() for row in mine}
    return sorted(rows, key=lambda r: (r[0], r[1] == "pooled", float(r[2]), r[1]))


def _row_label(row: Row) -> str:
    network, what, sparsity = row
    return f"{what} {sparsity}" if what.startswith(network) else f"{network} {what} {sparsity}"  # vgg16-snip


def _clipped(value: float) -> float:
    return max(-SPAN, min(SPAN, value))


def figure_png(found: Dict[str, Dict[Row, dict]]) -> bytes:
    plt = pyplot()
    rows = _row_order(found)
    fig, axes = plt.subplots(1, len(found), sharey=True, squeeze=False,
                             figsize=(2.6 * len(found) + 1.6, 0.32 * len(rows) + 1.4))
    for index, (ax, (name, mine)) in enumerate(zip(axes[0], found.items())):
        for y, row in enumerate(rows):
            line = mine.get(row)
            if line is None:
                continue
            marker = "D" if row[1] == "pooled" else "o"
            ax.hlines(y, _clipped(line["low"]), _clipped(line["high"]), color=f"C{index}", linewidth=1)
            if line.get("corrected_low") is not None:
                ax.hlines(y, _clipped(line["corrected_low"]), _clipped(line["corrected_high"]), color=f"C{index}",
                          linewidth=4, alpha=0.45)
            past = abs(line["mean"]) > SPAN  # drawn hollow at the edge, its value written beside
            ax.plot(_clipped(line["mean"]), y, marker, color=f"C{index}", markerfacecolor="white" if past else None)
            if past:
                ax.annotate(f"{line['mean']:+.3f}", (_clipped(line["mean"]), y), textcoords="offset points",
                            xytext=(-4 if line["mean"] > 0 else 4, 6), ha="right" if line["mean"] > 0 else "left",
                            fontsize="x-small", color=f"C{index}")
            for end in (line["low"], line["high"]):
                if abs(end) > SPAN:
                    ax.plot(_clipped(end), y, ">" if end > 0 else "<", color=f"C{index}", markersize=5)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlim(-SPAN * 1.05, SPAN * 1.05)
        ax.set_title(name.replace(" - ", " − "), fontsize="medium")
        ax.grid(alpha=0.3)
    axes[0][0].set_yticks(range(len(rows)), [_row_label(row) for row in rows], fontsize="small")
    axes[0][0].invert_yaxis()
    fig.supxlabel("difference in test accuracy (thick: Holm-corrected; thin: 95%; arrows: past the range)",
                  fontsize="small")
    fig.tight_layout()
    stream = io.BytesIO()
    fig.savefig(stream, format="png", dpi=100)
    plt.close(fig)
    return stream.getvalue()


def write_figure(found: Dict[str, Dict[Row, dict]], folder: Path) -> None:
    """Write `verdict.png` (whole or not at all); with nothing to draw, remove an older one, so the
    figure never shows what the records no longer give."""
    path = Path(folder) / FILENAME
    if found:
        atomic.write_bytes(figure_png(found), path)
    elif path.exists():
        path.unlink()


def figure_part(found: Dict[str, Dict[Row, dict]]) -> str:
    if not found:
        return ""
    return (f"\n![every complete cell's paired difference with its corrected interval]({FILENAME})\n\n"
            f"`{FILENAME}`: the complete cells above and any complete pooled line, one panel per comparison; "
            f"the x axis is cut at ±{SPAN:g}, and an interval reaching past it ends in an arrow (the tables give "
            "its numbers).\n")
