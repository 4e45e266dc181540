"""The addendum's two descriptive items (`PLAN.md`): two seeds each, fewer than the rule's three
pairs, so no test, only what was measured.

- Item 6, plain training at twice the epochs at 99.5%: each run judged by the first study's
  window rule (`study.plan.converged`) and its gain over the first study's 40-epoch `default` of
  the same mask and seed; when the mean gain is 0.5 points or more, by how much that narrows each
  recipe arm's pooled 99.5% difference from `default` (the first study's re-analysis).
- Item 8, `tost`'s early phase and label smoothing: each setting's seeds against the first
  study's `default` and `tost` (the preset) of the same seed.

Shown once every run of the item has finished; until then its count of finished runs.
"""
import statistics
from pathlib import Path
from typing import Dict, List, Tuple

from . import tables
from .addendum_cells import ADDENDUM, FIRST
from .addendum_plan import cells
from .plan import converged, read_plan, run_name
from .runs import read_json, read_record

GAIN_THAT_COUNTS = 0.005  # PLAN.md, item 6: "if the mean gain is 0.5 points or more"
Rows = Dict[Tuple[str, str], dict]


def _waiting(plan: dict, item: int, rows: Rows) -> List[str]:
    return [cell.name for cell in cells(plan)[item] if (ADDENDUM, cell.name) not in rows]


def _first(rows: Rows, mask: str, sparsity: float, seed: int, arm: str):
    row = rows.get((FIRST, run_name(mask, sparsity, seed, arm)))
    return None if row is None else row["accuracy"]


def item_6(plan: dict, first: Path, results: Path, rows: Rows) -> List[str]:
    rule = (read_plan(first) or {}).get("convergence") or {}
    body, gains = [], []
    runs = cells(plan)[6]
    for cell in runs:
        longer, record = rows[(ADDENDUM, cell.name)], read_record(results / "runs" / cell.name)
        ok, spread = converged(record, rule)
        base = _first(rows, cell.mask, cell.sparsity, cell.seed, "default")
        gain = None if base is None else longer["accuracy"] - base
        gains += [] if gain is None else [gain]
        body.append([cell.mask, f"{cell.sparsity:g}", str(cell.seed), f"{longer['accuracy']:.4f}",
                     "n/a" if base is None else f"{base:.4f}", "n/a" if gain is None else f"{gain:+.4f}",
                     "yes" if ok else "no", f"{spread:.4f}"])
    parts = [tables.markdown(["mask", "sparsity", "seed", "80 epochs", "40 epochs (first study)", "gain",
                              f"converged (window rule, < {rule.get('max_change')})", "window spread"], body)]
    if not gains:
        return parts
    mean_gain = statistics.fmean(gains)
    parts.append(f"\nMean gain over {len(gains)} runs: {mean_gain:+.4f}.")
    if mean_gain < GAIN_THAT_COUNTS:
        parts.append(f" Below the plan's {GAIN_THAT_COUNTS}: the 99.5% verdict is left as it is.\n")
        return parts
    pooled = [p for p in (read_json(first / "answer.json") or {}).get("pooled", [])
              if p["sparsity"] in {c.sparsity for c in runs} and p["comparison"].endswith(" - default")]
    parts.append(" At or above the plan's 0.005: plain training gains that much from twice the epochs, so each "
                 "recipe arm's pooled 99.5% difference from `default` (the first study's re-analysis) narrows to: " +
                 "; ".join(f"{p['comparison'].replace(' - ', ' − ')} {p['mean']:+.4f} → "
                           f"{p['mean'] - mean_gain:+.4f}" for p in pooled) + ".\n")
    return parts


def item_8(plan: dict, rows: Rows) -> List[str]:
    body = []
    for arm in plan["items"]["8"]["arms"]:
        mine = [cell for cell in cells(plan)[8] if cell.arm == arm]
        values = [rows[(ADDENDUM, cell.name)]["accuracy"] for cell in mine]
        against = {}
        for baseline in ("default", "tost"):
            found = [rows[(ADDENDUM, c.name)]["accuracy"] - _first(rows, c.mask, c.sparsity, c.seed, baseline)
                     for c in mine if _first(rows, c.mask, c.sparsity, c.seed, baseline) is not None]
            against[baseline] = ", ".join(f"{d:+.4f}" for d in found) or "n/a"
        body.append([arm, ", ".join(str(c.seed) for c in mine), ", ".join(f"{v:.4f}" for v in values),
                     f"{statistics.fmean(values):.4f}", against["default"], against["tost"]])
    return [tables.markdown(["arm", "seeds", "accuracy per seed", "mean", "− default (first study), per seed",
                             "− tost preset (first study), per seed"], body),
            "\n`tost-phase0.25-ls0.1` is the `tost` preset run again: its difference from the first study's `tost` "
            "shows whether those runs reproduce here (0 when bit for bit).\n"]


def descriptive_parts(plan: dict, first: Path, results: Path, rows: Rows) -> List[str]:
    cut = set((plan.get("budget") or {}).get("cut_items") or [])
    parts = []
    for item, title, show in ((6, "twice the epochs at 99.5%", lambda: item_6(plan, first, results, rows)),
                              (8, "`tost`'s CIFAR settings on SNIP 98%", lambda: item_8(plan, rows))):
        parts.append(f"\n## Item {item} (descriptive, two seeds): {title}\n")
        waiting = _waiting(plan, item, rows)
        if item in cut:
            parts.append("Cut by the budget (`plan.json` budget.cut_items); see `PLAN.md` for the reason.\n")
        elif waiting:
            planned = len(cells(plan)[item])
            parts.append(f"{planned - len(waiting)} of {planned} runs finished; shown when all have.\n")
        else:
            parts += show()
    return parts
