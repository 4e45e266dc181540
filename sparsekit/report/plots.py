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
        ax.legend(fontsize="small")
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
    ax.set_ylim(0, 1.05)
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
    return _finish_grouped_bars(ax, groups, metric, title)


def plot_seeded_accuracy(grid: Mapping[str, Mapping[str, Sequence[Mapping]]], metric: str = "best_val_test_acc",
                         ax=None, title: Optional[str] = None):
    """Grouped bars of the mean over seeds, {group: {column: [record per seed]}}, with error
    bars of one standard deviation and every seed drawn as a dot (so 3 seeds look like 3)."""
    import statistics

    ax = _axis(ax)
    groups = list(grid)
    columns = list(dict.fromkeys(column for row in grid.values() for column in row))
    bar_width = 0.8 / max(len(columns), 1)
    for index, column in enumerate(columns):
        for g, group in enumerate(groups):
            values = [record[metric] for record in grid[group].get(column, [])]
            if not values:
                continue
            x = g + (index - (len(columns) - 1) / 2) * bar_width
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            ax.bar(x, statistics.fmean(values), width=bar_width, color=f"C{index}", yerr=spread, capsize=3,
                   label=column if g == 0 else None)
            ax.plot([x] * len(values), values, "k.", markersize=4)
    return _finish_grouped_bars(ax, groups, metric, title)


def _finish_grouped_bars(ax, groups, metric: str, title: Optional[str]):
    """The labels, limits and legend every grouped accuracy bar chart shares."""
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel("test accuracy" if "test" in metric else metric)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return ax
