"""Figures of training runs: accuracy curves and final accuracies, shared by the notebooks
and the widget panel's live plot. Every function draws on an axis it is given (or a new
one) and returns the axis, so figures compose and tests can read the drawn data back."""
from typing import Mapping, Optional, Sequence, Union

from ..core.errors import SparsekitError

METRIC_LABELS = {"train_acc": "train accuracy", "val_acc": "validation accuracy",
                 "test_acc": "test accuracy", "train_loss": "training loss", "val_loss": "validation loss"}

History = Union[Mapping, Sequence[Mapping]]  # a run record, or its list of epoch rows


def epoch_rows(history: History) -> list:
    """The epoch rows of a run record, or the rows themselves."""
    if isinstance(history, Mapping):
        return list(history["epochs"])
    return list(history)


def _axis(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(6, 3.5))[1]


def zoom_to(ax, values: Sequence[float], low_error: float = 0.0, high_error: float = 0.0) -> None:
    """The y axis fitted to the accuracies drawn (a few points apart on a 0-1 axis look equal),
    with room for error bars; the label says where the axis starts when it is not 0."""
    values = [v for v in values if v == v]  # NaN (a failed metric) does not set the scale
    if not values:
        return
    low, high = min(values) - low_error, max(values) + high_error
    pad = max(0.02, 0.15 * (high - low))
    low, high = max(0.0, low - pad), min(1.02, high + pad)
    ax.set_ylim(low, high)
    if low > 0:
        ax.set_ylabel(f"{ax.get_ylabel()} (axis from {low:.2f})")


def legend_outside(ax) -> None:
    """The legend right of the axes, where it covers no bar or curve."""
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _check_metric(metric: str) -> None:
    if metric not in METRIC_LABELS:
        raise SparsekitError(f"unknown metric {metric!r}; choose one of: {', '.join(METRIC_LABELS)}")


def plot_accuracy_curves(histories: Mapping[str, History], metrics: Sequence[str] = ("test_acc",), ax=None,
                         title: Optional[str] = None):
    """One line per run and metric against the epoch (solid: first metric, dashed: the next)."""
    ax = _axis(ax)
    styles = ["-", "--", ":", "-."]
    for metric in metrics:
        _check_metric(metric)
    for index, (label, history) in enumerate(histories.items()):
        rows = epoch_rows(history)
        for style, metric in zip(styles, metrics):
            name = label if len(metrics) == 1 else f"{label}: {METRIC_LABELS[metric]}"
            ax.plot([row["epoch"] for row in rows], [row[metric] for row in rows], style, marker="o",
                    markersize=3, color=f"C{index}", label=name)
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)  # epochs are whole numbers
    ax.set_ylabel(METRIC_LABELS[metrics[0]] if len(metrics) == 1 else "accuracy")
    if title:
        ax.set_title(title)
    if histories:
        legend_outside(ax)
    ax.grid(alpha=0.3)
    return ax


def plot_final_accuracy(runs: Mapping[str, Mapping], metric: str = "best_val_test_acc", ax=None,
                        title: Optional[str] = None):
    """A bar per run: its test accuracy at the best validation epoch (or another record field)."""
    ax = _axis(ax)
    labels = list(runs)
    values = [runs[label][metric] for label in labels]
    bars = ax.bar(range(len(labels)), values, color=[f"C{i}" for i in range(len(labels))])
    ax.bar_label(bars, fmt="%.3f", fontsize="small")
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right")
    ax.set_ylabel("test accuracy" if "test" in metric else metric)
    zoom_to(ax, values)
    if title:
        ax.set_title(title)
    return ax


def plot_grouped_accuracy(grid: Mapping[str, Mapping[str, Mapping]], metric: str = "best_val_test_acc",
                          ax=None, title: Optional[str] = None):
    """Grouped bars: one group per row key (a mask), one bar per column key (a recipe)."""
    ax = _axis(ax)
    groups = list(grid)
    columns = list(dict.fromkeys(column for row in grid.values() for column in row))
    bar_width = 0.8 / max(len(columns), 1)
    for index, column in enumerate(columns):
        xs = [g + (index - (len(columns) - 1) / 2) * bar_width for g in range(len(groups))]
        values = [grid[group][column][metric] if column in grid[group] else 0.0 for group in groups]
        ax.bar(xs, values, width=bar_width, color=f"C{index}", label=column)
    drawn = [row[column][metric] for row in grid.values() for column in row]
    return _finish_grouped_bars(ax, groups, metric, title, drawn)


def plot_seeded_accuracy(grid: Mapping[str, Mapping[str, Sequence[Mapping]]], metric: str = "best_val_test_acc",
                         ax=None, title: Optional[str] = None):
    """Grouped bars of the mean over seeds, {group: {column: [record per seed]}}, with error
    bars of one standard deviation and every seed drawn as a dot (so 3 seeds look like 3)."""
    import statistics

    ax = _axis(ax)
    groups = list(grid)
    columns = list(dict.fromkeys(column for row in grid.values() for column in row))
    bar_width = 0.8 / max(len(columns), 1)
    drawn = []
    for index, column in enumerate(columns):
        for g, group in enumerate(groups):
            values = [record[metric] for record in grid[group].get(column, [])]
            if not values:
                continue
            x = g + (index - (len(columns) - 1) / 2) * bar_width
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            mean = statistics.fmean(values)
            ax.bar(x, mean, width=bar_width, color=f"C{index}", yerr=spread, capsize=3,
                   label=column if g == 0 else None)
            # The seeds beside the error bar's line, above it in drawing order, so a cap hides none.
            offsets = [x + bar_width * (0.12 + 0.18 * k / max(len(values) - 1, 1)) for k in range(len(values))]
            ax.plot(offsets, values, "o", color="k", markerfacecolor="white", markersize=4, zorder=4)
            drawn += values + [mean - spread, mean + spread]
    return _finish_grouped_bars(ax, groups, metric, title, drawn)


def _finish_grouped_bars(ax, groups, metric: str, title: Optional[str], drawn: Sequence[float]):
    """The labels, limits and legend every grouped accuracy bar chart shares."""
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel("test accuracy" if "test" in metric else metric)
    zoom_to(ax, drawn)
    legend_outside(ax)
    if title:
        ax.set_title(title)
    return ax
