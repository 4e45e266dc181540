"""Where the addendum's runs stand, item by item: runs finished of planned, and CPU-hours.

CPU-hours done are what the records hold: each finished run's wall seconds times its torch
threads, lottery rounds included (`study.runs.run_cpu_seconds`, as the plan's cost was
measured); a record holds no process CPU time, so a run that was paused counts its pause (the
plan's procedure notes list the pauses). Beside them, what the plan's cost model
(`study.addendum_cost`, the first study's measured seconds) gives for the same finished runs,
which no pause inflates, and the plan's CPU-hours for the whole item (`cost.json`).
"""
from pathlib import Path
from typing import Dict, List, Optional

from .addendum_cost import measured_seconds, run_seconds
from .addendum_plan import cells
from .runs import read_json, read_record, run_cpu_seconds

HOUR = 3600.0


def finished_runs(results: Path) -> Dict[str, Path]:
    """{run name: folder} of the runs under `results`/runs whose record says finished."""
    found = {}
    for folder in sorted(Path(results, "runs").glob("*")) if Path(results, "runs").is_dir() else []:
        if (read_record(folder) or {}).get("finished"):
            found[folder.name] = folder
    return found


def _cost_model(plan: dict, results: Path):
    """The plan's per-run cost function, or None where the first study's records are absent."""
    first = (Path(results) / plan["first_study"]).resolve()
    if not (first / "runs").is_dir():
        return None
    table = measured_seconds(first)
    return (lambda cell: run_seconds(plan, cell, table)) if table else None


def progress(plan: dict, results: Path) -> List[dict]:
    """Per item, in the plan's order: planned and finished runs, whether the budget cut it, and
    CPU-hours (recorded for the finished runs; the cost model's for them; the plan's for all)."""
    results = Path(results)
    done = finished_runs(results)
    cut = set((plan.get("budget") or {}).get("cut_items") or [])
    planned_hours = (read_json(results / "cost.json") or {}).get("cpu_hours_per_item", {})
    model = _cost_model(plan, results)
    found = []
    for item, item_cells in cells(plan).items():
        mine = [cell for cell in item_cells if cell.name in done]
        to_run = [cell for cell in item_cells if cell.name not in done]
        found.append({"item": item, "what": plan["items"][str(item)]["what"], "cut": item in cut,
                      "planned": len(item_cells), "finished": len(mine),
                      "cpu_hours_recorded": sum(run_cpu_seconds(done[cell.name]) for cell in mine) / HOUR,
                      "cpu_hours_modelled_for_finished": _modelled(model, mine),
                      "cpu_hours_modelled_to_run": _modelled(model, to_run),
                      "cpu_hours_planned": planned_hours.get(str(item))})
    return found


def _modelled(model, runs) -> Optional[float]:
    """The cost model's CPU-hours for `runs`; None without a model, or for an arm or sparsity the
    first study has no measurement of."""
    if model is None:
        return None
    try:
        return sum(model(cell) for cell in runs) / HOUR
    except (KeyError, TypeError):
        return None


def in_flight(results: Path) -> List[dict]:
    """The runs started and not finished (a record with `finished` false): epochs done of planned."""
    found = []
    for folder in sorted(Path(results, "runs").glob("*")) if Path(results, "runs").is_dir() else []:
        record = read_record(folder)
        if record is not None and not record.get("finished"):
            found.append({"run": folder.name, "epochs_done": len(record.get("epochs") or []),
                          "epochs": (record.get("config") or {}).get("epochs")})
    return found


def curve_progress(plan: dict, results: Path) -> List[dict]:
    """Per network with a regime of its own: learning-curve runs finished, and its regime once chosen."""
    found = []
    planned = (read_json(Path(results) / "cost.json") or {}).get("curves_cpu_hours_if_the_rule_stops_at", {})
    for network, spec in plan["networks"].items():
        if not spec.get("own_regime"):
            continue
        curves = [path.parent for path in Path(results, network, "curves").glob("*/*/record.json")]
        finished = [folder for folder in curves if (read_record(folder) or {}).get("finished")]
        found.append({"network": network, "curves_finished": len(finished),
                      "cpu_hours_recorded": sum(run_cpu_seconds(f) for f in finished) / HOUR,
                      "regime": read_json(Path(results, network, "regime.json")),
                      "cpu_hours_planned_if_the_rule_stops_at": planned.get(network, {})})
    return found
