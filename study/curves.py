"""The learning curves of a pre-registered study, judged by its own convergence rule
(`study.plan.converged`): per budget tried, each curve's window, spread and verdict; the plain
arm of every grid cell checked by the same rule; and how the rule walked the budgets."""
from typing import Dict, List, Optional

from .plan import choose_regime, collapsed, converged, curve_runs, rung_name, rung_order, window


def curve_rows(plan: dict, found: Dict[str, Dict[str, dict]]) -> List[List[str]]:
    """[budget, run, epochs, final val acc, window, spread, converged, collapsed] per curve run
    of every budget tried (planned runs not finished yet say so)."""
    rule = plan["convergence"]
    order = rung_order(plan)
    rows = []
    for rung in sorted(found, key=lambda name: order.index(name) if name in order else len(order)):
        names = [name for name, *_ in curve_runs(plan)]
        names += sorted(set(found[rung]) - set(names))
        for name in names:
            record = found[rung].get(name)
            if record is None or not record.get("finished") or not record.get("epochs"):
                done = len((record or {}).get("epochs", []))
                planned = (record or {}).get("config", {}).get("epochs", "?")
                state = f"running (epoch {done} of {planned})" if record else "not started"
                rows.append([rung, name, str(done) if record else "", "", "", "", state, ""])
                continue
            ok, spread = converged(record, rule)
            first, last = window(len(record["epochs"]), rule["window_fraction"])
            rows.append([rung, name, str(len(record["epochs"])), f"{record['epochs'][-1]['val_acc']:.4f}",
                         f"{first}–{last}", f"{spread:.4f}", "yes" if ok else "no",
                         "yes" if collapsed(record, rule) else "no"])
    return rows


def rung_summaries(plan: dict, found: Dict[str, Dict[str, dict]], regime: Optional[dict]) -> List[str]:
    """One sentence per budget tried: how many of its planned runs finished and converged."""
    rule, planned = plan["convergence"], [name for name, *_ in curve_runs(plan)]
    lines = []
    for rung in [r for r in rung_order(plan) if r in found]:
        records = [found[rung].get(name) for name in planned]
        done = [r for r in records if r and r.get("finished") and r.get("epochs")]
        ok = sum(converged(r, rule)[0] for r in done)
        fell = sum(collapsed(r, rule) for r in done)
        chosen = " — the study's regime (regime.json)" if regime and regime.get("chosen_from") == rung else ""
        lines.append(f"- `{rung}`: {len(done)} of {len(planned)} curve runs finished, {ok} converged "
                     f"(window spread < {rule['max_change']}), {fell} collapsed{chosen}.")
    return lines


def grid_convergence(plan: dict, defaults: Dict[tuple, List[dict]]) -> List[List[str]]:
    """[mask, sparsity, seeds, converged, largest spread] of the plain arm of each grid cell, by
    the same rule as the curves (the lottery ticket is checked only here, as the plan says)."""
    rule = plan["convergence"]
    rows = []
    for (mask, sparsity), records in sorted(defaults.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        judged = [converged(record, rule) for record in records]
        rows.append([mask, f"{sparsity:g}", str(len(judged)), f"{sum(ok for ok, _ in judged)} of {len(judged)}",
                     f"{max(spread for _, spread in judged):.4f}"])
    return rows


def regime_reasons(regime: Optional[dict]) -> List[str]:
    """How the rule walked the budgets (from regime.json): each budget judged and why it was
    passed over or chosen, and the more-training check's gain at the chosen one."""
    if not regime or not regime.get("why"):
        return []
    lines = [f"- {reason}" for reason in regime["why"]]
    if "more_training_gain" in regime:
        lines.append(f"- twice the epochs at the chosen budget changed the mean final validation accuracy by "
                     f"{regime['more_training_gain']:+.4f}")
    if regime.get("met_rule") is False:
        lines.append("- plain training did not meet the rule at any budget: the study's regime is not converged by it")
    return lines


def rule_walk(plan: dict, found: Dict[str, Dict[str, dict]]) -> str:
    """Where the rule stands on the curves found, in one line: each budget judged and why, then
    the budget it waits for or the one it chose (the runner's `choose`, read from the records)."""
    names = [name for name, *_ in curve_runs(plan)]

    def records_of(examples: int, epochs: int, warmup: bool):
        runs = found.get(rung_name(examples, epochs, warmup), {})
        return [runs[name] if name in runs and runs[name].get("finished") else None for name in names]

    return choose_regime(plan, records_of)[1]
