"""The converged study's answer, read back: `answer.json` (format `sparsekit-study-answer/1`,
written by the study's code from its records): the verdict sentence with its bounds, what ran of
what the plan kept after its cuts, and every (mask, sparsity) cell's paired difference with its
95% interval. The course shows it first: notebook 14 its sentence and figure, notebooks 10-13
one sentence on their trick alone.

Comparisons are spelt "arm - baseline"; a file that writes the minus sign as "−" reads the same.
"""
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from ..core import formats
from ..core.errors import SparsekitError

ANSWER_FILE = "answer.json"
BASELINE = "default"
CELL_KEYS = ("mask", "sparsity", "comparison", "pairs", "mean", "low", "high", "verdict")


def comparison_key(text: str) -> str:
    """"tost-release − default" and "tost-release - default" name one comparison."""
    return " - ".join(part.strip() for part in str(text).replace("−", "-").split(" - "))


@dataclass(frozen=True)
class StudyAnswer:
    path: Path
    sentence: str
    generated: str
    planned_after_cuts: int
    finished: int
    cells: List[dict]
    pooled: List[dict]

    def cells_of(self, comparison: str) -> List[dict]:
        """The (mask, sparsity) cells of one comparison, by sparsity then mask."""
        key = comparison_key(comparison)
        found = [c for c in self.cells if comparison_key(c["comparison"]) == key]
        return sorted(found, key=lambda c: (c["sparsity"], c["mask"]))

    def counts_line(self) -> str:
        return (f"{self.finished} of the {self.planned_after_cuts} runs the plan kept after its budget cuts "
                f"have finished (answer generated {self.generated}).")

    def trick_sentence(self, arms: Sequence[str], label: str) -> str:
        """One sentence on `arms` (a trick alone, or its variants) against plain training:
        per arm, how many cells read better, worse or no different, and each cell's numbers."""
        parts = []
        for arm in arms:
            cells = self.cells_of(f"{arm} - {BASELINE}")
            if not cells:
                parts.append(f"`{arm}` has no finished cell")
                continue
            words = {}
            for cell in cells:
                words[cell["verdict"]] = words.get(cell["verdict"], 0) + 1
            tally = ", ".join(f"{word} in {count}" for word, count in words.items())
            numbers = "; ".join(_cell_numbers(cell) for cell in cells)
            parts.append(f"`{arm}` − default: {tally} of {len(cells)} (mask, sparsity) cells ({numbers})")
        return (f"**The converged study on {label} alone:** " + "; ".join(parts) +
                ". Paired differences in test accuracy, 95% intervals over seeds (and Holm-corrected ones where the "
                "study gives them).")


def _cell_numbers(cell: dict) -> str:
    corrected = ""
    if cell.get("corrected_low") is not None and cell.get("corrected_high") is not None:
        corrected = f", Holm-corrected [{cell['corrected_low']:+.3f}, {cell['corrected_high']:+.3f}]"
    flag = ", degenerate" if cell.get("degenerate") else ""
    return (f"{cell['mask']} {cell['sparsity']:g}: {cell['mean']:+.3f} "
            f"[{cell['low']:+.3f}, {cell['high']:+.3f}]{corrected}, {cell['pairs']} pairs{flag}")


def load_answer(path) -> StudyAnswer:
    """The answer at `path`; one SparsekitError line for a file missing, unreadable, of
    another format, or without the entries the course reads."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise SparsekitError(f"{path}: no study answer there (it is generated from the study's records)") from None
    except (OSError, ValueError) as error:
        raise SparsekitError(f"{path}: not readable as JSON: {error}") from None
    formats.check(data, "study answer", path)
    counts, cells = data.get("counts"), data.get("cells")
    if not isinstance(data.get("sentence"), str) or not isinstance(counts, dict) or not isinstance(cells, list):
        raise SparsekitError(f"{path}: a study answer needs a sentence, counts and cells")
    for index, cell in enumerate(cells):
        missing = [key for key in CELL_KEYS if not isinstance(cell, dict) or key not in cell]
        if missing:
            raise SparsekitError(f"{path}: cells[{index}] lacks {', '.join(missing)}")
        if not all(is_number(cell[key]) for key in ("sparsity", "mean", "low", "high")):
            raise SparsekitError(f"{path}: cells[{index}]: sparsity, mean, low and high must be numbers")
    try:
        planned, finished = int(counts["planned_after_cuts"]), int(counts["finished"])
    except (KeyError, TypeError, ValueError):
        raise SparsekitError(f"{path}: counts needs whole numbers planned_after_cuts and finished") from None
    return StudyAnswer(path, data["sentence"], str(data.get("generated", "")), planned, finished, cells,
                       list(data.get("pooled") or []))


def is_number(value) -> bool:
    """A finite int or float (not a bool): what an answer file's figures must be."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def find_answer(study_directory) -> Optional[StudyAnswer]:
    """The answer in a study folder, or None where the folder has none yet (a file that is
    there but wrong is refused, one line)."""
    path = Path(study_directory) / ANSWER_FILE
    return load_answer(path) if path.exists() else None
