"""The numbers of a study's tables, from its rows (`study.runs.collect`): per cell mean ± std,
paired differences with their verdicts, the pooled headline, and the parameter counts.

Every paired difference and its interval comes from `verdict.paired_verdict`, the one rule of
the kit, so the study's verdicts and a notebook's read the same way.
"""
from typing import List, Optional, Sequence, Tuple

from sparsekit.report.seeded_rows import by_cell, comparison_pairs, mean_std  # noqa: F401
from sparsekit.report.verdict import Verdict, paired_verdict

BASELINE = "default"
CAPACITY = "capacity"
RELEASE = "tost-release"
COUNTS = ("masked_kept", "ghost_branches", "other_dense", "in_use")


def verdict(differences: Sequence[float], label: str, unit: str = "seeds",
            resolution: Optional[float] = None) -> Verdict:
    """`paired_verdict`, with the test set's resolution (one image) as the floor of the spread."""
    return paired_verdict(differences, label, unit=unit, resolution=resolution)


def comparisons_of(arms: Sequence[str]) -> List[Tuple[str, str]]:
    """(arm, baseline) pairs a study compares: every arm against default, and the release
    recipe against the capacity control (the recipe beyond its extra weights)."""
    pairs = [(arm, BASELINE) for arm in arms if arm != BASELINE]
    if RELEASE in arms and CAPACITY in arms:
        pairs.append((RELEASE, CAPACITY))
    return pairs


def cell_comparisons(rows: Sequence[dict], arms: Sequence[str], resolution: Optional[float]) -> List[dict]:
    """One entry per (mask, sparsity, arm, baseline) with at least one pair: its Verdict."""
    cells = by_cell(rows)
    found = []
    for mask, sparsity in sorted({(r["mask"], r["sparsity"]) for r in rows}, key=lambda k: (k[1], k[0])):
        for arm, baseline in comparisons_of(arms):
            pairs = comparison_pairs(cells, mask, sparsity, arm, baseline)
            if pairs:
                label = f"{mask} {sparsity:g}: {arm} − {baseline}"
                found.append({"mask": mask, "sparsity": sparsity, "arm": arm, "baseline": baseline,
                              "verdict": verdict([d for _, d in pairs], label, resolution=resolution)})
    return found


def pooled(rows: Sequence[dict], masks: Sequence[str], sparsity: float, arm: str, baseline: str,
           resolution: Optional[float]) -> Optional[Verdict]:
    """arm - baseline over every (mask, seed) pair of `masks` at one sparsity (None: no pair)."""
    cells = by_cell(rows)
    differences = [d for mask in masks for _, d in comparison_pairs(cells, mask, sparsity, arm, baseline)]
    if not differences:
        return None
    return verdict(differences, f"{sparsity:g}: {arm} − {baseline}", unit="mask-seed pairs", resolution=resolution)


def count_text(rows: Sequence[dict], name: str) -> str:
    """One parameter count of a cell's runs: at the start of training and at the end when they
    differ (ghosts annealed away), the range when seeds differ (the capacity control's mask)."""
    def shown(key):
        values = sorted({(row.get(key) or {}).get(name) for row in rows} - {None})
        return "" if not values else str(values[0]) if len(values) == 1 else f"{values[0]}–{values[-1]}"

    start, end = shown("parameters_at_start"), shown("parameters")
    return end if start in ("", end) else f"{start} → {end}"


def parameter_table(rows: Sequence[dict]) -> List[List[str]]:
    """[mask, sparsity, arm, trained sparsity, one count per COUNTS] per cell."""
    table = []
    for (mask, sparsity, arm), runs in sorted(by_cell(rows).items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2])):
        trained = mean_std([row["trained_sparsity"] for row in runs.values()])
        table.append([mask, f"{sparsity:g}", arm, f"{trained[0]:.4f}" if trained else ""] +
                     [count_text(list(runs.values()), name) for name in COUNTS])
    return table
