"""The re-analysis's section of the converged study's report and its answer file, from the
records and the committed mask files (REANALYSIS.md states the rules)."""
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from . import figures, tables
from .answer import answer
from .degenerate import cell_degeneracy
from .plan import cut_items, items, run_name
from .reanalysis import reanalyse


def planned_and_finished(plan: dict, rows: Sequence[dict]) -> Tuple[int, int]:
    """Runs of the items the budget did not cut, and how many of them finished."""
    done = {row["run"] for row in rows}
    cut = cut_items(plan)
    names = [run_name(*cell) for item, cells in items(plan).items() if item not in cut for cell in cells]
    return len(names), sum(name in done for name in names)


def _why(judged: dict) -> str:
    empty = ", ".join(f"`{name}` keeps no weight" for name in judged["empty_must_pass"])
    return empty or "cut although every layer the input must pass through keeps a weight"


def degenerate_lines(degeneracy: Dict, cells: Sequence[dict]) -> List[str]:
    """A line per degenerate cell, with each cut seed and why; and a line per cell the
    pre-registered detection flagged although a path is left (`study.degenerate`), which stays in."""
    lines = []
    for (mask, sparsity), cell in sorted(degeneracy.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        seeds = sorted(cell["seeds"].items())
        if cell["degenerate"]:
            cut = ", ".join(f"seed {seed}: " + _why(judged) for seed, judged in seeds if judged["cut"])
            lines.append(f"- {mask} at {sparsity:g}: the masked network's output does not depend on its input ({cut}).")
        flagged = [seed for seed, judged in seeds if judged.get("cut_at_init") and not judged["cut"]]
        if flagged:
            which = ", ".join(f"seed {seed}" for seed in flagged)
            lines.append(f"- {mask} at {sparsity:g}, {which}: flagged by the pre-registered detection (the same output for "
                         "two random inputs at the judge's initialisation), but a path of kept weights joins the input "
                         "to the output, so by the rule it is not cut"
                         + ("" if cell["degenerate"] else " and the cell is analysed like the rest")
                         + " (the addendum's `PLAN.md`, \"Changes after results were seen\").")
    return lines


def section(directory: Path, plan: dict, rows: Sequence[dict], resolution: Optional[float],
            out: Path) -> Tuple[List[str], Dict]:
    """(markdown parts, answer.json content); the figure goes to `out`/verdict.png."""
    grid = plan["grid"]
    degeneracy = cell_degeneracy(directory)
    found = reanalyse(rows, degeneracy, list(grid["headline_masks"]), list(grid["tricks_alone"]["arms"]),
                      resolution)
    content = answer(found, *planned_and_finished(plan, rows))
    if found["pooled"]:
        figures.reanalysis_figure(found["pooled"], found["cells"], out / "verdict.png")
    kept = [c for c in found["cells"] if not c["degenerate"]]
    apart = [c for c in found["cells"] if c["degenerate"]]
    judged = sum(len(cell["seeds"]) for cell in degeneracy.values())
    parts = ["\n## Verdict (re-analysis: `REANALYSIS.md`, rules committed before they were applied)\n",
             content["sentence"] + "\n",
             "Differences are in test accuracy (a fraction: +0.0100 is one point). The first analysis further down "
             "is kept as it was: uncorrected, its pooled lines treating every (mask, seed) pair as independent.\n",
             "\n### Pooled per sparsity: one mean per mask, a t-interval over masks\n",
             "![the re-analysis: pooled differences with their corrected intervals](verdict.png)\n",
             tables.pooled_table(found["pooled"]),
             "\n### Cell by cell, Holm-corrected per comparison type across cells\n",
             "Family: one comparison type across the cells that are not degenerate; family-wise level 0.05. The "
             "corrected interval is the engine's paired t-interval at confidence 1 − 0.05 · p / p_Holm, which "
             "excludes 0 exactly when Holm rejects; it is not a simultaneous coverage interval.\n",
             tables.reanalysis_cell_table(kept),
             "\n### Degenerate cells, reported apart\n",
             f"Judged from the committed mask files ({judged} masks, `runs/*-default/mask.pt`): a cell is degenerate "
             "when a mask of one of its seeds cuts the input off from the output.\n",
             "\n".join(degenerate_lines(degeneracy, apart)) + "\n" if apart else "No degenerate cell.\n"]
    if apart:
        parts += ["\nTheir paired differences, uncorrected and out of every family and pooled line:\n",
                  tables.reanalysis_cell_table(apart, corrected=False)]
    parts += ["\n### How the cell verdicts changed from the first analysis\n",
              "\n".join(tables.verdict_changes(found["cells"])) + "\n",
              f"\nAnswer file: `answer.json` (format `{content['format']}`), written with this report: "
              f"{content['counts']['finished']} of {content['counts']['planned_after_cuts']} planned runs finished.\n"]
    return parts, content
