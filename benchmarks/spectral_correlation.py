"""Does the full-spectrum coordinate predict accuracy? Spearman rank correlation, with a seeded
bootstrap 95% interval, between each spectral quantity of the runs in a study and their final
accuracy (`best_val_test_acc`), per mask method and pooled, for runs without the recipe, with
it, and both together; at each sparsity and across them.

A run is any directory below STUDY_DIR (any depth) holding a finished `record.json` with a
"spectral" entry (every run since the SpectralProbe), unless it lies inside another run's
directory. Its mask method is read from a study's run-directory name where there is one. Quantities: the coordinate's two
components at initialization and at the end, and the L2 distance between the two points.

    python benchmarks/spectral_correlation.py STUDY_DIR [--out FILE.md] [--resamples 2000 --seed 0]
"""
import argparse
import json
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
from scipy.stats import rankdata, spearmanr

from sparsekit.analysis.spectral import COORDINATE
from sparsekit.core.errors import SparsekitError
from sparsekit.recipe import Recipe

QUANTITIES = [f"{when} {name}" for when in ("init", "end") for name in COORDINATE] + ["distance"]


def quantity(spectral: dict, name: str) -> Optional[float]:
    if name == "distance":
        return spectral.get("distance")
    when, component = name.split(" ")
    point = spectral.get(when) or {}
    return (point.get("coordinate") or {}).get(component)


STUDY_RUN_NAME = re.compile(r"^(?P<method>[a-z_0-9]+)-(?P<sparsity>[0-9.]+)-seed(?P<seed>[0-9]+)-(?P<label>.+)$")


def mask_method(run_dir: Path, record: dict) -> str:
    """The method that made the run's mask. A study trains every recipe of a cell on the default
    run's saved mask, so its records say "given": the run's directory name
    (<method>-<sparsity>-seed<n>-<recipe>, as `benchmarks/recipe_study.py` writes) names the method."""
    named = STUDY_RUN_NAME.match(run_dir.name)
    if named:
        return named["method"]
    return (record.get("mask_source") or {}).get("method") or record["config"]["mask"]


def read_runs(study: Path) -> Tuple[List[dict], int]:
    """One row per usable run (method, sparsity, recipe on/off, accuracy, quantities), and how
    many records were skipped (unfinished, or written before runs recorded their spectrum). A
    record inside another run's directory (a lottery ticket's pruning rounds) belongs to that
    run and is not a run of the study."""
    paths = sorted(study.rglob("record.json"))
    run_dirs = {path.parent for path in paths}
    runs, skipped = [], 0
    for path in paths:
        if any(parent in run_dirs for parent in path.parent.parents):
            continue
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            skipped += 1
            continue
        if not record.get("finished") or "spectral" not in record or record.get("best_val_test_acc") is None:
            skipped += 1
            continue
        runs.append({"method": mask_method(path.parent, record),
                     # the measured sparsity, to the precision a grid names it (0.899997 is 0.9)
                     "sparsity": round(record.get("sparsity", record["config"].get("sparsity")), 3),
                     "recipe": "recipe" if Recipe.from_dict(record.get("recipe") or {}).callbacks() else "plain",
                     "accuracy": record["best_val_test_acc"],
                     **{name: quantity(record["spectral"], name) for name in QUANTITIES}})
    return runs, skipped


def spearman_with_interval(x: np.ndarray, y: np.ndarray, resamples: int, seed: int):
    """(rho, low, high): rho on all pairs, the interval from resampling pairs with replacement
    (resamples where either side is constant have no rho and are left out). The resamples are
    ranked all at once: Spearman's rho is Pearson's r of the (tie-averaged) ranks."""
    rho = spearmanr(x, y).statistic
    pick = np.random.default_rng(seed).integers(0, len(x), (resamples, len(x)))
    rank_x, rank_y = rankdata(x[pick], axis=1), rankdata(y[pick], axis=1)
    rank_x -= rank_x.mean(axis=1, keepdims=True)
    rank_y -= rank_y.mean(axis=1, keepdims=True)
    norms = np.sqrt((rank_x ** 2).sum(axis=1) * (rank_y ** 2).sum(axis=1))
    usable = norms > 0
    draws = (rank_x * rank_y).sum(axis=1)[usable] / norms[usable]
    if not len(draws) or np.isnan(rho):
        return float(rho), None, None
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(rho), float(low), float(high)


def table(runs: List[dict], resamples: int, seed: int) -> str:
    """Rows: mask (and pooled) x recipe (plain, recipe, both) x quantity. Columns: each sparsity
    alone, then all together (across sparsities, sparsity itself moves both sides)."""
    sparsities = sorted({run["sparsity"] for run in runs if run["sparsity"] is not None})
    columns = [(f"{s:g}", [s]) for s in sparsities] + ([("all", sparsities)] if len(sparsities) > 1 else [])
    lines = ["| mask | recipe | quantity | " + " | ".join(f"sparsity {label}: rho [95% CI] (runs)" for label, _ in columns)
             + " |", "|---|---|---|" + "---|" * len(columns)]
    methods = sorted({run["method"] for run in runs}) + ["pooled"]
    for method in methods:
        for recipe in ("plain", "recipe", "both"):
            group = [r for r in runs if method in ("pooled", r["method"]) and recipe in ("both", r["recipe"])]
            if not group:
                continue
            for name in QUANTITIES:
                cells = [_cell([(r[name], r["accuracy"]) for r in group if r[name] is not None and r["sparsity"] in chosen],
                               resamples, seed) for _, chosen in columns]
                lines.append(f"| {method} | {recipe} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(pairs, resamples: int, seed: int) -> str:
    """rho [low, high] (n); '-' where it cannot be had (fewer than 3 runs, or a constant side)."""
    if not pairs:
        return ""
    x, y = (np.array(v, dtype=float) for v in zip(*pairs))
    if len(pairs) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return f"- ({len(pairs)})"
    rho, low, high = spearman_with_interval(x, y, resamples, seed)
    interval = f"[{low:+.2f}, {high:+.2f}]" if low is not None else "[-]"
    return f"{rho:+.2f} {interval} ({len(pairs)})"


def main(argv=None) -> Dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path)
    parser.add_argument("--out", type=Path, help="also write the markdown here")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.study.is_dir():
        raise SparsekitError(f"study directory not found: {args.study}")
    runs, skipped = read_runs(args.study)
    if not runs:
        raise SparsekitError(f"{args.study}: no finished run with a 'spectral' entry in its record.json "
                             f"({skipped} record(s) skipped)")
    text = (f"Spectral quantities vs best-validation test accuracy: {len(runs)} runs from {args.study} "
            f"({skipped} skipped); bootstrap {args.resamples} resamples, seed {args.seed}.\n\n"
            + table(runs, args.resamples, args.seed) + "\n")
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return {"runs": len(runs), "skipped": skipped, "text": text}


if __name__ == "__main__":
    try:
        main()
    except SparsekitError as error:
        sys.exit(f"error: {error}")
