"""The addendum report's sections as markdown, from the numbers `study.addendum_report` computed:
progress, the rules as read from the plan, the cells analysed and pending, degenerate cells, the
first study's re-analysis of the same cells beside, the machines and the parameter counts."""
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from . import tables
from .addendum_answer import HEADLINE_ITEMS
from .addendum_cells import ADDENDUM, FIRST
from .reanalysis_report import degenerate_lines
from .runs import read_record
from .stats import parameter_table


def _shown(comparison: str) -> str:
    return comparison.replace(" - ", " − ")


def _hours(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def progress_parts(items: Sequence[dict], curves: Sequence[dict], running: Sequence[dict]) -> List[str]:
    body = [[str(i["item"]), i["what"], f"{i['finished']} / {i['planned']}", _hours(i["cpu_hours_recorded"]),
             _hours(i["cpu_hours_modelled_for_finished"]), _hours(i["cpu_hours_planned"]),
             "cut by the budget" if i["cut"] else "done" if i["finished"] == i["planned"] else "to run"]
            for i in items]
    parts = [tables.markdown(["item", "what", "runs finished / planned", "CPU-hours recorded (finished runs)",
                              "CPU-hours the plan's cost model gives those runs", "CPU-hours planned (item)",
                              "state"], body),
             "\nCPU-hours recorded: each finished run's wall-clock `seconds` times its torch threads, lottery rounds "
             "included (`study.runs.run_cpu_seconds`, the measure the plan's cost was built from); the records hold "
             "no process CPU time. A run that was paused counts its pause (`PLAN.md`'s procedure notes record which "
             "runs were stopped, SIGSTOP, and for how long), and one slowed by other work sharing the machine's cores "
             "counts the wait. The column beside gives what the plan's cost model (`cost.json`: the "
             "first study's measured seconds per arm, sparsity and kind) assigns to the same finished runs, which no "
             "pause inflates; the last is the plan's figure for the whole item.\n"]
    parts.append(to_go(items))
    if running:
        parts.append("\nStarted, not finished (epochs recorded of planned; not counted above): " + ", ".join(
            f"`{run['run']}` ({run['epochs_done']} of {run['epochs'] or '?'})" for run in running) + ".\n")
    for curve in curves:
        regime = curve["regime"]
        chosen = (f"its regime chosen: {regime.get('train_examples')} images x {regime.get('epochs')} epochs"
                  if regime else "its regime not chosen yet")
        stops = curve["cpu_hours_planned_if_the_rule_stops_at"]
        planned = (f" (planned, `cost.json`: from {_hours(min(stops.values()))} CPU-hours if the rule stops at its "
                   f"first budget to {_hours(max(stops.values()))} if no budget passes)" if stops else "")
        parts.append(f"\nThe {curve['network']}'s learning curves (item 7, run before its grid): "
                     f"{curve['curves_finished']} finished, {_hours(curve['cpu_hours_recorded'])} CPU-hours recorded"
                     f"{planned}; {chosen}.\n")
    return parts


def to_go(items: Sequence[dict], headline_items: Sequence[int] = HEADLINE_ITEMS, side_by_side: int = 2) -> str:
    """What is left of the headline and of the whole plan, in the cost model's CPU-hours and as a
    projection at the pace the finished runs kept (recorded / modelled): a planning figure for the
    sessions to come, never an input to the analysis."""
    kept = [item for item in items if not item["cut"]]
    finished = [item for item in kept if item["finished"] and item["cpu_hours_modelled_for_finished"]]
    pace = (sum(i["cpu_hours_recorded"] for i in finished) / sum(i["cpu_hours_modelled_for_finished"] for i in finished)
            if finished else None)

    def left(group: List[dict], label: str) -> Optional[str]:
        runs = sum(i["planned"] - i["finished"] for i in group)
        hours = [i["cpu_hours_modelled_to_run"] for i in group if i["planned"] > i["finished"]]
        if not runs:
            return f"{label}: every run has finished"
        if None in hours:
            return f"{label}: {runs} runs (the cost model cannot price all of them)"
        modelled = sum(hours)
        projected = (f"; at the pace the finished runs kept ({pace:.2f}x the model: the cores shared, pauses), about "
                     f"{modelled * pace:.1f} CPU-hours, {modelled * pace / side_by_side:.1f} wall-clock hours with "
                     f"{side_by_side} runs side by side" if pace else "")
        return f"{label}: {runs} runs, {modelled:.1f} CPU-hours by the plan's cost model{projected}"

    headline = [item for item in kept if item["item"] in headline_items]
    lines = [left(headline, "the headline (items " + ", ".join(map(str, headline_items)) + ")"),
             left(kept, "every item the budget keeps (a second network's grid priced as the plan's cost table prices it, "
                        "at the ResNet's regime; its learning curves not counted: the rule decides how far they go)")]
    return ("\nLeft to run (a planning figure for the sessions to come, not part of the analysis):\n"
            + "".join(f"- {line}.\n" for line in lines if line))


def rules(resolution: Optional[float]) -> str:
    floor = f"{resolution:.4g}" if resolution else "none (the test set's size could not be read from the runs)"
    return f"""As the first study's re-analysis (`../study-converged/REANALYSIS.md`), by its own functions
(`study.reanalysis`, `study.holm`, `sparsekit.report.verdict.paired_verdict`; the spread's floor, one test image:
{floor}). Where `PLAN.md` leaves a point open, this report chose as follows (written before any cell of the
addendum was complete: see the history of `study/addendum_text.py`):

- **Which runs pair.** A cell is (network, mask label, sparsity). Where the first study ran the same mask label
  at the same sparsity, its runs (seeds 0-2, the items its budget kept) pair with the addendum's: item 3's
  `structure` with the first study's `default`, `tost`, `tost-release` and `capacity` of the same seed; item 5's
  seeds 3-5 join seeds 0-2 of the same cells (6 pairs), as the plan says. Seeds 3-5 ran later, possibly on
  another CPU (the table of machines below names them). Items 4 and 7 stand alone.
- **Complete or pending.** A cell's comparison is analysed only when both arms of every planned pair have
  finished (`structure − default` on SNIP 98% waits for all six seeds); until then it is listed as pending,
  never tested on partial seeds.
- **The first study's own comparisons are not tested again.** Where every planned run of a comparison is the
  first study's (the four recipe comparisons in item 3's 99.5% cells and random 98%, which the addendum adds no
  run to), it is the first study's re-analysis result, shown beside, and stays out of the addendum's Holm
  families (one measurement, one corrected verdict). Its per-mask mean still enters a pooled line below when
  that line has an addendum cell.
- **Holm families** (rule 2): per network and comparison type, over the complete cells the addendum tests, less
  degenerate ones. While cells are pending the families are smaller than they will be: a corrected interval
  here is provisional until its family is complete (the family size is shown).
- **Pooled lines** (rule 3: one mean per mask, a t-interval over masks), per network, sparsity and comparison,
  analysed once all of its cells are complete; Holm across the sparsities of a comparison within a network. On
  the ResNet they are over the first study's headline masks (random, SNIP, SynFlow, lottery ticket, less
  degenerate cells): `random-densefirst` departs from the release's setting (the first convolution kept dense)
  and is reported cell by cell, not pooled; on the VGG-16 over its three masks.
- **Items 6 and 8** have two seeds (fewer than a test needs): descriptive, as the plan says (below).
- The release prunes the first layer (`PLAN.md`, item 4: its lottery and other pruning scripts mask every
  `nn.Conv2d`), so `random-densefirst` (item 4) is a departure from the release, made to see past a mask that
  disconnects the input.
"""


def _by_network(entries: Sequence[dict]) -> Dict[str, List[dict]]:
    found: Dict[str, List[dict]] = {}
    for entry in entries:
        found.setdefault(entry["network"], []).append(entry)
    return found


def _pending_table(pending: Sequence[dict]) -> str:
    cells: Dict[tuple, List[dict]] = {}
    for entry in pending:
        cells.setdefault((entry["mask"], entry["sparsity"]), []).append(entry)
    body = []
    for (mask, sparsity), entries in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        missing = sorted({run for e in entries for run in e["missing"]})
        pairs = sorted({e["pairs_planned"] for e in entries})
        items = sorted({item for e in entries for item in e["items"]})
        body.append([mask, f"{sparsity:g}", ", ".join(_shown(e["comparison"]) for e in entries),
                     "–".join(map(str, (pairs[0], pairs[-1]) if len(pairs) > 1 else pairs)),
                     ", ".join(map(str, items)), str(len(missing)),
                     ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")])
    return tables.markdown(["mask", "sparsity", "comparisons waiting", "pairs planned", "items", "runs missing",
                            "e.g."], body)


def cell_parts(found: Dict[str, list]) -> List[str]:
    cells, pooled = _by_network(found["cells"]), _by_network(found["pooled"])
    pending, pooled_pending = _by_network(found["pending"]), _by_network(found["pooled_pending"])
    parts = []
    for network in dict.fromkeys(list(cells) + list(pending)):
        mine = cells.get(network, [])
        kept = [c for c in mine if not c["degenerate"]]
        apart = [c for c in mine if c["degenerate"]]
        parts += [f"\n## {network}: cells whose planned seeds have all finished\n",
                  "Family-wise level 0.05 per comparison type; the corrected interval is the engine's t-interval at "
                  "confidence 1 − 0.05 · p / p_Holm (it excludes 0 exactly when Holm rejects; not a simultaneous "
                  "coverage interval).\n",
                  tables.reanalysis_cell_table(kept) if kept else "No complete cell yet.\n"]
        if apart:
            parts += ["\nDegenerate cells, out of every family and pooled line (uncorrected):\n",
                      tables.reanalysis_cell_table(apart, corrected=False)]
        parts += [f"\n### {network}: pooled per sparsity (one mean per mask, t over masks)\n",
                  tables.pooled_table(pooled[network]) if pooled.get(network) else "No pooled line complete yet.\n"]
        if pooled_pending.get(network):
            parts.append("\nPooled lines pending: " + "; ".join(
                f"{_shown(p['comparison'])} at {p['sparsity']:g} (waiting for {', '.join(p['waiting_for'])})"
                for p in pooled_pending[network]) + ".\n")
        parts += [f"\n### {network}: cells pending (not analysed)\n",
                  _pending_table(pending[network]) if pending.get(network) else "None.\n"]
    return parts


def degenerate_part(degeneracy: Dict, apart: Sequence) -> str:
    judged = sum(len(cell["seeds"]) for cell in degeneracy.values())
    lines = degenerate_lines(degeneracy, [])
    return (f"Judged from the default runs' mask files of both studies in the addendum's cells ({judged} masks so "
            f"far; a cell's masks are judged as its default runs finish). " +
            ("\n\n" + "\n".join(lines) + "\n" if lines else "No degenerate cell among them.\n")
            + ("" if any(cell["degenerate"] for cell in degeneracy.values()) or not lines
               else "\nNo degenerate cell among them.\n"))


def beside_part(first_answer: dict, comparisons) -> str:
    """The first study's re-analysis (its answer.json: seeds 0-2, its own Holm families) of the
    comparisons the addendum does not test again, in the addendum's cells."""
    own = {(c.mask, c.sparsity, c.comparison) for c in comparisons if not c.addendum}
    cells = [c for c in first_answer.get("cells", []) if (c["mask"], c["sparsity"], c["comparison"]) in own]
    if not cells:
        return "None.\n"
    return ("From `../study-converged/answer.json` (not recomputed here; its Holm families are the first study's): "
            "the comparisons whose runs are all the first study's.\n\n" + tables.reanalysis_cell_table(cells))


def machines_part(first: Path, results: Path, rows: Sequence[dict]) -> str:
    """Per study, the CPUs its finished runs in these cells name (each record names its own)."""
    found: Dict[str, Counter] = {}
    for row in rows:
        record = read_record((first if row["source"] == FIRST else results) / "runs" / row["run"]) or {}
        environment = record.get("environment") or {}
        cpu = (environment.get("cpu") or {}).get("model") or "not recorded"
        found.setdefault(row["source"], Counter())[f"{cpu}, {environment.get('cpu_capability') or 'n/a'}"] += 1
    body = [[source, machine, str(count)] for source in (FIRST, ADDENDUM) for machine, count in
            sorted(found.get(source, {}).items())]
    return tables.markdown(["study", "CPU, capability (from the record)", "finished runs"], body) if body else \
        "No finished run yet.\n"


def parameters_part(rows: Sequence[dict]) -> str:
    return ("From each record's `parameters_at_start` → `parameters`. `structure`'s masked kept count is the "
            "default mask plus the centre taps `tost-release`'s folded ghost skip branches make non-zero (computed by "
            "the export's own fold, `sparsekit.export.structure_mask`): the next section counts the folded "
            "`tost-release` network beside it.\n\n" + tables.parameters_table(parameter_table(rows)))


def fold_part(table: str) -> str:
    return ("Each structure mask's kept weights beside the non-zero convolution weights of the network "
            "`tost-release` exports with the cell's default mask (`study.addendum_fold`): the export's own fold "
            "(`sparsekit.export`) of a freshly built `tost-release` network whose every parameter and BatchNorm "
            "statistic is drawn at random, so a folded weight is zero only where the mask zeroes it (the trained "
            "weights are not committed; the count is the structure's whatever the values). Equal counts: the "
            "structure control runs at `tost-release`'s inference cost.\n\n" + table)


