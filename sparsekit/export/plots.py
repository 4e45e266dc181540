"""Notebook 15's figure: exported / dense latency against sparsity, one line per batch size."""
from typing import Dict, List


def plot_break_even(rows: List[Dict], ax=None, title: str = ""):
    """Rows from `latency.measure` (with `with_unremoved=True` for the dashed lines)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    for batch in sorted({r["batch"] for r in rows}):
        mine = sorted((r for r in rows if r["batch"] == batch), key=lambda r: r["sparsity"])
        sparsity = [r["sparsity"] for r in mine]
        line, = ax.plot(sparsity, [r["ratio"] for r in mine], "o-", label=f"exported, batch {batch}")
        if all("unremoved_ratio" in r for r in mine):
            ax.plot(sparsity, [r["unremoved_ratio"] for r in mine], "s--", color=line.get_color(),
                    label=f"without dead-unit removal, batch {batch}")
    ax.axhline(1.0, color="grey", linewidth=1)
    ax.set_xlabel("sparsity")
    ax.set_ylabel("latency / dense latency")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax
