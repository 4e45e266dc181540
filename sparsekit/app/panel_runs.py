"""What the comparing panel keeps between presses of Run, without any widget: every run's
label (mask, sparsity, recipe), its epoch rows per seed, and the curve it draws (the mean over
the seeds that reached each epoch). `sparsekit.app.widgets` shows it; tests read it directly."""
import statistics
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .experiments import TRICKS, ExperimentSettings, recipe_for

GHOST_TRICKS = ("ghost_neurons", "ghost_skip")


def recipe_label(settings: ExperimentSettings) -> str:
    """The recipe in a few words: a preset's name when the tricks equal one ("tost-release"),
    else the tricks on, with the ghosts' mode ("ghost neurons (keep) + label smoothing")."""
    recipe = recipe_for(settings.tricks, settings.recipe_options)
    if recipe is None:
        return "default"
    preset = recipe.with_changes(init_iterations=180).preset_name()  # iterations tune GradInit, not the recipe
    if preset != "custom":
        return preset
    parts = []
    for trick in settings.tricks:
        mode = settings.recipe_options.get(f"{trick}_mode") if trick in GHOST_TRICKS else None
        parts.append(f"{TRICKS[trick]} ({mode})" if mode else TRICKS[trick])
    return " + ".join(parts)


def run_label(settings: ExperimentSettings) -> str:
    return f"{settings.mask} {settings.sparsity:.2f} · {recipe_label(settings)}"


@dataclass
class PanelRun:
    label: str
    seeds: List[List[dict]] = field(default_factory=list)  # epoch rows, one list per seed
    records: List = field(default_factory=list)

    def mean_rows(self, metric: str = "test_acc") -> List[dict]:
        """One row per epoch: `metric` averaged over the seeds that reached that epoch."""
        longest = max((len(rows) for rows in self.seeds), default=0)
        return [{"epoch": index + 1, metric: statistics.fmean(rows[index][metric] for rows in self.seeds
                                                             if len(rows) > index)}
                for index in range(longest)]

    def summary(self) -> str:
        """Its final number: test accuracy at the best validation epoch, mean and spread over seeds."""
        values = [record["best_val_test_acc"] for record in self.records]
        if not values:
            return f"{self.label}: running"
        spread = f" ± {statistics.stdev(values):.3f} (sd, {len(values)} seeds)" if len(values) > 1 else " (1 seed)"
        return f"{self.label}: {statistics.fmean(values):.3f}{spread}"


class RunBook:
    """The runs on the plot, in the order they were started."""

    def __init__(self):
        self.runs: Dict[str, PanelRun] = {}

    def start(self, label: str) -> PanelRun:
        unique, count = label, 2
        while unique in self.runs:  # the same settings again: a second curve, numbered
            unique, count = f"{label} #{count}", count + 1
        self.runs[unique] = PanelRun(unique)
        return self.runs[unique]

    def clear(self) -> None:
        self.runs.clear()

    def curves(self, metric: str = "test_acc") -> Dict[str, List[dict]]:
        return {label: run.mean_rows(metric) for label, run in self.runs.items() if run.seeds}

    def seed_curves(self) -> Dict[str, List[List[dict]]]:
        """{label: [epoch rows per seed]}: what the faint per-seed lines draw."""
        return {label: [rows for rows in run.seeds if rows] for label, run in self.runs.items() if run.seeds}

    def latest(self) -> Optional[PanelRun]:
        return next(reversed(self.runs.values()), None)
