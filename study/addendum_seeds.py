"""The metric of every run the addendum's cells pair, seed by seed: the numbers each paired
difference is computed from, so that a reader sees a run that did not train at all (on
Fashion-MNIST's ten balanced test classes, 0.1000 is one class predicted for every image) instead
of only a wide interval. Descriptive: no verdict is drawn here."""
from statistics import mean
from typing import Dict, List, Sequence, Tuple

from .addendum_cells import ADDENDUM, FIRST, CellComparison
from .plan import run_name

ARM_ORDER = ("default", "tost", "tost-release", "capacity", "structure")
STUDY_NAMES = {FIRST: "first study", ADDENDUM: "addendum"}

Cell = Tuple[str, str, float]  # (network, mask, sparsity)


def planned_sources(comparisons: Sequence[CellComparison]) -> Dict[Cell, Dict[str, Dict[int, str]]]:
    """{cell: {arm: {seed: source}}} of every run a comparison pairs, in the comparisons' order."""
    found: Dict[Cell, Dict[str, Dict[int, str]]] = {}
    for c in comparisons:
        arms = found.setdefault((c.network, c.mask, c.sparsity), {})
        for seed, (arm_source, baseline_source) in c.sources.items():
            arms.setdefault(c.arm, {})[seed] = arm_source
            arms.setdefault(c.baseline, {})[seed] = baseline_source
    return found


def seed_rows(comparisons: Sequence[CellComparison], rows: Dict[Tuple[str, str], dict]) -> List[dict]:
    """One row per cell and arm with at least one finished run: each planned seed's metric (None
    while it runs or waits), its mean once every planned seed has finished, and which study ran
    which seeds. `rows`: {(source, run name): finished row}."""
    found = []
    for (network, mask, sparsity), arms in planned_sources(comparisons).items():
        for arm in sorted(arms, key=lambda a: (ARM_ORDER.index(a) if a in ARM_ORDER else len(ARM_ORDER), a)):
            by_seed = {seed: rows.get((source, run_name(mask, sparsity, seed, arm)))
                       for seed, source in sorted(arms[arm].items())}
            values = {seed: row["accuracy"] if row else None for seed, row in by_seed.items()}
            if all(v is None for v in values.values()):
                continue
            complete = all(v is not None for v in values.values())
            found.append({"network": network, "mask": mask, "sparsity": sparsity, "arm": arm, "values": values,
                          "mean": mean(values.values()) if complete else None,
                          "ran": _ran(arms[arm])})
    return found


def _ran(sources: Dict[int, str]) -> str:
    """'first study 0-2, addendum 3-5': which study's records hold which seeds."""
    groups: Dict[str, List[int]] = {}
    for seed, source in sorted(sources.items()):
        groups.setdefault(source, []).append(seed)
    return ", ".join(f"{STUDY_NAMES.get(source, source)} {_seed_span(seeds)}" for source, seeds in groups.items())


def _seed_span(seeds: List[int]) -> str:
    contiguous = seeds == list(range(seeds[0], seeds[-1] + 1))
    return f"{seeds[0]}-{seeds[-1]}" if contiguous and len(seeds) > 2 else ", ".join(map(str, seeds))


def seed_table(found: List[dict]) -> str:
    if not found:
        return "No run of the addendum's cells has finished yet.\n"
    seeds = sorted({seed for row in found for seed in row["values"]})
    head = ["network", "mask", "sparsity", "arm", *(f"seed {s}" for s in seeds), "mean", "records"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in found:
        cells = [_shown(row["values"], seed) for seed in seeds]
        mean_shown = f"{row['mean']:.4f}" if row["mean"] is not None else "pending"
        lines.append(f"| {row['network']} | {row['mask']} | {row['sparsity']:g} | {row['arm']} | "
                     + " | ".join(cells) + f" | {mean_shown} | {row['ran']} |")
    return "\n".join(lines) + "\n"


def _shown(values: Dict[int, float], seed: int) -> str:
    if seed not in values:
        return ""  # not planned in this cell
    return "·" if values[seed] is None else f"{values[seed]:.4f}"


def seeds_part(comparisons: Sequence[CellComparison], rows: Dict[Tuple[str, str], dict], metric: str) -> str:
    return (f"`{metric}` of each run the cells' comparisons pair, by seed (· : planned, not finished; blank: not "
            "planned in that cell), one row per cell and arm with a finished run. These are the values the paired differences above are taken from; a cell's "
            "mean is shown once all its planned seeds have finished. On Fashion-MNIST's ten balanced test "
            "classes 0.1000 is chance: a run at 0.1000 predicts one class for every image, and a cell with one "
            "such run makes every difference taken against it large and the cell's interval wide. Descriptive only: no rule of the plan reads this "
            "table.\n\n" + seed_table(seed_rows(comparisons, rows)))
