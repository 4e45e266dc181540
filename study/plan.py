"""What a pre-registered study's `plan.json` decides, as pure functions of the plan and of run
records: the names of its runs, its grid in running order, and the convergence rule that chose
its regime. The runner (`python -m study.converged`) and the report read these same
functions, so what was planned, what ran and what is reported cannot drift apart.
"""
import json
import math
import re
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from sparsekit.core.errors import SparsekitError

PLAN_FORMAT = "sparsekit.study-plan/1"
# <mask>-<sparsity>-seed<seed>-<arm> (a run of the grid); a learning curve's name has no arm.
_RUN_NAME = re.compile(r"^(?P<mask>.+?)-(?P<sparsity>\d*\.?\d+)-seed(?P<seed>\d+)(?:-(?P<arm>.+))?$")


def read_plan(directory) -> Optional[dict]:
    """The folder's plan.json, or None when it has none (or one that is not JSON)."""
    try:
        return json.loads((Path(directory) / "plan.json").read_text())
    except (OSError, ValueError):
        return None


# The shape each layout's plan.json must have for the report to read it (None: may be absent).
# Checked before anything is written, so a hand-edited plan fails in one line.
PLAN_SHAPES = {
    "converged": {"grid": dict, "convergence": dict, "budget": (dict, type(None)), "fixed": (dict, type(None)),
                  "metric": (str, type(None)), "question": (str, type(None))},
    "short-schedule": {"preset": dict, "recipes": (dict, list), "cells": (list, type(None))},
}
GRID_LISTS = ("masks", "sparsities", "arms", "seeds")  # the converged grid's lists, crossed into its runs


def check_plan_shape(plan, layout: str, where) -> None:
    """One `SparsekitError` line unless `plan` has the sections `layout` reads, of their types."""
    for section, kinds in PLAN_SHAPES[layout].items():
        value = plan.get(section)
        if value is None and not isinstance(None, kinds):
            raise SparsekitError(f"{where}: '{section}' is missing from plan.json; cannot report the study")
        if not isinstance(value, kinds):
            wanted = " or ".join(k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,))
                                 if k is not type(None)).replace("dict", "a table").replace("list", "a list")
            wanted = wanted.replace("str", "text")
            raise SparsekitError(f"{where}: plan.json's {section!r} must be {wanted}, got {type(value).__name__}; "
                                 f"cannot report the study")
    if layout == "converged":
        for name in GRID_LISTS:
            if not isinstance(plan["grid"].get(name), list):
                raise SparsekitError(f"{where}: plan.json's grid {name!r} must be a list, got "
                                     f"{type(plan['grid'].get(name)).__name__}; cannot report the study")


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


def budgets(plan: dict) -> List[Tuple[int, int]]:
    """Every budget the rule may train curves at, in the order it tries them: each rung, then the
    same images for more epochs (the more-training check), each once."""
    rule = plan["convergence"]
    factor = (rule.get("more_training") or {}).get("epochs_factor")
    order: List[Tuple[int, int]] = []
    for examples, epochs in rule["rungs"]:
        for budget in ((examples, epochs),) + (((examples, epochs * factor),) if factor else ()):
            if budget not in order:
                order.append(budget)
    return order


def rung_order(plan: dict) -> List[str]:
    """Every budget's folder name under curves/, in the order the rule tries them."""
    return [rung_name(n, e, warmup) for n, e in budgets(plan) for warmup in (False, True)]


def more_training_gain(here: List[dict], longer: List[dict]) -> float:
    """Mean over paired curve runs (same mask, sparsity, seed) of the final validation accuracy
    with more epochs minus that at the budget judged."""
    pairs = [(b["epochs"][-1]["val_acc"], a["epochs"][-1]["val_acc"]) for a, b in zip(here, longer)]
    return sum(b - a for b, a in pairs) / len(pairs)


RecordsOf = Callable[[int, int, bool], Optional[List[Optional[dict]]]]


def choose_regime(plan: dict, records_of: RecordsOf) -> Tuple[Optional[dict], str]:
    """The pre-registered rule, walked over the budgets in order: (regime, why). `records_of(N, E,
    warmup)` gives one budget's curve records in `curve_runs` order, None for a run not finished
    (or None for the whole budget); while any is missing the regime is None and `why` says which
    budget waits. One collapsed run settles a budget without warm-up: every run warms up from
    then on, whatever the others give. The runner passes a function that trains; the report and
    `choose` pass one that reads the committed records."""
    rule = plan["convergence"]
    check = rule.get("more_training")
    state = {"warmup": False}

    def fetch(examples: int, epochs: int) -> Optional[List[dict]]:
        records = records_of(examples, epochs, state["warmup"]) or [None]
        if not state["warmup"] and any(r is not None and collapsed(r, rule) for r in records):
            state["warmup"] = True  # from here on every run, all arms alike, warms up
            records = records_of(examples, epochs, True) or [None]
        return None if any(r is None for r in records) else records

    notes = []
    for examples, epochs in rule["rungs"]:
        records = fetch(examples, epochs)
        if records is None:
            return None, "; ".join(notes + [f"waiting for the curves of {rung_name(examples, epochs, state['warmup'])}"])
        rung = rung_name(examples, epochs, state["warmup"])
        names = [name for name, *_ in curve_runs(plan)]
        judged, left_out = judged_runs(names, records, rule, state["warmup"])
        if len(judged) < rule.get("min_judged", len(names)):
            notes.append(f"{rung}: only {len(judged)} of {len(names)} curves trained (collapsed: "
                         f"{', '.join(left_out)}); too few to judge")
            continue
        spreads = {name: converged(records[names.index(name)], rule)[1] for name in judged}
        if not all(converged(records[names.index(name)], rule)[0] for name in judged):
            notes.append(f"{rung}: window rule not met (largest spread {max(spreads.values()):.4f})")
            continue
        regime = {"train_examples": examples, "epochs": epochs,
                  "warmup_epochs": warmup_epochs(epochs, rule) if state["warmup"] else 0.0,
                  "chosen_from": rung, "window_spreads": spreads, "collapsed_curves": left_out}
        if check:
            longer = fetch(examples, epochs * check["epochs_factor"])
            if longer is None:
                waiting = rung_name(examples, epochs * check["epochs_factor"], state["warmup"])
                return None, "; ".join(notes + [f"{rung}: window rule met; waiting for the curves of {waiting}"])
            pairs = [(records[i], longer[i]) for i, name in enumerate(names)
                     if name in judged and not collapsed(longer[i], rule)]
            gain = more_training_gain([a for a, _ in pairs], [b for _, b in pairs])
            regime["more_training_gain"] = gain
            if gain >= check["max_gain"]:
                notes.append(f"{rung}: window rule met, but {check['epochs_factor']}x the epochs still gains "
                             f"{gain:+.4f} in mean final validation accuracy")
                continue
        notes.append(f"{rung}: chosen")
        return dict(regime, met_rule=True, why=notes), "; ".join(notes)
    examples, epochs = rule["rungs"][-1]
    notes.append(f"no budget met the rule: the grid runs at the largest, {rung_name(examples, epochs, state['warmup'])}")
    return ({"train_examples": examples, "epochs": epochs, "met_rule": False, "why": notes,
             "warmup_epochs": warmup_epochs(epochs, rule) if state["warmup"] else 0.0,
             "chosen_from": rung_name(examples, epochs, state["warmup"])}, "; ".join(notes))


def judged_runs(names: List[str], records: List[dict], rule: dict, warmup: bool) -> Tuple[List[str], List[str]]:
    """(curves the convergence rule judges, curves left out). With the warm-up on and the plan's
    `exclude_collapsed_after_warmup`, a curve that collapsed anyway is left out: at chance it
    cannot tell a converged regime from an unconverged one (it is reported as collapsed)."""
    if not (warmup and rule.get("exclude_collapsed_after_warmup")):
        return list(names), []
    out = [name for name, record in zip(names, records) if collapsed(record, rule)]
    return [name for name in names if name not in out], out


def warmup_epochs(epochs: int, rule: dict) -> float:
    """The collapse rule's warm-up: the plan's fraction of the epochs, at least one epoch."""
    return float(max(1, math.ceil(rule["warmup_fraction_if_collapse"] * epochs)))


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


def lottery_mask_options(options: dict, epochs: int) -> str:
    """The lottery ticket's mask options for a run of `epochs` epochs: the plan's pruned fraction
    per round, each round trained for the plan's fraction of the epochs (at least one)."""
    round_epochs = max(1, round(options["round_epochs_fraction"] * epochs))
    return f"prune_fraction={options['prune_fraction']}, round_epochs={round_epochs}"


def cut_items(plan: dict) -> List[int]:
    """The items the budget cut (`plan.json`: budget.cut_items), written when the grid's cost was
    measured, before the cut items' runs; in the plan's order, cut from the bottom."""
    cut = (plan.get("budget") or {}).get("cut_items") or []
    unknown = [item for item in cut if item not in items(plan)]
    if unknown:
        raise SparsekitError(f"plan.json: budget.cut_items names items the plan does not have ({unknown}); "
                             f"its items are {sorted(items(plan))}")
    return sorted(cut)


def items_to_run(plan: dict) -> List[int]:
    """The plan's items the study runs: every one the budget did not cut, in the plan's order."""
    cut = cut_items(plan)
    return [item for item in items(plan) if item not in cut]


def plan_section(text: str, heading: str) -> Optional[str]:
    """The body of the markdown section `## heading` of a plan's text (None when absent)."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == f"## {heading}")
    except StopIteration:
        return None
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start + 1:end]).strip()
