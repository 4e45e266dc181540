"""A study folder read back: which layout it has, its finished runs as rows, and what is not
finished. Two layouts are known, both with one folder per run named
`<mask>-<sparsity>-seed<seed>-<arm>` under `runs/`:

- "converged": the pre-registered study (`plan.json` of format `sparsekit.study-plan/1`,
  `regime.json`, learning curves under `curves/<budget>/<mask>-<sparsity>-seed<seed>/`);
- "short-schedule": the earlier recipe studies of `benchmarks/recipe_study.py` (a `plan.json`
  holding its "preset" and "recipes"), a few epochs per run, reported apart and labelled so.
"""
import json
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from sparsekit.report.seeded_rows import test_set_size  # noqa: F401 (the report reads it from here)

from .plan import PLAN_FORMAT, parse_run_name, read_plan

CONVERGED, SHORT = "converged", "short-schedule"
METRIC = "best_val_test_acc"  # test accuracy at the best validation epoch (the release's metric)
DIAGNOSTIC = "bn_reestimated_test_acc"  # the same weights after re-estimating BatchNorm statistics


def study_layout(directory) -> Optional[str]:
    """CONVERGED, SHORT, or None for a folder that is not a study (any other folder of runs)."""
    plan = read_plan(directory)
    if not isinstance(plan, dict):
        return None
    if plan.get("format") == PLAN_FORMAT:
        return CONVERGED
    return SHORT if {"preset", "recipes"} <= set(plan) and (Path(directory) / "runs").is_dir() else None


def read_json(path) -> Optional[dict]:
    """A JSON file of the study folder, or None while it is missing (or being written)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def read_record(folder: Path) -> Optional[dict]:
    """A run folder's record, or None while it has none (or one being written)."""
    return read_json(Path(folder) / "record.json")


def row_of(record: dict, run: str, mask: str, sparsity: float, seed: int, arm: str, metric: str) -> dict:
    """The numbers of one finished run a study's tables use (`run`: its folder's name)."""
    return {"run": run, "mask": mask, "sparsity": sparsity, "seed": seed, "arm": arm, "accuracy": record[metric],
            "diagnostic": record.get(DIAGNOSTIC), "final_test_acc": record.get("test_acc"),
            "seconds": record.get("seconds"), "epochs": len(record.get("epochs", [])),
            "parameters": record.get("parameters"), "parameters_at_start": record.get("parameters_at_start"),
            "trained_sparsity": record.get("sparsity")}


def collect(directory, metric: str = METRIC) -> Tuple[List[dict], List[str]]:
    """(a row per finished run under runs/, names of the run folders not finished yet)."""
    rows, unfinished = [], []
    for folder in sorted(Path(directory, "runs").iterdir()) if Path(directory, "runs").is_dir() else []:
        parsed = parse_run_name(folder.name)
        if not folder.is_dir() or parsed is None or parsed[3] is None:
            continue
        record = read_record(folder)
        if record is None or not record.get("finished") or metric not in record:
            unfinished.append(folder.name)
            continue
        rows.append(row_of(record, folder.name, *parsed, metric))
    return rows, unfinished


def test_accuracies(directory) -> List[float]:
    """Every test accuracy the runs recorded, every epoch (to find the test set's step)."""
    values = []
    for path in Path(directory).glob("runs/*/record.json"):
        record = read_record(path.parent) or {}
        values += [row["test_acc"] for row in record.get("epochs", []) if row.get("test_acc") is not None]
    return values


def cpu_seconds(record: dict) -> float:
    """A run's wall seconds times the torch threads it held: a run trained alone gets both cores,
    and its wall time alone would count half the CPU it used. Records without the thread count
    ran with one."""
    threads = (record.get("environment") or {}).get("torch_threads") or 1
    return (record.get("seconds") or 0) * threads


def run_cpu_seconds(folder: Path) -> float:
    """One run's CPU-seconds, its lottery rounds included. A lottery run's record counts only the
    rounds trained in its own process; rounds trained in an earlier session (the run parked
    between them) are in their own records under `lottery/round_K/`, so such a run counts its
    rounds' records and its own epochs instead."""
    record = read_record(folder) or {}
    rounds = [read_record(path.parent) or {} for path in sorted(Path(folder).glob("lottery/round_*/record.json"))]
    if not rounds:
        return cpu_seconds(record)
    threads = (record.get("environment") or {}).get("torch_threads") or 1
    own = threads * sum(epoch.get("seconds") or 0 for epoch in record.get("epochs") or [])
    return own + sum(cpu_seconds(r) for r in rounds)


def seconds_spent(directory) -> float:
    """The CPU-seconds of every run of the study, finished or not: the grid (lottery rounds
    included), the learning curves and the cost runs."""
    folders = {path.parent for pattern in ("runs/*/record.json", "runs/*/lottery/round_*/record.json",
                                           "curves/*/*/record.json", "cost/*/record.json")
               for path in Path(directory).glob(pattern)}
    folders = {folder.parent.parent if folder.parent.name == "lottery" else folder for folder in folders}
    return sum(run_cpu_seconds(folder) for folder in folders)


def curves(directory) -> Dict[str, Dict[str, dict]]:
    """{budget folder: {curve name: record}} of the learning curves under curves/."""
    found: Dict[str, Dict[str, dict]] = {}
    for folder in sorted(Path(directory).glob("curves/*/*")):
        record = read_record(folder) if folder.is_dir() else None
        if record is not None:
            found.setdefault(folder.parent.name, {})[folder.name] = record
    return found


def default_records(directory) -> Dict[Tuple[str, float], List[dict]]:
    """{(mask, sparsity): finished records of the plain arm}, for the convergence check of the grid."""
    found: Dict[Tuple[str, float], List[dict]] = {}
    for folder in sorted(Path(directory).glob("runs/*-default")):
        parsed, record = parse_run_name(folder.name), read_record(folder)
        if parsed and record and record.get("finished") and record.get("epochs"):
            found.setdefault(parsed[:2], []).append(record)
    return found
