"""The study's answer file, `answer.json`: the re-analysed verdict (REANALYSIS.md) in a form a
notebook reads without the study's code. Generated from the records by `study.report`.

    {"format": "sparsekit-study-answer/1", "generated": ISO-8601 UTC, "sentence": ...,
     "counts": {"planned_after_cuts": int, "finished": int},
     "cells": [{"mask", "sparsity", "comparison", "pairs", "mean", "low", "high",
                "corrected_low", "corrected_high", "verdict", "degenerate", ...}],
     "pooled": [{"sparsity", "comparison", "mean", "low", "high", "corrected_low",
                 "corrected_high", "verdict", "method", ...}]}

Differences are accuracies (fractions, not points): arm − baseline, paired by seed. Cells and
pooled lines carry a few more fields than the schema names (the per-seed differences, p-values,
the family size, the masks pooled); a reader ignores what it does not know.
"""
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from sparsekit.core.formats import STUDY_ANSWER as ANSWER_FORMAT  # the identifier, a constant the package reads
from sparsekit.report.study_evidence import ANSWER_FILE


def _interval(entry: dict) -> str:
    if entry.get("corrected_low") is None:
        return f"{entry['mean']:+.4f}"
    return f"{entry['mean']:+.4f}, Holm-corrected 95% interval [{entry['corrected_low']:+.4f}, " \
           f"{entry['corrected_high']:+.4f}]"


def sentence(pooled: Sequence[dict], degenerate: Sequence[Tuple[str, float]]) -> str:
    """One sentence, `tost` first: each pooled comparison's verdict per sparsity with its bounds."""
    parts = []
    for name in dict.fromkeys(entry["comparison"] for entry in pooled):
        lines = [f"{entry['verdict']} at {entry['sparsity'] * 100:g}% ({_interval(entry)})"
                 for entry in pooled if entry["comparison"] == name]
        parts.append(f"{name}: " + " and ".join(lines))
    apart = "; ".join(f"{mask} {sparsity * 100:g}%" for mask, sparsity in degenerate)
    tail = (f"; left out as degenerate (the input reaches no kept weight): {apart}" if apart else "")
    return ("Pooled over masks (one mean difference in test accuracy per mask, a t-interval over masks, Holm "
            "across sparsities), " + "; ".join(parts) + tail + ".")


def _plain(entry: dict, keys: Sequence[str]) -> Dict:
    return {key: entry.get(key) for key in keys}


CELL_KEYS = ("mask", "sparsity", "comparison", "pairs", "mean", "low", "high", "corrected_low", "corrected_high",
             "verdict", "degenerate", "differences", "p", "p_holm", "family_size")
POOLED_KEYS = ("sparsity", "comparison", "mean", "low", "high", "corrected_low", "corrected_high", "verdict", "method",
               "masks", "p", "p_holm", "family_size")


def answer(found: Dict[str, List[dict]], planned: int, finished: int) -> Dict:
    degenerate = sorted({(c["mask"], c["sparsity"]) for c in found["cells"] if c["degenerate"]},
                        key=lambda k: (k[1], k[0]))
    return {"format": ANSWER_FORMAT,
            "generated": datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "sentence": sentence(found["pooled"], degenerate),
            "counts": {"planned_after_cuts": planned, "finished": finished},
            "cells": [_plain(c, CELL_KEYS) for c in found["cells"]],
            "pooled": [_plain(p, POOLED_KEYS) for p in found["pooled"]]}


def write_answer(directory, content: Dict) -> Path:
    path = Path(directory) / ANSWER_FILE
    path.write_text(json.dumps(content, indent=1) + "\n")
    return path
