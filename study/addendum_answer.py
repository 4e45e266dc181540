"""The addendum's answer file, `answer.json` in its folder: where its runs stand and what its
complete cells say, in a form a notebook reads without the study's code
(`sparsekit.report.addendum_answer`). Generated with `report.md` by `study.addendum_report`.

    {"format": "sparsekit-study-addendum-answer/1", "generated": ISO-8601 UTC, "command": ...,
     "sentence": ..., "counts": {"planned_after_cuts": int, "finished": int},
     "headline": {"items": [3, 4, 5], "complete": bool},
     "items": [{"item", "what", "cut", "planned", "finished", "cpu_hours_recorded",
                "cpu_hours_modelled_for_finished", "cpu_hours_planned"}],
     "cells": [{"network", "mask", "sparsity", "comparison", "pairs", "mean", "low", "high",
                "corrected_low", "corrected_high", "verdict", "degenerate", "family_size", ...}],
     "pending": [{"network", "mask", "sparsity", "comparison", "pairs_planned", "missing", ...}],
     "pooled": [...], "pooled_pending": [...]}

Differences are accuracies (fractions): arm - baseline, paired by seed. A reader ignores fields
it does not know.
"""
import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Sequence

from sparsekit.core import atomic
from sparsekit.core.formats import STUDY_ADDENDUM_ANSWER as ADDENDUM_ANSWER_FORMAT
from sparsekit.report.addendum_answer import ANSWER_FILE

from .answer import CELL_KEYS, POOLED_KEYS

COMMAND = "python -m study.addendum_report benchmarks/results/study-addendum"
ADDENDUM_CELL_KEYS = ("network",) + CELL_KEYS + ("items", "seeds")
ADDENDUM_POOLED_KEYS = ("network",) + POOLED_KEYS
# The items PLAN.md calls the headline, "the minimum the addendum reports" (Order and cuts): once
# all their runs have finished, the ResNet's families and pooled lines are whole (items 6 and 8
# are descriptive, item 7 is another network's), and the README and notebook 14 lead with them.
HEADLINE_ITEMS = (3, 4, 5)


def headline(items: Sequence[dict]) -> Dict:
    """Whether every run of the headline items has finished (an item the budget cut is never complete)."""
    found = {item["item"]: item for item in items}
    complete = all(number in found and not found[number]["cut"]
                   and found[number]["finished"] == found[number]["planned"] for number in HEADLINE_ITEMS)
    return {"items": list(HEADLINE_ITEMS), "complete": complete}


def _shown(name: str) -> str:
    return name.replace(" - ", " − ")


def sentence(items: Sequence[dict], cells: Sequence[dict], pending: Sequence[dict]) -> str:
    """Runs finished of planned, then per comparison type the corrected verdicts of its complete
    cells (degenerate ones apart), and how many cells still wait for runs."""
    kept = [item for item in items if not item["cut"]]
    runs = (f"{sum(i['finished'] for i in kept)} of {sum(i['planned'] for i in kept)} planned runs have finished ("
            + ", ".join(f"item {i['item']}: {i['finished']} of {i['planned']}" for i in kept) + ")")
    words = []
    for name in dict.fromkeys(c["comparison"] for c in cells if not c["degenerate"]):
        tally = Counter(c["verdict"] for c in cells if c["comparison"] == name and not c["degenerate"])
        words.append(f"{_shown(name)}: " + ", ".join(f"{word} in {count}" for word, count in sorted(tally.items())))
    found = ("; ".join(words) + " (complete cells, Holm-corrected)") if words else \
        "no cell has all its planned seeds finished yet"
    waiting = len({(p["network"], p["mask"], p["sparsity"], p["comparison"]) for p in pending})
    return f"The addendum: {runs}; {found}; {waiting} cell comparison(s) pending."


def answer(items: List[dict], found: Dict[str, list]) -> Dict:
    kept = [item for item in items if not item["cut"]]
    return {"format": ADDENDUM_ANSWER_FORMAT,
            "generated": datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "command": COMMAND,
            "sentence": sentence(items, found["cells"], found["pending"]),
            "counts": {"planned_after_cuts": sum(i["planned"] for i in kept),
                       "finished": sum(i["finished"] for i in kept)},
            "headline": headline(items),
            "items": items,
            "cells": [{key: c.get(key) for key in ADDENDUM_CELL_KEYS} for c in found["cells"]],
            "pending": found["pending"],
            "pooled": [{key: p.get(key) for key in ADDENDUM_POOLED_KEYS} for p in found["pooled"]],
            "pooled_pending": found["pooled_pending"],
            "degenerate": [{"mask": mask, "sparsity": sparsity} for mask, sparsity in found["degenerate"]]}


def write_answer(directory, content: Dict) -> Path:
    """Written whole or not at all (a reader never sees half a file)."""
    return atomic.write_text(json.dumps(content, indent=1) + "\n", Path(directory) / ANSWER_FILE)
