"""How many of each arm's kept weights a path from input to output uses (exploratory: added after
results were seen, `PLAN.md`, "Changes after results were seen"; no rule of the plan reads it).

For every (network, mask, sparsity, seed) with a `structure` arm and a finished `default` run,
counted by the engine's `sparsekit.analysis.effective_mask` (a kept weight is used when some
path of kept weights runs through it; the network's structure only, not its weights): the
default mask in the plain network and with the ghost branches `tost-release` keeps attached
(every spatial convolution after the first, alpha 1), the structure mask, and the capacity
arm's own mask. Means over the seeds whose files are in the folder.
"""
import statistics
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from . import tables
from .addendum_plan import cells, default_run_dir
from .degenerate import GEOMETRY, network_of, read_mask
from .runs import read_record

Counts = Dict[str, Tuple[int, int]]  # what -> (used, kept)


def _used(model, mask, shape) -> Optional[Tuple[int, int]]:
    from sparsekit.analysis import effective_mask

    found = effective_mask(model, mask, shape)
    return None if found is None else (found.num_kept(), sum(int(keep.sum()) for keep in mask.values()))


def _capacity_mask(plan: dict, results: Path, name: str) -> Optional[Path]:
    for folder in (results / "runs", (results / plan["first_study"]).resolve() / "runs"):
        if (folder / name / "mask.pt").is_file():
            return folder / name / "mask.pt"
    return None


def seed_counts(plan: dict, results: Path, cell) -> Optional[Counts]:
    """The counts of one structure cell's seed, or None while its default run has not finished."""
    from sparsekit.recipe.ghost_skip import GhostBranch, ghost_sites

    default_dir = default_run_dir(plan, cell, results)
    record = read_record(default_dir)
    if not (record or {}).get("finished") or not (default_dir / "mask.pt").is_file():
        return None
    shape = GEOMETRY[record["config"]["dataset"]]
    shape = (shape[0], shape[2], shape[2])
    mask, model = read_mask(default_dir / "mask.pt"), network_of(record)
    found: Counts = {"default": _used(model, mask, shape)}
    structure = results / "masks" / f"{cell.name}.pt"
    if structure.is_file():
        found["structure"] = _used(model, read_mask(structure), shape)
    capacity = _capacity_mask(plan, results, cell.name.replace("-structure", "-capacity"))
    if capacity is not None:
        found["capacity"] = _used(model, read_mask(capacity), shape)
    for site in ghost_sites(model):
        site.attach(GhostBranch(site.conv, 1.0).double())
    found["default, with the branches"] = _used(model, mask, shape)
    return {what: counts for what, counts in found.items() if counts is not None}


COLUMNS = ("default", "default, with the branches", "structure", "capacity")


def connectivity_rows(plan: dict, results: Path) -> List[dict]:
    """One row per (mask, sparsity): the seeds counted and, per column, mean used and mean kept."""
    by_cell: Dict[Tuple[str, float], List[Counts]] = {}
    for item_cells in cells(plan).values():
        for cell in item_cells:
            if cell.arm != "structure":
                continue
            counts = seed_counts(plan, results, cell)
            if counts is not None:
                by_cell.setdefault((cell.mask, cell.sparsity), []).append(counts)
    rows = []
    for (mask, sparsity), seeds in sorted(by_cell.items(), key=lambda item: (item[0][1], item[0][0])):
        row = {"mask": mask, "sparsity": sparsity, "seeds": len(seeds)}
        for column in COLUMNS:
            found = [seed[column] for seed in seeds if column in seed]
            row[column] = None if len(found) < len(seeds) else (statistics.fmean(u for u, _ in found),
                                                                statistics.fmean(k for _, k in found))
        rows.append(row)
    return rows


def _shown(value) -> str:
    return "·" if value is None else f"{value[0]:,.0f} of {value[1]:,.0f}"


def connectivity_part(rows: List[dict]) -> str:
    if not rows:
        return "No structure cell has a finished default run yet.\n"
    body = [[row["mask"], f"{row['sparsity']:g}", str(row["seeds"]), *(_shown(row[c]) for c in COLUMNS)] for row in rows]
    return ("Exploratory, added after results were seen (`PLAN.md`, \"Changes after results were seen\"); no rule "
            "reads it. Kept weights that some path from input to output uses, of those kept (means over the "
            "seeds counted), by `sparsekit.analysis.effective_mask`, which reads the network's structure only: "
            "a kept weight no path uses is pruned in effect. \"with the branches\": the default mask in the network "
            "`tost-release` trains, its dense ghost branches attached; the structure mask is the centre taps those "
            "branches leave once folded, so it keeps more weights.\n\n"
            + tables.markdown(["mask", "sparsity", "seeds", "default: used of kept", "default with the branches",
                               "structure", "capacity"], body)
            + "\n· : not counted (a seed's file is not in the folder).\n")
