"""A study's tables as markdown: accuracy per cell, paired differences with their verdicts,
the pooled headline, and verdict sentences generated from the intervals."""
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

from .study_stats import by_cell, mean_std
from .verdict import Verdict


def markdown(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows]) + "\n"


def _mean_std_text(values) -> str:
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
             _mean_std_text([r["accuracy"] for r in runs.values()]),
             _mean_std_text([r["diagnostic"] for r in runs.values()])]
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
