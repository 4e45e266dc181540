"""Figures of mask anatomy: a layer's mask as a bipartite graph and as a spectrum, masks in the
full-spectrum coordinate plane, and coordinate distance against accuracy. Each draws on the
axis it is given (or a new one) and returns it."""
from typing import Mapping, Optional, Sequence

import numpy as np
import torch

from .bigraph import adjacency_spectrum, biadjacency
from .spectral import COORDINATE, graph_gaps


def _axis(ax, size=(5, 4)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # here, so importing sparsekit never needs a display

    return plt.subplots(figsize=size)[1]


def draw_bipartite(keep: torch.Tensor, ax=None, max_nodes: int = 24, title: Optional[str] = None):
    """The mask's graph between its first `max_nodes` unfolded inputs (left; one per input
    channel and kernel tap) and first `max_nodes` outputs (right): one line per kept weight."""
    ax = _axis(ax)
    matrix = biadjacency(keep)[:max_nodes, :max_nodes].tocoo()
    inputs, outputs = matrix.shape[1], matrix.shape[0]
    left, right = np.linspace(1, 0, inputs), np.linspace(1, 0, outputs)
    for out, inp in zip(matrix.row, matrix.col):
        ax.plot([0, 1], [left[inp], right[out]], color="tab:blue", alpha=0.5, linewidth=0.8)
    ax.scatter(np.zeros(inputs), left, s=12, color="black", zorder=3)
    ax.scatter(np.ones(outputs), right, s=12, color="tab:red", zorder=3)
    ax.set_xticks([0, 1])
    ax.set_xticklabels([f"inputs (first {inputs})", f"outputs (first {outputs})"])
    ax.set_yticks([])
    ax.set_title(title or f"{matrix.nnz} of the layer's edges shown")
    return ax


def plot_spectrum(keep: torch.Tensor, weight: Optional[torch.Tensor] = None, ax=None, label: str = "",
                  top: int = 40):
    """The largest `top` positive adjacency eigenvalues of the layer's graph (the spectrum is
    symmetric about 0; weighted by |theta| if a weight is given), with the Ramanujan bound
    sqrt(d_in-1)+sqrt(d_out-1) dashed (unweighted, where measurable): every eigenvalue after
    the first below it means a Ramanujan-like graph."""
    ax = _axis(ax)
    matrix = biadjacency(keep, weight)
    values = adjacency_spectrum(matrix)
    values = values[values > 1e-9 * max(1.0, values[0] if len(values) else 0.0)][:top]
    line, = ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=label)
    gaps = graph_gaps(biadjacency(keep), matrix) if weight is None else None
    if gaps is not None:
        ax.axhline(gaps["ramanujan_bound"], linestyle="--", color=line.get_color(), linewidth=1)
    ax.set_xlabel("eigenvalue rank")
    ax.set_ylabel("|theta|-weighted eigenvalue" if weight is not None else "eigenvalue")
    if label:
        ax.legend(fontsize=8)
    return ax


def plot_coordinate_plane(points: Sequence[Mapping], ax=None):
    """Points {"method", "sparsity", "ramanujan_gap_imdb", "weighted_gap_imdb"} in the coordinate
    plane, one colour per method, each labelled with its sparsity."""
    ax = _axis(ax)
    x_name, y_name = COORDINATE
    for method in dict.fromkeys(p["method"] for p in points):
        mine = [p for p in points if p["method"] == method and p[x_name] is not None and p[y_name] is not None]
        ax.plot([p[x_name] for p in mine], [p[y_name] for p in mine], marker="o", label=method)
        for p in mine:
            ax.annotate(f"{p['sparsity']:g}", (p[x_name], p[y_name]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
    ax.set_xlabel("Ramanujan gap (IMDB mean)")
    ax.set_ylabel("weighted spectral gap (IMDB mean)")
    ax.legend(fontsize=8)
    return ax


def plot_distance_vs_accuracy(runs: Mapping[str, Mapping], metric: str = "best_val_test_acc", ax=None):
    """Each run record's coordinate distance (initialization -> end) against its accuracy."""
    ax = _axis(ax)
    for label, record in runs.items():
        distance = (record.get("spectral") or {}).get("distance")
        if distance is not None and record.get(metric) is not None:
            ax.scatter(distance, record[metric])
            ax.annotate(label, (distance, record[metric]), fontsize=8, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("L2 distance of the coordinate, initialization -> end")
    ax.set_ylabel(metric.replace("_", " "))
    return ax
