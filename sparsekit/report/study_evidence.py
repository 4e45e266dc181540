"""What the committed converged study says about some arms, for a notebook to show beside its
own small run: the regime, the accuracy of each cell, and the study's verdict on those arms as
its re-analysis gives it (Holm-corrected per comparison type, degenerate cells apart, pooled as
one mean per mask). Read from the study's committed files alone: `answer.json` (the verdicts,
format `sparsekit-study-answer/1`), the report's `rows.json` (one row per finished run) and
`regime.json`; never from the study's code (`study/`, outside the package), which writes them
(`python -m study.report DIR`).
"""
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..core import formats
from .seeded_rows import cell_table, markdown

BASELINE, RELEASE, CAPACITY = "default", "tost-release", "capacity"
METRIC, DIAGNOSTIC = "best_val_test_acc", "bn_reestimated_test_acc"
ANSWER_FILE = "answer.json"


def _read(path: Path) -> Optional[object]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_answer(path) -> Dict:
    """A study's answer file, checked to be one (one error line naming the format found)."""
    path = Path(path)
    data = _read(path)
    formats.check(data, "study answer", path)
    return data


def study_evidence(directory, arms: Sequence[str]) -> str:
    """Markdown: the study's regime, per (mask, sparsity) cell the metric of `default` and of
    each of `arms`, then the study's verdict on each arm against `default` (and
    `tost-release − capacity` when both are asked for): pooled lines first, then cell by cell
    with the uncorrected and the Holm-corrected interval, degenerate cells marked."""
    directory = Path(directory)
    rows, answer = _read(directory / "rows.json"), _read(directory / ANSWER_FILE)
    if not isinstance(rows, list) or not formats.is_kind(answer, "study answer"):
        return f"No converged study found in `{directory}`: there is no evidence to show here yet.\n"
    wanted = [BASELINE] + [arm for arm in arms if arm != BASELINE]
    rows = [row for row in rows if row["arm"] in wanted]
    names = [f"{arm} - {BASELINE}" for arm in wanted if arm != BASELINE]
    if RELEASE in arms and CAPACITY in arms:
        names.append(f"{RELEASE} - {CAPACITY}")
    counts = answer["counts"]
    parts = [_regime(directory), f"Finished runs of the study: {counts['finished']} of {counts['planned_after_cuts']} "
                                 f"planned; of these arms: {len(rows)}.\n"]
    if not rows:
        return "\n".join(parts + ["None of these arms has a finished run yet: the question stays open here.\n"])
    pooled = [p for p in answer["pooled"] if p["comparison"] in names]
    cells = [c for c in answer["cells"] if c["comparison"] in names]
    parts += [cell_table(rows, wanted, METRIC, DIAGNOSTIC)]
    if pooled:
        parts += ["\nPooled over masks (one mean per mask, t-interval over masks, Holm-corrected across "
                  "sparsities):\n", _pooled_table(pooled)]
    parts += ["\nCell by cell (paired by seed: same mask, same initialisation; Holm-corrected per comparison "
              "type across cells; a degenerate cell, whose input reaches no kept weight, is marked and kept out):\n",
              _cell_table(cells) if cells else "No paired runs yet.\n"]
    return "\n".join(parts)


def _span(low, high) -> str:
    return "—" if low is None else f"[{low:+.4f}, {high:+.4f}]"


def _shown(name: str) -> str:
    return name.replace(" - ", " − ")


def _pooled_table(pooled: List[dict]) -> str:
    body = [[f"{p['sparsity']:g}", _shown(p["comparison"]), f"{p['mean']:+.4f}", _span(p["low"], p["high"]),
             _span(p["corrected_low"], p["corrected_high"]), p["verdict"]] for p in pooled]
    return markdown(["sparsity", "comparison", "mean difference", "95% interval", "Holm-corrected", "verdict"], body)


def _cell_table(cells: List[dict]) -> str:
    body = [[c["mask"], f"{c['sparsity']:g}", _shown(c["comparison"]), str(c["pairs"]), f"{c['mean']:+.4f}",
             _span(c["low"], c["high"]), _span(c["corrected_low"], c["corrected_high"]),
             c["verdict"] + (" (degenerate: reported apart, uncorrected)" if c["degenerate"] else "")]
            for c in cells]
    return markdown(["mask", "sparsity", "comparison", "pairs", "mean difference", "95% interval", "Holm-corrected",
                     "verdict"], body)


def _regime(directory: Path) -> str:
    regime = _read(directory / "regime.json")
    if not isinstance(regime, dict):
        return "The study's regime has not been chosen yet (its learning curves are still running).\n"
    warmup = f", warm-up {regime['warmup_epochs']:g} epochs" if regime.get("warmup_epochs") else ""
    met = "" if regime.get("met_rule", True) else " (no budget met the convergence rule; the largest was used)"
    return (f"The converged study's regime: {regime['train_examples']} Fashion-MNIST training images × "
            f"{regime['epochs']} epochs{warmup}, chosen by its pre-registered rule{met}.\n")
