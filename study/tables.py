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
