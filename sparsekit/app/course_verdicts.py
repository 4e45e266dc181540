"""The verdicts section of `notebooks/README.md`, written from the measurements in
`runtimes.json`: a full run timed by `python -m sparsekit.app.runtimes --full` keeps, beside its
seconds, the claim and verdicts its notebook wrote (its RESULTS_PATH file), so the page shows
what the notebooks print at their defaults, with the date, machine and thread setting of the run,
and cannot fall behind a notebook that changed: the next measurement rewrites it."""
from typing import Dict, List, Optional

from ..core.marked_block import MarkedBlock

START = "<!-- the notebooks' verdicts: written by `python -m sparsekit.app.runtimes --full` from runtimes.json; do not edit -->"
END = "<!-- end of the notebooks' verdicts -->"
VERDICTS = MarkedBlock(START, END, "verdicts")
KEPT = ("claim", "requested_sparsity", "verdicts")  # what a full measurement keeps of its notebook's result


def kept_of(result: Optional[dict]) -> dict:
    """The fields of a notebook's result file a measurement keeps ({} for a notebook without a claim)."""
    if not isinstance(result, dict) or not result.get("verdicts"):
        return {}
    return {key: result[key] for key in KEPT if key in result}


def _verdict_list(verdicts) -> List[dict]:
    """A notebook's verdicts as one list (notebook 14 groups them by recipe)."""
    if isinstance(verdicts, dict):
        return [v for group in verdicts.values() for v in group]
    return list(verdicts)


def _line(verdict: dict) -> str:
    if verdict.get("low") is None:
        return f"  - {verdict['label']}: **{verdict['verdict']}** ({verdict.get('reason') or 'no interval'})"
    unit = "seed" if verdict.get("unit") == "seeds" else "pair"
    by = ", ".join(f"{d:+.4f}" for d in verdict["differences"])
    return (f"  - {verdict['label']}: **{verdict['verdict']}** (mean {verdict['mean']:+.4f}, 95% interval "
            f"[{verdict['low']:+.4f}, {verdict['high']:+.4f}]; by {unit}: {by})")


def section(measured: Dict[str, Dict[str, dict]], threads_text) -> str:
    """The block between the markers, from `runtimes.load`'s content."""
    lines = [START]
    for name, modes in measured.items():
        full = modes.get("full", {})
        if not full.get("verdicts"):
            continue
        lines.append(f"- `{name}` (sparsity {full.get('requested_sparsity', '?')}; measured {full['date']}, "
                     f"{full['cpu']}, {threads_text(full)}): claim: {full.get('claim', '')}.")
        lines += [_line(v) for v in _verdict_list(full["verdicts"])]
    if len(lines) == 1:
        lines.append("No full run with verdicts has been measured yet.")
    return "\n".join(lines + [END])


# `current(text, path)`: the section as a page has it; `rewrite(path, block)`: True when the page changed.
current, rewrite = VERDICTS.current, VERDICTS.rewrite
