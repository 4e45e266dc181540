"""A study's tables as markdown: accuracy per cell, paired differences with their verdicts,
the pooled headline, and verdict sentences generated from the intervals."""
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

from sparsekit.report.seeded_rows import (cell_table, interval_text, markdown,  # noqa: F401
                                          verdict_cells)
from sparsekit.report.verdict import Verdict


def comparison_table(comparisons: Sequence[dict], arms: Optional[Sequence[str]] = None) -> str:
    """mask | sparsity | comparison | pairs | mean | interval | verdict; only `arms` when given."""
    body = [[c["mask"], f"{c['sparsity']:g}", f"{c['arm']} − {c['baseline']}"] + verdict_cells(c["verdict"])
            for c in comparisons if arms is None or c["arm"] in arms]
    if not body:
        return "No paired runs yet.\n"
    return markdown(["mask", "sparsity", "comparison", "pairs", "mean difference", "95% interval", "verdict"], body)


def headline_table(headline: Dict[Tuple[float, str], Optional[Verdict]]) -> str:
    body = [[f"{sparsity:g}", label] + verdict_cells(found)
            for (sparsity, label), found in sorted(headline.items(), key=lambda kv: kv[0][0]) if found is not None]
    if not body:
        return "No paired runs yet.\n"
    return markdown(["sparsity", "comparison", "(mask, seed) pairs", "mean difference", "95% interval", "verdict"],
                    body)


def verdict_lines(comparisons: Sequence[dict], headline: Dict[Tuple[float, str], Optional[Verdict]]) -> List[str]:
    """Sentences generated from the intervals: the pooled verdict per sparsity, then how many
    (mask, sparsity) cells each comparison reads better, worse, no different, or too few in."""
    lines = [f"- Pooled at sparsity {found}" for (_, _), found in sorted(headline.items(), key=lambda kv: kv[0][0])
             if found is not None]
    labels = list(dict.fromkeys(f"{c['arm']} − {c['baseline']}" for c in comparisons))
    for label in labels:
        words = Counter(c["verdict"].word for c in comparisons if f"{c['arm']} − {c['baseline']}" == label)
        counts = ", ".join(f"{word} in {count}" for word, count in sorted(words.items()))
        lines.append(f"- {label}, cell by cell (mask, sparsity): {counts}.")
    return lines


def parameters_table(table: List[List[str]]) -> str:
    if not table:
        return "No finished runs yet.\n"
    return markdown(["mask", "sparsity", "arm", "trained sparsity", "masked kept", "ghost branches", "other dense",
                     "in use"], table)


# ---- the re-analysis (REANALYSIS.md) ------------------------------------------------------------
def _span(low, high) -> str:
    return "—" if low is None else f"[{low:+.4f}, {high:+.4f}]"


def _shown(comparison: str) -> str:
    return comparison.replace(" - ", " − ")


def reanalysis_cell_table(cells: Sequence[dict], corrected: bool = True) -> str:
    """mask | sparsity | comparison | pairs | mean | 95% interval | Holm-corrected | verdict
    (`corrected`: False for cells kept out of the families, whose verdict is uncorrected)."""
    def family(cell):
        return f" (family of {cell['family_size']})" if cell["family_size"] else ""

    body = [[c["mask"], f"{c['sparsity']:g}", _shown(c["comparison"]), str(c["pairs"]), f"{c['mean']:+.4f}",
             _span(c["low"], c["high"]), _span(c["corrected_low"], c["corrected_high"]) + family(c), c["verdict"]]
            for c in cells]
    if not body:
        return "No paired runs yet.\n"
    word = "verdict (corrected)" if corrected else "verdict (uncorrected)"
    return markdown(["mask", "sparsity", "comparison", "pairs", "mean difference", "95% interval",
                     "Holm-corrected interval (family)", word], body)


def pooled_table(pooled: Sequence[dict]) -> str:
    body = [[f"{p['sparsity']:g}", _shown(p["comparison"]), ", ".join(p["masks"]), f"{p['mean']:+.4f}",
             _span(p["low"], p["high"]), _span(p["corrected_low"], p["corrected_high"]), p["verdict"]] for p in pooled]
    if not body:
        return "No paired runs yet.\n"
    return markdown(["sparsity", "comparison", "masks (one mean each)", "mean difference",
                     "95% interval (t over masks)", "Holm-corrected interval", "verdict (corrected)"], body)


def verdict_changes(cells: Sequence[dict]) -> List[str]:
    """Per comparison: the cell verdicts of the first analysis (every cell, uncorrected) and of
    the re-analysis (degenerate cells apart, Holm-corrected)."""
    lines = []
    for name in dict.fromkeys(c["comparison"] for c in cells):
        mine = [c for c in cells if c["comparison"] == name]
        first = Counter(_uncorrected_word(c) for c in mine)
        again = Counter(c["verdict"] for c in mine if not c["degenerate"])
        apart = sum(c["degenerate"] for c in mine)
        lines.append(f"- {_shown(name)}: first analysis {_counts(first)}; re-analysis {_counts(again)}"
                     + (f", {apart} degenerate cell(s) apart" if apart else "") + ".")
    return lines


def _uncorrected_word(cell: dict) -> str:
    if cell["low"] is None:
        return "too few seeds to tell"
    return "better" if cell["low"] > 0 else "worse" if cell["high"] < 0 else "no measurable difference"


def _counts(words: Counter) -> str:
    return ", ".join(f"{word} in {count}" for word, count in sorted(words.items())) or "no cell"
