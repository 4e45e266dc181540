"""The converged study's addendum (issue 52), read back: its `answer.json` (format
`sparsekit-study-addendum-answer/1`, written by the study's code from the records as they
finish): runs finished of planned, item by item, and the verdict of every cell whose planned
seeds have all finished. Notebook 14 shows where it stands in a line or two, after the
converged study's own answer; once the plan's headline items (3-5) have all finished, their
corrected verdict: the pooled grid per network, each comparison's cell tally, the degenerate cells.

Comparisons are spelt "arm - baseline"; differences are test accuracies (fractions).
"""
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from ..core import formats
from ..core.errors import SparsekitError
from .answer import comparison_key, is_number
from .pooled_grid import comparison_name, percent, pooled_grid

ANSWER_FILE = "answer.json"
CELL_KEYS = ("network", "mask", "sparsity", "comparison", "pairs", "mean", "verdict")
POOLED_KEYS = ("network", "sparsity", "comparison", "masks", "mean", "corrected_low", "corrected_high", "verdict")
SHOWN_CELLS = 6  # the standing line lists this many finished cells, then counts the rest


@dataclass(frozen=True)
class AddendumAnswer:
    path: Path
    sentence: str
    generated: str
    planned_after_cuts: int
    finished: int
    items: List[dict]
    cells: List[dict]
    pending: List[dict]
    pooled: List[dict] = ()
    degenerate: List[dict] = ()
    headline_items: List[int] = ()
    headline_complete: bool = False  # files written before the field read as not complete

    def progress_line(self) -> str:
        kept = [item for item in self.items if not item.get("cut")]
        per_item = ", ".join(f"item {i['item']}: {i['finished']} of {i['planned']}" for i in kept)
        return (f"The study's addendum (issue 52): {self.finished} of {self.planned_after_cuts} planned runs "
                f"finished ({per_item}; generated {self.generated}).")

    def cells_line(self) -> str:
        """The corrected verdict of each finished cell (degenerate ones marked), or that none is."""
        if not self.cells:
            return (f"No cell has all its planned seeds finished yet: {len(self.pending)} cell comparison(s) pending, "
                    "none analysed on partial seeds.")
        shown = [_cell_text(cell) for cell in self.cells[:SHOWN_CELLS]]
        more = len(self.cells) - len(shown)
        return ("Finished cells: " + "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
                + f" ({len(self.pending)} cell comparison(s) pending).")

    def items_line(self) -> str:
        """Which items have finished, which are still to finish and which the budget cut (no run
        counts: the line changes only when an item finishes or is cut)."""
        def named(items):
            return "; ".join(f"{i['item']} ({i.get('what', 'item ' + str(i['item']))})" for i in items) or "none"

        done = [i for i in self.items if not i.get("cut") and i["finished"] == i["planned"]]
        to_finish = [i for i in self.items if not i.get("cut") and i["finished"] < i["planned"]]
        cut = [i for i in self.items if i.get("cut")]
        return (f"Items finished: {named(done)}. Still to finish: {named(to_finish)}. Cut by the budget, from the "
                f"bottom of the plan's order (the reasons are in PLAN.md): {named(cut)}.")

    def verdict_markdown(self) -> str:
        """The corrected verdict, per network: the pooled grid, then per comparison how its
        cells read (degenerate cells apart), then the degenerate cells."""
        parts = []
        for network in dict.fromkeys(c["network"] for c in list(self.cells) + list(self.pooled)):
            pooled = [p for p in self.pooled if p["network"] == network]
            waiting = sum(p.get("network") == network for p in self.pending)
            state = (f" (provisional: {waiting} cell comparison(s) still wait for runs, so its families are not whole)"
                     if waiting else "")
            parts.append(f"**{network}**{state}, pooled over masks (one mean per mask, Holm across sparsities):\n\n"
                         + pooled_grid(pooled))
            tallies = []
            for name in dict.fromkeys(comparison_key(c["comparison"]) for c in self.cells if c["network"] == network):
                mine = [c for c in self.cells if c["network"] == network and comparison_key(c["comparison"]) == name
                        and not c.get("degenerate")]
                if mine:
                    words = Counter(c["verdict"] for c in mine)
                    tallies.append(f"{comparison_name(name)}, {len(mine)} cells: " + ", ".join(
                        f"{word} in {count}" for word, count in sorted(words.items())))
            if tallies:
                parts.append(f"Cell by cell on {network} (Holm-corrected within each comparison): "
                             + "; ".join(tallies) + ".\n")
        if self.degenerate:
            parts.append("Degenerate cells, reported apart and kept out of the families and pooled lines: "
                         + ", ".join(f"{d['mask']} {percent(d['sparsity'])}" for d in self.degenerate) + ".\n")
        return "\n".join(parts)


def _cell_text(cell: dict) -> str:
    corrected = ""
    if cell.get("corrected_low") is not None and cell.get("corrected_high") is not None:
        corrected = f", Holm-corrected [{cell['corrected_low']:+.3f}, {cell['corrected_high']:+.3f}]"
    apart = " (degenerate, uncorrected)" if cell.get("degenerate") else ""
    comparison = str(cell["comparison"]).replace(" - ", " − ")
    return (f"{comparison} on {cell['mask']} {cell['sparsity']:g} ({cell['network']}): {cell['verdict']}{apart}, "
            f"{cell['mean']:+.3f}{corrected}, {cell['pairs']} pairs")


def load_addendum_answer(path) -> AddendumAnswer:
    """The addendum's answer at `path`; one SparsekitError line for a file missing, unreadable,
    of another format, or without the entries read here."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise SparsekitError(f"{path}: no addendum answer there (it is generated from the addendum's "
                             "records)") from None
    except (OSError, ValueError) as error:
        raise SparsekitError(f"{path}: not readable as JSON: {error}") from None
    formats.check(data, "study addendum answer", path)
    counts, items, cells, pending = (data.get(key) for key in ("counts", "items", "cells", "pending"))
    if not isinstance(data.get("sentence"), str) or not isinstance(counts, dict) or \
            not all(isinstance(value, list) for value in (items, cells, pending)):
        raise SparsekitError(f"{path}: an addendum answer needs a sentence, counts, items, cells and pending")
    for index, cell in enumerate(cells):
        missing = [key for key in CELL_KEYS if not isinstance(cell, dict) or key not in cell]
        if missing:
            raise SparsekitError(f"{path}: cells[{index}] lacks {', '.join(missing)}")
        if not all(is_number(cell[key]) for key in ("sparsity", "mean")):
            raise SparsekitError(f"{path}: cells[{index}]: sparsity and mean must be numbers")
    for index, item in enumerate(items):
        whole = ("item", "planned", "finished")
        if not isinstance(item, dict) or not all(isinstance(item.get(key), int) for key in whole):
            raise SparsekitError(f"{path}: items[{index}] needs whole numbers item, planned and finished")
    try:
        planned, finished = int(counts["planned_after_cuts"]), int(counts["finished"])
    except (KeyError, TypeError, ValueError):
        raise SparsekitError(f"{path}: counts needs whole numbers planned_after_cuts and finished") from None
    pooled, degenerate, headline = data.get("pooled", []), data.get("degenerate", []), data.get("headline", {})
    if not isinstance(pooled, list) or not isinstance(degenerate, list) or not isinstance(headline, dict):
        raise SparsekitError(f"{path}: pooled and degenerate must be lists, headline an object")
    for index, line in enumerate(pooled):
        missing = [key for key in POOLED_KEYS if not isinstance(line, dict) or key not in line]
        if missing:
            raise SparsekitError(f"{path}: pooled[{index}] lacks {', '.join(missing)}")
    if not all(isinstance(d, dict) and "mask" in d and is_number(d.get("sparsity")) for d in degenerate):
        raise SparsekitError(f"{path}: each degenerate entry needs a mask and a sparsity")
    return AddendumAnswer(path, data["sentence"], str(data.get("generated", "")), planned, finished, items, cells,
                          pending, pooled, degenerate, list(headline.get("items", [])),
                          headline.get("complete") is True)


def find_addendum_answer(directory) -> Optional[AddendumAnswer]:
    """The addendum's answer in its folder, or None where there is none yet (a file that is
    there but wrong is refused, one line)."""
    path = Path(directory) / ANSWER_FILE
    return load_addendum_answer(path) if path.exists() else None
