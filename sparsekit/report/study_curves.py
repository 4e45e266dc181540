"""The learning curves of a pre-registered study, judged by its own convergence rule
(`study_plan.converged`): per budget tried, each curve's window, spread and verdict; the plain
arm of every grid cell checked by the same rule; and what the next budget up still gave."""
from typing import Dict, List, Optional

from .study_plan import collapsed, converged, curve_runs, rung_order, window


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


def next_budget(plan: dict, found: Dict[str, Dict[str, dict]], regime: Optional[dict]) -> List[str]:
    """The plan's "reported, not deciding" estimate: final validation accuracy of random and SNIP
    at 98%, seed 0, at the chosen budget and at the next one up, where both ran."""
    if not regime or regime.get("chosen_from") not in found:
        return []
    chosen = regime["chosen_from"]
    suffix = "-warmup" if chosen.endswith("-warmup") else ""
    plain = [r for r in rung_order(plan) if r.endswith("-warmup") == bool(suffix)]
    following = plain[plain.index(chosen) + 1] if chosen in plain and plain.index(chosen) + 1 < len(plain) else None
    lines = []
    for name in ("random-0.98-seed0", "snip-0.98-seed0"):
        here, there = found[chosen].get(name), (found.get(following) or {}).get(name)
        if here and there and here.get("finished") and there.get("finished"):
            a, b = here["epochs"][-1]["val_acc"], there["epochs"][-1]["val_acc"]
            lines.append(f"- {name}: final validation accuracy {a:.4f} at `{chosen}`, {b:.4f} at `{following}` "
                         f"({b - a:+.4f}).")
        else:
            lines.append(f"- {name}: the next budget up (`{following or 'none'}`) has not run; no estimate.")
    return lines
