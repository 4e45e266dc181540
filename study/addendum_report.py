"""The addendum's report, generated from its plan and whatever records exist, by the analysis its
`PLAN.md` committed ("Analysis"); rerun as runs finish (it trains nothing and takes seconds):

    python -m study.addendum_report benchmarks/results/study-addendum

Writes `report.md` and `answer.json` (format `sparsekit-study-addendum-answer/1`) into that
folder. The first study's records are read (never written) where a cell continues it.
"""
import sys
from pathlib import Path
from typing import Dict, NamedTuple, Tuple

from sparsekit.core import atomic
from sparsekit.core.errors import SparsekitError

from . import addendum_text as text
from .addendum_analysis import analyse, merged_degeneracy
from .addendum_answer import COMMAND, answer, write_answer
from .addendum_cells import ADDENDUM, COMPARISONS, FIRST, cell_comparisons
from .addendum_connectivity import connectivity_part, connectivity_rows
from .addendum_descriptive import descriptive_parts
from .addendum_figure import drawn, figure_part, write_figure
from .addendum_fold import structure_rows, structure_table
from .addendum_plan import read_addendum
from .addendum_progress import curve_progress, in_flight, progress
from .addendum_seeds import seeds_part
from .degenerate import cell_degeneracy
from .folder_command import run_on_folder
from .plan import PLAN_FORMAT, read_plan
from .runs import collect, read_json, test_accuracies, test_set_size


def first_study_plan(plan: dict, results: Path) -> Tuple[Path, dict]:
    first = (results / plan["first_study"]).resolve()
    found = read_plan(first)
    if not isinstance(found, dict) or found.get("format") != PLAN_FORMAT:
        raise SparsekitError(f"{first}: the addendum's first study (plan.json of format {PLAN_FORMAT}) is not there")
    return first, found


def finished_rows(first: Path, results: Path, metric: str) -> Dict[Tuple[str, str], dict]:
    """{(source, run name): row} of every finished run of both studies (`study.runs.collect`)."""
    rows = {}
    for source, folder in ((FIRST, first), (ADDENDUM, results)):
        for row in collect(folder, metric)[0]:
            rows[(source, row["run"])] = dict(row, source=source)
    return rows


class Report(NamedTuple):
    """Everything the command writes, computed before anything is written."""
    markdown: str  # report.md
    content: dict  # answer.json
    figure: dict  # what verdict.png draws (`study.addendum_figure.drawn`)


def build(results) -> Tuple[str, dict]:
    """(report.md's markdown, answer.json's content)."""
    return compose(results)[:2]


def compose(results) -> Report:
    results = Path(results)
    plan = read_addendum(results)
    first, first_plan = first_study_plan(plan, results)
    rows = finished_rows(first, results, plan["metric"])
    comparisons = cell_comparisons(plan, first_plan, set(rows))
    keys = {c.key for c in comparisons}
    degeneracy = {key: cell for key, cell in merged_degeneracy(cell_degeneracy(first), cell_degeneracy(results)).items()
                  if key in keys}
    size = test_set_size(test_accuracies(first) + test_accuracies(results))
    resolution = 1 / size if size else None
    found = analyse(plan, first_plan, comparisons, rows, degeneracy, resolution)
    items = progress(plan, results)
    content = answer(items, found)
    first_answer = read_json(first / "answer.json") or {}
    arms = {arm for pair in COMPARISONS for arm in pair}
    cell_rows = [row for row in rows.values() if (row["mask"], row["sparsity"]) in keys and row["arm"] in arms]
    figure = drawn(found["cells"], found["pooled"])
    parts = ["# The converged study's addendum (issue 52): report\n",
             f"Generated from `plan.json` and the finished records by `{COMMAND}` "
             f"({content['generated']}); do not edit: rerun it. Pre-registered in `PLAN.md` before any run.\n",
             f"**Where it stands.** {content['sentence']}\n",
             "\n## Progress\n", *text.progress_parts(items, curve_progress(plan, results), in_flight(results)),
             "\n## How the analysis reads the plan\n", text.rules(resolution),
             *text.cell_parts(found), figure_part(figure),
             "\n## Every paired run's metric, by seed\n", seeds_part(comparisons, rows, plan["metric"]),
             "\n## Degenerate cells (`REANALYSIS.md`, rule 1)\n",
             text.degenerate_part(degeneracy, found["degenerate"]),
             "\n## The first study's re-analysis of the same cells, beside\n",
             text.beside_part(first_answer, comparisons),
             "\n## Runs of both studies in these cells\n", text.machines_part(first, results, cell_rows),
             "\n## Parameters per arm\n", text.parameters_part(cell_rows),
             "\n## The structure control's inference cost, folded\n",
             text.fold_part(structure_table(structure_rows(plan, results))),
             "\n## Kept weights a path uses (exploratory)\n", connectivity_part(connectivity_rows(plan, results)),
             *descriptive_parts(plan, first, results, rows),
             f"\nAnswer file: `answer.json` (format `{content['format']}`), written with this report.\n"]
    return Report("\n".join(parts), content, figure)


def write_addendum_report(results) -> str:
    """Write report.md and answer.json into the addendum's folder; returns the markdown. Both are
    computed before either is written."""
    try:
        markdown, content, figure = compose(results)
    except KeyError as missing:  # a plan or record without a field the report reads: nothing is written
        raise SparsekitError(f"{results}: {missing} is missing from plan.json or a run's record; cannot report "
                             f"the addendum") from None
    atomic.write_text(markdown, Path(results) / "report.md")
    write_answer(results, content)
    write_figure(figure, Path(results))
    return markdown


def _write(folder: str) -> str:
    write_addendum_report(folder)
    answer_line = (read_json(Path(folder) / "answer.json") or {}).get("sentence", "")
    return f"{Path(folder) / 'report.md'} and answer.json written. {answer_line}"


def main(argv=None) -> int:
    return run_on_folder("study.addendum_report", _write, argv)


if __name__ == "__main__":
    sys.exit(main())
