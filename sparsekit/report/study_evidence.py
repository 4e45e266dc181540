"""What the committed converged study says about some arms, for a notebook to show beside its
own small run: the regime, the cells of those arms with their paired differences against plain
training and the verdicts. Read from the study's committed files alone (`regime.json` and the
report's `rows.json`, one row per finished run), never from the study's code (`study/`, outside
the package); the full report is `python -m study.report DIR`.
"""
import json
from pathlib import Path
from typing import Optional, Sequence

from .seeded_rows import by_cell, cell_table, comparison_pairs, markdown, test_set_size, verdict_cells
from .verdict import paired_verdict

PLAN_FORMAT = "sparsekit.study-plan/1"  # the converged study's plan.json (the format identifier)
BASELINE, RELEASE, CAPACITY = "default", "tost-release", "capacity"
METRIC, DIAGNOSTIC = "best_val_test_acc", "bn_reestimated_test_acc"


def _read(path: Path) -> Optional[object]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def study_evidence(directory, arms: Sequence[str]) -> str:
    """Markdown: the study's regime, then per (mask, sparsity) cell the metric of `default` and
    of each of `arms`, and each arm's paired difference against `default` (and
    `tost-release − capacity` when both are asked for). Says plainly what has not run yet."""
    directory = Path(directory)
    plan, rows = _read(directory / "plan.json"), _read(directory / "rows.json")
    if not isinstance(plan, dict) or plan.get("format") != PLAN_FORMAT or not isinstance(rows, list):
        return f"No converged study found in `{directory}`: there is no evidence to show here yet.\n"
    wanted = [BASELINE] + [arm for arm in arms if arm != BASELINE]
    rows = [row for row in rows if row["arm"] in wanted]
    parts = [_regime(directory), f"Finished runs of these arms: {len(rows)}.\n"]
    if not rows:
        return "\n".join(parts + ["None of these arms has a finished run yet: the question stays open here.\n"])
    size = test_set_size([value for row in rows for value in (row["accuracy"], row.get("final_test_acc"))
                          if value is not None])
    parts += [cell_table(rows, wanted, plan.get("metric") or METRIC, DIAGNOSTIC),
              "\nPaired differences (same mask, same initialisation, per seed; 95% t-interval):\n",
              _comparisons(rows, wanted, arms, 1 / size if size else None)]
    return "\n".join(parts)


def _comparisons(rows, wanted, arms, resolution) -> str:
    pairs = [(arm, BASELINE) for arm in wanted if arm != BASELINE]
    if RELEASE in arms and CAPACITY in arms:
        pairs.append((RELEASE, CAPACITY))
    cells = by_cell(rows)
    body = []
    for mask, sparsity in sorted({(r["mask"], r["sparsity"]) for r in rows}, key=lambda k: (k[1], k[0])):
        for arm, baseline in pairs:
            found = comparison_pairs(cells, mask, sparsity, arm, baseline)
            if found:
                label = f"{arm} − {baseline}"
                verdict = paired_verdict([d for _, d in found], f"{mask} {sparsity:g}: {label}",
                                         resolution=resolution)
                body.append([mask, f"{sparsity:g}", label] + verdict_cells(verdict))
    if not body:
        return "No paired runs yet.\n"
    return markdown(["mask", "sparsity", "comparison", "pairs", "mean difference", "95% interval", "verdict"], body)


def _regime(directory: Path) -> str:
    regime = _read(directory / "regime.json")
    if not isinstance(regime, dict):
        return "The study's regime has not been chosen yet (its learning curves are still running).\n"
    warmup = f", warm-up {regime['warmup_epochs']:g} epochs" if regime.get("warmup_epochs") else ""
    met = "" if regime.get("met_rule", True) else " (no budget met the convergence rule; the largest was used)"
    return (f"The converged study's regime: {regime['train_examples']} Fashion-MNIST training images × "
            f"{regime['epochs']} epochs{warmup}, chosen by its pre-registered rule{met}.\n")
