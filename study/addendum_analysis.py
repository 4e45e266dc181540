"""The addendum's analysis (`PLAN.md`, "Analysis"), computed by the first study's re-analysis
(`study.reanalysis`: the engine's paired interval, Holm per comparison type, pooled as one mean
per mask) on the cells of `study.addendum_cells` that are complete:

- per network and comparison type, Holm's family is the complete cells the addendum tests
  (degenerate cells and the first study's own comparisons out of it);
- per network, sparsity and comparison, a pooled line over the network's pool masks (less
  degenerate cells), analysed once every one of its cells is complete; Holm across the pooled
  lines of a comparison type within a network;
- degenerate cells (REANALYSIS.md, rule 1) judged from the default runs' mask files of both
  studies by `study.degenerate`.

    found = analyse(plan, first_plan, comparisons, rows, degeneracy, resolution)
    found["cells"], found["pending"], found["pooled"], found["pooled_pending"], found["degenerate"]
"""
from typing import Dict, List, Optional, Sequence, Tuple

from .addendum_cells import CellComparison, paired_rows, pool_masks
from .reanalysis import family_results, pooled_family

Key = Tuple[str, float]


def merged_degeneracy(*found: Dict[Key, dict]) -> Dict[Key, dict]:
    """`study.degenerate.cell_degeneracy` of several folders as one: a cell's seeds from each,
    degenerate when any seed's mask is cut."""
    merged: Dict[Key, dict] = {}
    for degeneracy in found:
        for key, cell in degeneracy.items():
            into = merged.setdefault(key, {"degenerate": False, "seeds": {}})
            into["seeds"].update(cell["seeds"])
            into["degenerate"] = into["degenerate"] or cell["degenerate"]
    return merged


def _describe(comparison: CellComparison) -> dict:
    seeds = {}
    for seed, pair in comparison.sources.items():
        seeds.setdefault(" and ".join(dict.fromkeys(pair)), []).append(seed)
    return {"network": comparison.network, "items": list(comparison.items),
            "seeds": {source: sorted(found) for source, found in seeds.items()}}


def _cells(comparisons: Sequence[CellComparison], rows: Dict[Tuple[str, str], dict], apart: set,
           resolution: Optional[float]) -> List[dict]:
    """Every complete comparison's entry (the first study's own ones too: the pooled lines use
    their per-mask means), Holm within (network, comparison type) over the addendum's tested cells."""
    found = []
    groups = dict.fromkeys((c.network, c.arm, c.baseline) for c in comparisons)
    for network, arm, baseline in groups:
        group = [c for c in comparisons if (c.network, c.arm, c.baseline) == (network, arm, baseline) and c.complete]
        if not group:
            continue
        by_key = {c.key: c for c in group}
        out_of_family = {c.key for c in group if c.key in apart or not c.addendum}
        paired = [row for c in group for row in paired_rows(c, rows)]
        for entry in family_results(paired, arm, baseline, out_of_family, resolution):
            comparison = by_key[(entry["mask"], entry["sparsity"])]
            found.append(dict(entry, degenerate=comparison.key in apart, tested=comparison.addendum,
                              **_describe(comparison)))
    return found


def _pending(comparison: CellComparison) -> dict:
    return {"network": comparison.network, "mask": comparison.mask, "sparsity": comparison.sparsity,
            "comparison": comparison.comparison, "pairs_planned": len(comparison.seeds),
            "items": list(comparison.items), "missing": list(comparison.missing)}


def _pooled(plan: dict, first_plan: dict, comparisons: Sequence[CellComparison], cells: Sequence[dict],
            apart: set, resolution: Optional[float]) -> Tuple[List[dict], List[dict]]:
    """(pooled lines analysed, pooled lines pending). A line is the addendum's when one of its
    cells is; it is analysed when all of its cells are complete."""
    found, pending = [], []
    for network in dict.fromkeys(c.network for c in comparisons):
        masks = pool_masks(plan, first_plan, network)
        for name in dict.fromkeys(c.comparison for c in comparisons):
            lines = {}
            for c in comparisons:
                if c.network == network and c.comparison == name and c.mask in masks and c.key not in apart:
                    lines.setdefault(c.sparsity, []).append(c)
            ready = []
            for sparsity, members in sorted(lines.items()):
                if not any(c.addendum for c in members):
                    continue  # the first study's own pooled line
                waiting = sorted(c.mask for c in members if not c.complete)
                if waiting:
                    pending.append({"network": network, "sparsity": sparsity, "comparison": name,
                                    "masks": sorted(c.mask for c in members), "waiting_for": waiting})
                else:
                    ready += [e for e in cells if e["network"] == network and e["comparison"] == name
                              and e["sparsity"] == sparsity and e["mask"] in masks]
            found += [dict(entry, network=network) for entry in pooled_family(ready, masks, name, resolution)]
    return found, pending


def analyse(plan: dict, first_plan: dict, comparisons: Sequence[CellComparison], rows: Dict[Tuple[str, str], dict],
            degeneracy: Dict[Key, dict], resolution: Optional[float]) -> Dict[str, list]:
    """The addendum's numbers: tested cells (and the degenerate ones apart), pending cells,
    pooled lines analysed and pending. `rows`: {(source, run name): row of a finished run}."""
    keys = {c.key for c in comparisons}
    apart = {key for key, cell in degeneracy.items() if cell["degenerate"] and key in keys}
    cells = _cells(comparisons, rows, apart, resolution)
    pooled, pooled_pending = _pooled(plan, first_plan, comparisons, cells, apart, resolution)
    return {"cells": [c for c in cells if c["tested"]],
            "pending": [_pending(c) for c in comparisons if not c.complete],
            "pooled": pooled, "pooled_pending": pooled_pending,
            "degenerate": sorted(apart, key=lambda k: (k[1], k[0]))}
