"""What the committed converged study says about some arms, for a notebook to show beside its
own small run: the regime, how much of the grid has run, the cells of those arms with their
paired differences against plain training and the verdicts, read from the records alone (no
training). The full report is `sparsekit report DIR` (`study.write_study_report`).
"""
from pathlib import Path
from typing import List, Sequence

from . import study_tables as tables
from .study_plan import items, read_plan, run_name
from .study_runs import (CONVERGED, DIAGNOSTIC, METRIC, collect, read_json, study_layout, test_accuracies,
                         test_set_size)
from .study_stats import BASELINE, CAPACITY, RELEASE, cell_comparisons


def study_evidence(directory, arms: Sequence[str]) -> str:
    """Markdown: the study's regime and progress, then per (mask, sparsity) cell the metric of
    `default` and of each of `arms`, and each arm's paired difference against `default` (and
    `tost-release − capacity` when both are asked for). Says plainly what has not run yet."""
    directory = Path(directory)
    if study_layout(directory) != CONVERGED:
        return f"No converged study found in `{directory}`: there is no evidence to show here yet.\n"
    plan = read_plan(directory)
    rows, _ = collect(directory, plan.get("metric") or METRIC)
    wanted = [BASELINE] + [arm for arm in arms if arm != BASELINE]
    rows = [row for row in rows if row["arm"] in wanted]
    size = test_set_size(test_accuracies(directory))
    parts = [_regime(directory), _progress(plan, wanted, rows)]
    if not rows:
        return "\n".join(parts + ["None of these arms has a finished run yet: the question stays open here.\n"])
    comparisons = cell_comparisons(rows, wanted, 1 / size if size else None)
    if not (RELEASE in arms and CAPACITY in arms):
        comparisons = [c for c in comparisons if c["baseline"] == BASELINE]
    parts += [tables.cell_table(rows, wanted, plan.get("metric") or METRIC, DIAGNOSTIC),
              "\nPaired differences (same mask, same initialisation, per seed; 95% t-interval):\n",
              tables.comparison_table(comparisons)]
    return "\n".join(parts)


def _regime(directory: Path) -> str:
    regime = read_json(directory / "regime.json")
    if regime is None:
        return "The study's regime has not been chosen yet (its learning curves are still running).\n"
    warmup = f", warm-up {regime['warmup_epochs']:g} epochs" if regime.get("warmup_epochs") else ""
    met = "" if regime.get("met_rule", True) else " (no budget met the convergence rule; the largest was used)"
    return (f"The converged study's regime: {regime['train_examples']} Fashion-MNIST training images × "
            f"{regime['epochs']} epochs{warmup}, chosen by its pre-registered rule{met}.\n")


def _progress(plan: dict, arms: List[str], rows: List[dict]) -> str:
    planned = [run_name(*cell) for cells in items(plan).values() for cell in cells if cell[3] in arms]
    done = {row["run"] for row in rows}
    return f"Finished runs of these arms: {sum(name in done for name in planned)} of {len(planned)} planned.\n"

