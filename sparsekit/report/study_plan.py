"""What a pre-registered study's `plan.json` decides, as pure functions of the plan and of run
records: the names of its runs, its grid in running order, and the convergence rule that chose
its regime. The runner (`benchmarks/study_converged.py`) and the report read these same
functions, so what was planned, what ran and what is reported cannot drift apart.
"""
import json
import math
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

PLAN_FORMAT = "sparsekit.study-plan/1"
# <mask>-<sparsity>-seed<seed>-<arm> (a run of the grid); a learning curve's name has no arm.
_RUN_NAME = re.compile(r"^(?P<mask>.+?)-(?P<sparsity>\d*\.?\d+)-seed(?P<seed>\d+)(?:-(?P<arm>.+))?$")


def read_plan(directory) -> Optional[dict]:
    """The folder's plan.json, or None when it has none (or one that is not JSON)."""
    try:
        return json.loads((Path(directory) / "plan.json").read_text())
    except (OSError, ValueError):
        return None


def run_name(mask: str, sparsity: float, seed: int, arm: str) -> str:
    return f"{mask}-{sparsity}-seed{seed}-{arm}"


def curve_name(mask: str, sparsity: float, seed: int) -> str:
    return f"{mask}-{sparsity}-seed{seed}"


def parse_run_name(name: str) -> Optional[Tuple[str, float, int, Optional[str]]]:
    """(mask, sparsity, seed, arm) of a run folder's name; arm None for a learning curve."""
    match = _RUN_NAME.match(name)
    if match is None:
        return None
    return match["mask"], float(match["sparsity"]), int(match["seed"]), match["arm"]


# ---- the convergence rule --------------------------------------------------------------------
def window(epochs: int, fraction: float) -> Tuple[int, int]:
    """First and last epoch (1-based) of the last `fraction` of a run: floor((1 - f) E) to E."""
    return max(1, math.floor((1 - fraction) * epochs)), epochs


def converged(record: dict, rule: dict) -> Tuple[bool, float]:
    """(converged, max - min of validation accuracy over the window) of one curve run."""
    rows = record["epochs"]
    first, last = window(len(rows), rule["window_fraction"])
    values = [row["val_acc"] for row in rows[first - 1:last]]
    spread = max(values) - min(values)
    return spread < rule["max_change"], spread


def collapsed(record: dict, rule: dict) -> bool:
    return record["epochs"][-1]["val_acc"] < rule["collapse_below"]


def rung_name(examples: int, epochs: int, warmup: bool) -> str:
    return f"{examples // 1000}k-x{epochs}" + ("-warmup" if warmup else "")


def curve_runs(plan: dict) -> List[Tuple[str, str, float, int]]:
    """(name, mask, sparsity, seed) of every learning-curve run of one budget, in the plan's order."""
    rule = plan["convergence"]
    return [(curve_name(mask, sparsity, seed), mask, sparsity, seed) for mask in rule["curve_masks"]
            for sparsity in rule["curve_sparsities"] for seed in rule["curve_seeds"]]


def rung_order(plan: dict) -> List[str]:
    """Every budget's folder name under curves/, in the order the rule tries them."""
    return [rung_name(n, e, warmup) for n, e in plan["convergence"]["rungs"] for warmup in (False, True)]


# ---- the grid --------------------------------------------------------------------------------
def items(plan: dict) -> Dict[int, List[Tuple[str, float, int, str]]]:
    """The plan's running order: item -> [(mask, sparsity, seed, arm)]."""
    grid = plan["grid"]
    arms, seeds, head = grid["arms"], grid["seeds"], grid["headline_masks"]
    others = [m for m in grid["masks"] if m not in head]
    tricks = grid["tricks_alone"]
    cells = {
        1: [(m, 0.98, s, a) for m in head for s in seeds for a in arms],
        2: [(m, tricks["sparsity"], s, a) for m in tricks["masks"] for s in seeds for a in tricks["arms"]],
        3: [(m, 0.995, s, a) for m in head for s in seeds for a in arms],
        4: [(m, 0.9, s, a) for m in head for s in seeds for a in arms],
        5: [(m, p, s, a) for m in others for p in (0.98, 0.995, 0.9) for s in seeds for a in arms],
        6: [(m, 0.98, s, a) for m in head for s in grid["extra_seeds_at_0.98"] for a in arms],
    }
    return cells


def plan_section(text: str, heading: str) -> Optional[str]:
    """The body of the markdown section `## heading` of a plan's text (None when absent)."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == f"## {heading}")
    except StopIteration:
        return None
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start + 1:end]).strip()
