"""The converged study re-analysed by the rules of REANALYSIS.md, from the records alone:
degenerate cells apart (`degenerate`), Holm's correction per comparison type across cells
(`holm`), pooled differences as one mean per mask with a t-interval over masks, `tost` first.

    found = reanalyse(rows, degeneracy, headline_masks, tricks, resolution)
    found["cells"], found["pooled"]      # dicts, the numbers answer.json and the report show
"""
import statistics
from typing import Dict, List, Optional, Sequence, Set, Tuple

from sparsekit.report.seeded_rows import by_cell, comparison_pairs
from sparsekit.report.verdict import Verdict, paired_verdict

from . import holm
from .stats import BASELINE, CAPACITY, RELEASE

ABSTRACT = "tost"  # the paper's recipe as its abstract states it (ghosts annealed away): it leads
# The recipe's comparisons, in the order every table and the verdict sentence use.
RECIPE_COMPARISONS = ((ABSTRACT, BASELINE), (RELEASE, BASELINE), (CAPACITY, BASELINE), (RELEASE, CAPACITY))
POOLED_METHOD = ("one mean paired difference per mask, then a Student-t interval over the masks (k - 1 degrees "
                 "of freedom); Holm across the sparsities of this comparison; degenerate cells left out")


def comparisons(tricks: Sequence[str]) -> List[Tuple[str, str]]:
    return list(RECIPE_COMPARISONS) + [(trick, BASELINE) for trick in tricks]


def label(arm: str, baseline: str) -> str:
    return f"{arm} - {baseline}"  # the answer file's spelling (ASCII)


def with_correction(entry: dict, corrected: Optional[holm.Corrected], raw: Verdict) -> dict:
    entry.update(corrected_low=None, corrected_high=None, p=None, p_holm=None, family_size=None,
                 verdict=raw.word)
    if corrected is not None:
        entry.update(corrected_low=corrected.low, corrected_high=corrected.high, p=corrected.p,
                     p_holm=corrected.p_holm, family_size=corrected.family_size, verdict=corrected.word)
    return entry


def family_results(rows: Sequence[dict], arm: str, baseline: str, out_of_family: Set[Tuple[str, float]],
                   resolution: Optional[float]) -> List[dict]:
    """One comparison type across the (mask, sparsity) cells of `rows` that have pairs: the
    engine's interval per cell, and Holm's corrected interval and verdict within the family of
    the cells not in `out_of_family` (those keep the uncorrected verdict, no corrected interval)."""
    cells = by_cell(rows)
    keys = sorted({(r["mask"], r["sparsity"]) for r in rows}, key=lambda k: (k[1], k[0]))
    family = []
    for mask, sparsity in keys:
        pairs = comparison_pairs(cells, mask, sparsity, arm, baseline)
        if pairs:
            family.append(((mask, sparsity), paired_verdict([d for _, d in pairs],
                                                            f"{mask} {sparsity:g}: {label(arm, baseline)}",
                                                            resolution=resolution)))
    tested = [(key, raw) for key, raw in family if key not in out_of_family]
    corrected = dict(zip([key for key, _ in tested], holm.correct([raw for _, raw in tested])))
    found = []
    for (mask, sparsity), raw in family:
        entry = {"mask": mask, "sparsity": sparsity, "comparison": label(arm, baseline), "pairs": raw.seeds,
                 "mean": raw.mean, "low": raw.low, "high": raw.high, "differences": list(raw.differences)}
        found.append(with_correction(entry, corrected.get((mask, sparsity)), raw))
    return found


def cell_results(rows: Sequence[dict], degenerate: Dict[Tuple[str, float], bool], tricks: Sequence[str],
                 resolution: Optional[float]) -> List[dict]:
    """Per (mask, sparsity, comparison) with pairs: the engine's interval, and Holm's corrected
    interval and verdict within the comparison's family of non-degenerate cells."""
    apart = {key for key, flag in degenerate.items() if flag}
    return [dict(entry, degenerate=(entry["mask"], entry["sparsity"]) in apart) for arm, baseline in comparisons(tricks)
            for entry in family_results(rows, arm, baseline, apart, resolution)]


def pooled_family(cells: Sequence[dict], masks: Sequence[str], name: str, resolution: Optional[float]) -> List[dict]:
    """One comparison type (`name`, as `label` spells it), per sparsity of `cells`: the mean of
    the per-mask mean differences over `masks` less degenerate cells, its t-interval over masks,
    Holm across the sparsities."""
    family = []
    for sparsity in sorted({c["sparsity"] for c in cells}):
        used = [c for c in cells if c["comparison"] == name and c["sparsity"] == sparsity
                and c["mask"] in masks and not c["degenerate"]]
        if not used:
            continue
        means = [statistics.fmean(c["differences"]) for c in used]
        family.append((sparsity, sorted(c["mask"] for c in used),
                       paired_verdict(means, f"{sparsity:g}: {name}", unit="masks", resolution=resolution)))
    found = []
    for (sparsity, used, raw), corrected in zip(family, holm.correct([v for *_, v in family])):
        entry = {"sparsity": sparsity, "comparison": name, "masks": used, "mean": raw.mean, "low": raw.low,
                 "high": raw.high, "method": POOLED_METHOD}
        found.append(with_correction(entry, corrected, raw))
    return found


def pooled_results(cells: Sequence[dict], masks: Sequence[str], resolution: Optional[float]) -> List[dict]:
    """Per sparsity and recipe comparison, `tost` first: `pooled_family` of each."""
    return [entry for arm, baseline in RECIPE_COMPARISONS
            for entry in pooled_family(cells, masks, label(arm, baseline), resolution)]


def reanalyse(rows: Sequence[dict], degeneracy: Dict[Tuple[str, float], dict], masks: Sequence[str],
              tricks: Sequence[str], resolution: Optional[float]) -> Dict[str, list]:
    degenerate = {key: cell["degenerate"] for key, cell in degeneracy.items()}
    cells = cell_results(rows, degenerate, tricks, resolution)
    return {"cells": cells, "pooled": pooled_results(cells, masks, resolution)}
