"""The addendum's cells as its plan's "Analysis" section (`PLAN.md`) defines them: which paired
comparisons each (network, mask, sparsity) cell has, over which planned seeds, from which study's
runs, and whether every one of those runs has finished.

A cell continues the first study where the first study ran the same mask label at the same
sparsity (items 3 and 5: `structure` pairs with the first study's seeds 0-2, item 5's seeds 3-5
join them); its planned seeds of an arm are then the first study's (the items its budget kept)
and the addendum's together. A comparison is complete when both arms of every planned pair have
finished, and only then analysed: partial seeds are never tested. A comparison whose planned
runs are all the first study's (the four recipe comparisons of item 3's 99.5% and random 98%
cells) is the first study's re-analysis, not the addendum's: it is not tested again here.
"""
from typing import Dict, List, NamedTuple, Sequence, Set, Tuple

from .addendum_plan import cells as addendum_cells, items_to_run, network_of
from .plan import cut_items, items as first_items, run_name
from .reanalysis import RECIPE_COMPARISONS, label
from .stats import BASELINE, CAPACITY, RELEASE

FIRST, ADDENDUM = "first study", "addendum"
STRUCTURE = "structure"
# PLAN.md "Analysis": the first study's four comparisons (`tost` first), then the structure control's.
COMPARISONS = tuple(RECIPE_COMPARISONS) + ((STRUCTURE, BASELINE), (RELEASE, STRUCTURE), (CAPACITY, STRUCTURE))
# The items analysed cell by cell; 6 and 8 have two seeds, fewer than a test needs (PLAN.md): descriptive.
TESTED_ITEMS = (3, 4, 5, 7)

Planned = Dict[Tuple[str, float, str], Dict[int, Tuple[str, int]]]  # (mask, sparsity, arm) -> {seed: (source, item)}


class CellComparison(NamedTuple):
    network: str
    mask: str
    sparsity: float
    arm: str
    baseline: str
    seeds: Tuple[int, ...]  # the planned pairs
    sources: Dict[int, Tuple[str, str]]  # seed -> (source of the arm's run, source of the baseline's)
    items: Tuple[int, ...]  # the addendum's items with a run in these pairs
    missing: Tuple[str, ...]  # "<run> (<source>)" of the planned runs not finished

    @property
    def comparison(self) -> str:
        return label(self.arm, self.baseline)

    @property
    def key(self) -> Tuple[str, float]:
        return self.mask, self.sparsity

    @property
    def addendum(self) -> bool:
        """Whether any planned run of it is the addendum's (else it is the first study's alone)."""
        return any(ADDENDUM in pair for pair in self.sources.values())

    @property
    def complete(self) -> bool:
        return not self.missing


def planned_runs(plan: dict, first_plan: dict) -> Planned:
    """Every run the tested items (less the addendum's cuts) plan, and the first study's runs
    (less its cuts) of the same mask labels and sparsities on the first study's network."""
    planned: Planned = {}
    kept = [item for item in items_to_run(plan) if item in TESTED_ITEMS]
    for item in kept:
        for cell in addendum_cells(plan)[item]:
            planned.setdefault((cell.mask, cell.sparsity, cell.arm), {})[cell.seed] = (ADDENDUM, item)
    keys = {(mask, sparsity) for mask, sparsity, _ in planned
            if network_of(plan, mask) == plan["default_network"]}
    first_cut = cut_items(first_plan)
    for item, runs in first_items(first_plan).items():
        if item in first_cut:
            continue
        for mask, sparsity, seed, arm in runs:
            if (mask, sparsity) in keys:
                planned.setdefault((mask, sparsity, arm), {}).setdefault(seed, (FIRST, 0))
    return planned


def cell_comparisons(plan: dict, first_plan: dict, finished: Set[Tuple[str, str]]) -> List[CellComparison]:
    """Per (network, mask, sparsity) and comparison whose two arms are both planned: the pairs,
    their sources, what is missing. `finished`: {(source, run name)} of the finished runs."""
    planned = planned_runs(plan, first_plan)
    keys = sorted({(mask, sparsity) for mask, sparsity, _ in planned}, key=lambda k: (k[1], k[0]))
    found = []
    for arm, baseline in COMPARISONS:
        for mask, sparsity in keys:
            ran, base = planned.get((mask, sparsity, arm), {}), planned.get((mask, sparsity, baseline), {})
            seeds = tuple(sorted(set(ran) & set(base)))
            if not seeds:
                continue
            missing = tuple(f"{run_name(mask, sparsity, seed, which)} ({source[0]})"
                            for seed in seeds for which, source in ((arm, ran[seed]), (baseline, base[seed]))
                            if (source[0], run_name(mask, sparsity, seed, which)) not in finished)
            items = tuple(sorted({s[1] for seed in seeds for s in (ran[seed], base[seed]) if s[0] == ADDENDUM}))
            found.append(CellComparison(network_of(plan, mask), mask, sparsity, arm, baseline, seeds,
                                        {seed: (ran[seed][0], base[seed][0]) for seed in seeds}, items,
                                        missing))
    return found


def paired_rows(comparison: CellComparison, rows: Dict[Tuple[str, str], dict]) -> List[dict]:
    """The finished rows a complete comparison pairs: for each planned seed, the arm's and the
    baseline's run from the study its plan names. `rows`: {(source, run name): row}."""
    found = []
    for seed in comparison.seeds:
        for which, source in zip((comparison.arm, comparison.baseline), comparison.sources[seed]):
            found.append(rows[(source, run_name(comparison.mask, comparison.sparsity, seed, which))])
    return found


def pool_masks(plan: dict, first_plan: dict, network: str) -> Sequence[str]:
    """The masks a pooled line of `network` is over: on the first study's network, the first
    study's headline masks (the masks its pooled "any mask" claim was over; `random-densefirst`
    departs from the release's setting and is reported cell by cell); on another network, every
    mask the plan trains there."""
    if network == plan["default_network"]:
        return list(first_plan["grid"]["headline_masks"])
    return sorted({cell.mask for item_cells in addendum_cells(plan).values() for cell in item_cells
                   if network_of(plan, cell.mask) == network})
