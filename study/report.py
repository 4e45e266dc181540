"""The report of a recipe study folder, from its run records: report.md, rows.json and the figures.

    python -m study.report benchmarks/results/study-converged   # the pre-registered study
    python -m study.report benchmarks/results/study-fashion     # the earlier short schedule, labelled

The converged study (see `study.runs`) is reported as its PLAN.md's "Analysis" section asks:
per cell mean ± std of the metric and of the BatchNorm-re-estimated diagnostic, paired
differences against `default` (and `tost-release − capacity`) with their verdicts, the
headline pooled per sparsity over the headline masks, trained parameter counts, the learning
curves, the state of the grid (what ran, what is missing) and the plan's recorded deviations.
An earlier short-schedule study gets the same tables under a label that says so, never mixed
with the converged study's. Run from the repository root; prints the report.
"""
import json
import sys
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from sparsekit.core.errors import SparsekitError
from sparsekit.training.run_dir import check_location
from . import curves as study_curves, figures as study_figures, reanalysis_report, tables
from .answer import write_answer
from .folder_command import run_on_folder
from .plan import check_plan_shape, cut_items, items, plan_section, read_plan, rung_order, run_name
from .runs import (CONVERGED, DIAGNOSTIC, METRIC, collect, curves, default_records, read_json, read_record,
                         seconds_spent, study_layout, test_accuracies, test_set_size)
from .stats import CAPACITY, RELEASE, cell_comparisons, parameter_table, pooled

# The plan's own analysis, kept as it was and labelled: the re-analysis (REANALYSIS.md) leads.
FIRST_ANALYSIS = " (first analysis: uncorrected, (mask, seed) pairs pooled as independent)"
HEADLINE_ARMS = (("tost", "default"), (RELEASE, "default"), (RELEASE, CAPACITY))
DEVIATIONS = "Changes after results were seen"


def write_study_report(directory, out=None, metric: Optional[str] = None) -> str:
    """Write the study's report into `out` (default: the study folder); returns its markdown."""
    directory = Path(directory)
    layout = study_layout(directory)
    if layout is None:
        raise SparsekitError(f"{directory} is not a study folder (plan.json of a study, and runs/)")
    plan = read_plan(directory)
    check_plan_shape(plan, layout, directory)  # checked before anything is written
    out = Path(out or directory)
    check_location(out, "report out")
    if metric is not None and not isinstance(metric, str):
        raise SparsekitError(f"metric must be the name of a record's accuracy, got {metric!r}")
    if layout == CONVERGED:
        cut_items(plan)  # a cut naming no item of the plan is refused before anything is written
    metric = metric or plan.get("metric") or METRIC
    rows, unfinished = collect(directory, metric)
    if not rows and any((read_record(directory / "runs" / name) or {}).get("finished") for name in unfinished):
        # finished runs, none recording the metric: a typo in --metric (or the plan's), not a study in progress
        raise SparsekitError(f"{directory}: no finished run records {metric!r}; choose a metric their record.json "
                             f"holds (e.g. {METRIC})")
    out.mkdir(parents=True, exist_ok=True)
    size = test_set_size(test_accuracies(directory))
    resolution = 1 / size if size else None
    content = None
    try:
        if layout == CONVERGED:
            text, content = _converged(directory, plan, rows, unfinished, out, metric, resolution)
        else:
            text = _short(directory, plan, rows, unfinished, out, metric, resolution)
    except KeyError as missing:  # a plan or record without a field the report reads: nothing is written
        raise SparsekitError(f"{directory}: {missing} is missing from plan.json or a run's record; "
                             f"cannot report the study") from None
    (out / "report.md").write_text(text)
    (out / "rows.json").write_text(json.dumps(rows, indent=1))
    if content is not None:
        write_answer(out, content)
    return text


def _arms(ordered: Sequence[str], rows: Sequence[dict]) -> List[str]:
    """The arms in the plan's order, then any other arm that ran."""
    found = list(dict.fromkeys(r["arm"] for r in rows))
    return list(ordered) + sorted(a for a in found if a not in ordered)


def _headline(rows, masks, arms, resolution):
    pairs = [(arm, base) for arm, base in HEADLINE_ARMS if arm in arms and base in arms]
    return {(sparsity, f"{arm} − {base}"): pooled(rows, masks, sparsity, arm, base, resolution)
            for sparsity in sorted({r["sparsity"] for r in rows}) for arm, base in pairs}


def _rule_text(resolution: Optional[float]) -> str:
    floor = (f"a spread below the test set's resolution ({resolution:.4g}, read from the runs' accuracies) is "
             f"raised to it" if resolution else "no floor on the spread")
    return ("Paired differences are arm − baseline per seed (same mask, same initialisation); the 95% interval is "
            f"Student's t with n − 1 degrees of freedom (`sparsekit.report.verdict.paired_verdict`); {floor}. "
            "better: the interval lies above 0; worse: below; no measurable difference: it contains 0; "
            "fewer than the rule's minimum of pairs: too few seeds to tell. No correction for multiple comparisons.")


def _common(rows, arms, tricks, masks, metric, resolution, out: Path, title: str, figure: str,
            first: str = "") -> List[str]:
    """The tables both layouts share, each under `title` (which names the regime); `first` labels
    the statistics of the plan's first analysis where a re-analysis supersedes them."""
    comparisons = cell_comparisons(rows, arms, resolution)
    recipe_arms = [a for a in arms if a not in tricks]
    headline = _headline(rows, masks, arms, resolution)
    parts = [f"## {title}: accuracy per cell\n", f"{metric}: the metric; {DIAGNOSTIC}: the diagnostic "
             "(n/a where the runs did not record it). Mean ± standard deviation over seeds.\n",
             tables.cell_table(rows, arms, metric, DIAGNOSTIC) if rows else "No finished runs yet.\n",
             f"\n## {title}: paired differences{first}\n", _rule_text(resolution) + "\n",
             tables.comparison_table(comparisons, recipe_arms)]
    if any(c["arm"] in tricks for c in comparisons):
        parts += [f"\n## {title}: each trick alone − default{first}\n", tables.comparison_table(comparisons, tricks)]
    parts += [f"\n## {title}: headline, pooled per sparsity over masks {', '.join(masks)}{first}\n",
              "Each (mask, seed) is one pair." + (" ![headline differences](headline.png)" if rows else "") + "\n",
              tables.headline_table(headline), f"\n## {title}: verdict{first}\n",
              "\n".join(tables.verdict_lines(comparisons, headline) or ["No paired runs yet."]) + "\n",
              f"\n## {title}: trained parameters per arm\n",
              "From each record's `parameters_at_start` → `parameters` (at the end); ghost branches annealed "
              "away show as `N → 0`; a range where seeds differ.\n", tables.parameters_table(parameter_table(rows))]
    if rows:
        study_figures.headline_figure(headline, comparisons, out / "headline.png", title)
        study_figures.accuracy_figure(rows, recipe_arms, out / figure, f"{metric}\n(mean ± std over seeds)")
        parts.insert(1, f"![accuracy per mask and arm]({figure})\n")
    return parts


def _converged(directory: Path, plan, rows, unfinished, out: Path, metric, resolution) -> Tuple[str, dict]:
    regime = read_json(directory / "regime.json")
    reanalysis, content = reanalysis_report.section(directory, plan, rows, resolution, out)
    grid = plan["grid"]
    tricks = list(grid["tricks_alone"]["arms"])
    arms = _arms(list(grid["arms"]) + tricks, rows)
    parts = ["# Does the recipe help? The converged study\n", f"{plan.get('question', '')}\n",
             "Pre-registered in `PLAN.md` / `plan.json` before any run; this report is generated from the records "
             "alone (`python -m study.report DIR`).\n", *reanalysis,
             "\n## Budget\n", *_regime_lines(regime, directory, cut_items(plan)),
             "\n## Learning curves and the regime\n", *_curve_parts(plan, directory, regime, out),
             "\n## What has run\n", *_progress(plan, rows, unfinished)]
    parts += _common(rows, arms, tricks, list(grid["headline_masks"]), metric, resolution, out, "Converged study",
                     "accuracy.png", FIRST_ANALYSIS)
    parts += ["\n## Deviations from the plan\n", _deviations(directory)]
    return "\n".join(parts), content


def _regime_lines(regime: Optional[dict], directory: Path, cut: List[int]) -> List[str]:
    lines = [f"CPU-hours spent so far (each run's recorded seconds times its torch threads, summed: grid, "
             f"learning curves, cost runs, lottery rounds): {seconds_spent(directory) / 3600:.2f}.\n"]
    if regime is None:
        return ["No `regime.json` yet: the convergence rule has not chosen the regime.\n"] + lines
    warmup = regime.get("warmup_epochs")
    warm = f", linear warm-up over {warmup:g} epochs" if warmup else ", no warm-up"
    lines.insert(0, f"Regime chosen by the rule: {regime['train_examples']} training images × {regime['epochs']} "
                    f"epochs{warm} (budget `{regime.get('chosen_from')}`).\n")
    cost = regime.get("cost") or {}
    if "cpu_hours_total" in cost:
        per_item = cost.get("cpu_hours_per_item", {})
        lines.insert(1, f"Planned grid: {cost['cpu_hours_total']} CPU-hours (per item: "
                        f"{', '.join(f'{k}: {v}' for k, v in per_item.items())}).\n")
        if cut:
            kept = [k for k in per_item if int(k) not in cut]
            lines.insert(2, f"Cut by the budget (`PLAN.md`, Budget): item(s) {', '.join(map(str, cut))}. The study "
                            f"runs items {', '.join(kept)}: {round(sum(per_item[k] for k in kept), 2)} CPU-hours.\n")
    return lines


def _curve_parts(plan, directory: Path, regime, out: Path) -> List[str]:
    found = curves(directory)
    if not found:
        return ["No learning curves yet.\n"]
    study_figures.curves_figure(found, rung_order(plan), out / "curves.png")
    rule = plan["convergence"]
    parts = [f"Rule: a run has converged when its validation accuracy over the last {rule['window_fraction']:.0%} of "
             f"its epochs moves by less than {rule['max_change']}; a budget is chosen when all its curve runs have "
             f"converged{_more_training_rule(rule)}. ![learning curves](curves.png)\n",
             "\n".join(study_curves.rung_summaries(plan, found, regime)) + "\n",
             tables.markdown(["budget", "run", "epochs", "final val acc", "window (epochs)", "spread", "converged",
                              "collapsed"], study_curves.curve_rows(plan, found))]
    checked = study_curves.grid_convergence(plan, default_records(directory))
    if checked:
        parts += ["\nThe plain arm of each grid cell, by the same rule (the lottery ticket is checked only here):\n",
                  tables.markdown(["mask", "sparsity", "seeds", "converged", "largest spread"], checked)]
    reasons = study_curves.regime_reasons(regime)
    if reasons:
        parts += ["\nHow the rule chose the regime (`regime.json`):\n", "\n".join(reasons) + "\n"]
    else:
        parts += [f"\nWhere the rule stands on these curves: {study_curves.rule_walk(plan, found)}.\n"]
    return parts


def _more_training_rule(rule: dict) -> str:
    check = rule.get("more_training")
    if not check:
        return ""
    return (f" and {check['epochs_factor']}x its epochs raise the curves' mean final validation accuracy by less "
            f"than {check['max_gain']}")


def _progress(plan, rows, unfinished) -> List[str]:
    done = {r["run"] for r in rows}
    lines, missing, cut = [], [], cut_items(plan)
    for item, cells in items(plan).items():
        names = [run_name(*cell) for cell in cells]
        if item in cut:
            lines.append(f"- item {item}: cut by the budget ({sum(n in done for n in names)} of {len(names)} runs "
                         f"finished)")
            continue
        lines.append(f"- item {item}: {sum(n in done for n in names)} of {len(names)} runs finished")
        missing += [n for n in names if n not in done and n not in unfinished]
    text = "\n".join(lines) + "\n"
    if unfinished:
        text += f"\nStarted, not finished: {', '.join(unfinished)}.\n"
    if missing:
        shown = ", ".join(missing[:24]) + (f" and {len(missing) - 24} more" if len(missing) > 24 else "")
        text += f"\nNot run yet ({len(missing)}): {shown}. Tables below report what exists.\n"
    return [text]


def _deviations(directory: Path) -> str:
    try:
        section = plan_section((directory / "PLAN.md").read_text(), DEVIATIONS)
    except OSError:
        return "No PLAN.md beside the records: deviations cannot be read.\n"
    return (section or f"PLAN.md has no section \"{DEVIATIONS}\".") + "\n"


def _short(directory: Path, plan, rows, unfinished, out: Path, metric, resolution) -> str:
    regime = _short_regime(directory, rows)
    title = "Short schedule"
    tricks = [a for a in plan["recipes"] if a not in ("default", "tost", RELEASE)]
    arms = _arms(list(plan["recipes"]), rows)
    masks = sorted({r["mask"] for r in rows})
    parts = [f"# Short-schedule result: {directory.name}\n",
             f"**Every table here is from an earlier short schedule ({regime}), chosen before the convergence "
             "rule existed; plain training was not shown to have converged in it. It is kept as a record of that "
             "regime only: it is not the converged study (`../study-converged/`) and none of its runs enter that "
             "study's tables.**\n",
             f"{len(rows)} finished runs" + (f"; not finished: {', '.join(unfinished)}" if unfinished else "") + ".\n"]
    parts += _common(rows, arms, tricks, masks, metric, resolution, out, title, "study.png")
    return "\n".join(parts)


def _short_regime(directory: Path, rows) -> str:
    """E epochs of N images, batch B, S optimizer steps: read from one finished run's record."""
    first = next((r["run"] for r in rows), None)
    record = read_record(directory / "runs" / first) if first else None
    if record is None:
        return "a few epochs"
    config = record["config"]
    epochs, examples, batch = len(record["epochs"]), config.get("train_examples"), config.get("batch_size")
    steps = f", {epochs * -(-examples // batch)} optimizer steps per run" if examples and batch else ""
    return f"{epochs} epochs of {examples} training images, batch {batch}{steps}"



def main(argv=None) -> int:
    return run_on_folder("study.report", write_study_report, argv)


if __name__ == "__main__":
    sys.exit(main())
