"""A study's pooled lines as one Markdown grid: a row per comparison, a column per sparsity, each
entry the mean paired difference with its Holm-corrected 95% interval and the corrected verdict
("better" and "worse" in bold, as they are the words that claim something). The README and
notebook 14 give both studies' answers in this shape, read from their answer files.

A pooled line is a dict with "sparsity", "comparison" ("arm - baseline"), "masks", "mean",
"corrected_low", "corrected_high" and "verdict", as `answer.json` writes it.
"""
from typing import Dict, List, Optional, Sequence

from .answer import comparison_key

# How the README and the course name the arms; any other arm is shown as its code name.
ARM_NAMES = {"default": "plain", "capacity": "capacity control", "structure": "structure control"}
MISSING = "—"


def arm_name(arm: str) -> str:
    return ARM_NAMES.get(arm, f"`{arm}`")


def comparison_name(comparison: str) -> str:
    """"tost-release - capacity" -> "`tost-release` − capacity control"."""
    return " − ".join(arm_name(arm) for arm in comparison_key(comparison).split(" - "))


def signed(value: float) -> str:
    """+0.0580 and −0.1357 (the minus sign, not a hyphen)."""
    return f"{value:+.4f}".replace("-", "−")


def percent(sparsity: float) -> str:
    return f"{sparsity * 100:g}%"


def entry(line: dict) -> str:
    word = line["verdict"]
    shown = f"**{word}**" if word in ("better", "worse") else word
    if line["corrected_low"] is None or line["corrected_high"] is None:
        return f"{signed(line['mean'])} (no interval): {shown}"
    return f"{signed(line['mean'])} [{signed(line['corrected_low'])}, {signed(line['corrected_high'])}]: {shown}"


def pooled_grid(pooled: Sequence[dict], comparisons: Optional[Sequence[str]] = None) -> str:
    """The grid of `pooled` (every comparison it has, in order of appearance, unless `comparisons`
    names them); a sparsity column says how many masks its lines pool when they all pool as many,
    else each entry says it; an absent line is a dash."""
    if not pooled:
        return "No pooled line yet.\n"
    by_key: Dict[tuple, dict] = {(comparison_key(p["comparison"]), p["sparsity"]): p for p in pooled}
    names = [comparison_key(c) for c in comparisons] if comparisons is not None else \
        list(dict.fromkeys(comparison_key(p["comparison"]) for p in pooled))
    sparsities = sorted({p["sparsity"] for p in pooled})
    counts = {s: {len(p["masks"]) for p in pooled if p["sparsity"] == s} for s in sparsities}
    header = ["comparison (test accuracy; +0.0100 is one point)"] + [
        f"at {percent(s)}" + (f" ({next(iter(counts[s]))} masks)" if len(counts[s]) == 1 else "") for s in sparsities]
    rows: List[str] = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for name in names:
        cells = []
        for sparsity in sparsities:
            line = by_key.get((name, sparsity))
            if line is None:
                cells.append(MISSING)
                continue
            apart = "" if len(counts[sparsity]) == 1 else f" ({len(line['masks'])} masks)"
            cells.append(entry(line) + apart)
        rows.append(f"| {comparison_name(name)} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"
