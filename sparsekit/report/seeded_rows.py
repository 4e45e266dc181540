"""Rows of a seeded grid, one per finished run ({"mask", "sparsity", "seed", "arm", "accuracy",
...}), grouped into cells and paired across arms by seed, with the markdown they are shown in.

The study (`study/`, outside the package) builds its tables from these, and so does the
package's reader of the committed study (`study_evidence`), so the two cannot pair or print a
difference differently. Every interval comes from `verdict.paired_verdict`.
"""
import statistics
from typing import Dict, List, Optional, Sequence, Tuple

from .verdict import Verdict

Cells = Dict[Tuple[str, float, str], Dict[int, dict]]  # (mask, sparsity, arm) -> {seed: row}


def by_cell(rows: Sequence[dict]) -> Cells:
    cells: Cells = {}
    for row in rows:
        cells.setdefault((row["mask"], row["sparsity"], row["arm"]), {})[row["seed"]] = row
    return cells


def mean_std(values: Sequence[Optional[float]]) -> Optional[Tuple[float, Optional[float], int]]:
    """(mean, std over n - 1 or None for one value, n) of the values given (None: not recorded)."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values)


def comparison_pairs(cells: Cells, mask: str, sparsity: float, arm: str, baseline: str) -> List[Tuple[int, float]]:
    """(seed, arm - baseline) for the seeds both ran: same mask, same initialisation."""
    ran, base = cells.get((mask, sparsity, arm), {}), cells.get((mask, sparsity, baseline), {})
    return [(seed, ran[seed]["accuracy"] - base[seed]["accuracy"]) for seed in sorted(set(ran) & set(base))]


def test_set_size(accuracies: List[float], largest: int = 100_000, fewest: int = 20) -> Optional[int]:
    """The smallest N for which every accuracy is a whole number of images out of N: the
    test set's size, read from the runs themselves (its inverse is the floor `paired_verdict`
    puts under a spread). None when no N up to `largest` fits, or with fewer than `fewest`
    distinct values (a few values fit small N by chance)."""
    values = sorted({round(a, 9) for a in accuracies if 0 < a < 1})
    if len(values) < fewest:
        return None
    for size in range(2, largest + 1):
        if all(abs(a * size - round(a * size)) < 1e-6 for a in values):
            return size
    return None


# ---- markdown ----------------------------------------------------------------------------------
def markdown(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows]) + "\n"


def mean_std_text(values) -> str:
    found = mean_std(values)
    if found is None:
        return "n/a"
    mean, std, n = found
    return f"{mean:.4f} (n=1)" if std is None else f"{mean:.4f} ± {std:.4f}"


def cell_table(rows: Sequence[dict], arms: Sequence[str], metric: str, diagnostic: str) -> str:
    """mask | sparsity | arm | seeds | metric mean ± std | diagnostic mean ± std, per cell."""
    order = {arm: index for index, arm in enumerate(arms)}
    cells = sorted(by_cell(rows).items(), key=lambda kv: (kv[0][1], kv[0][0], order.get(kv[0][2], len(order))))
    body = [[mask, f"{sparsity:g}", arm, ", ".join(map(str, sorted(runs))),
             mean_std_text([r["accuracy"] for r in runs.values()]),
             mean_std_text([r.get("diagnostic") for r in runs.values()])]
            for (mask, sparsity, arm), runs in cells]
    headers = ["mask", "sparsity", "arm", "seeds", f"{metric} (mean ± std)", f"{diagnostic} (mean ± std)"]
    return markdown(headers, body)


def interval_text(found: Verdict) -> str:
    if found.low is None:
        return "—"
    return f"[{found.low:+.4f}, {found.high:+.4f}]"


def verdict_cells(found: Verdict) -> List[str]:
    """pairs | mean | 95% interval | verdict (with the rule's reason when it gives no interval
    or widened the spread)."""
    reason = getattr(found, "reason", "")
    word = f"{found.word} ({reason})" if reason else found.word
    return [str(found.seeds), f"{found.mean:+.4f}", interval_text(found), word]
