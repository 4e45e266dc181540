"""How the runs of one group (a point trained with several recipes, `axes`) train ONE mask.

- In this process without run folders: the group's mask is computed once, when its first
  run needs it (`MaskOnce`), and handed with the data to every recipe's run; the records
  keep `.model` and `.mask` and say the mask was `computed_once`.
- With run folders (any backend, resumable): two phases. Each group's first run computes its
  mask and saves `mask.pt`; the group's other runs then train from that file (`mask_file`).
  A group whose first run failed trains nothing more, and says why.

A mask that changes during training (gmp, set, rigl, or schedule "gmp") has no single mask
to hand on: each run of such a group starts from the same seeded draw on its own.
"""
import dataclasses
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ...runs import mask_sources
from ...training.config import make_config
from .spec import Point

MASK_FILE = "mask.pt"


def shares_mask(point: Point) -> bool:
    """Whether a point's mask is fixed before training, so other runs can train the same one."""
    return not mask_sources.changes_in_training(point.config())


def shared(group: List[Point]) -> bool:
    return len(group) > 1 and shares_mask(group[0])


class MaskOnce:
    """The group's mask and data, computed when first asked for (a skipped run asks nothing)."""

    def __init__(self, point: Point):
        self.point = point
        self._given: Optional[Dict] = None

    def __call__(self) -> Dict:
        if self._given is None:
            from ...runs import launch
            from ...sparsity import OneShot

            data, _, mask, source = launch.prepare(make_config(**self.point.settings, progress=False))
            # The mask goes in with where it came from, so every record says so.
            self._given = {"mask": OneShot.of(mask, dict(source, computed_once=True)), "data": data}
        return dict(self._given)


def in_phases(groups: List[List[Point]], out) -> Tuple[List[Point], List[Tuple[Point, Point]]]:
    """(the runs of phase one, [(a run of phase two, the run whose mask.pt it trains)]): the
    second phase's points carry `mask_file`, exactly as earlier versions named it."""
    first, second = [], []
    for group in groups:
        if not shared(group):
            first += group
            continue
        first.append(group[0])
        mask_file = str(Path(out) / group[0].name / MASK_FILE)
        second += [(dataclasses.replace(point, settings=dict(point.settings, mask_file=mask_file)), group[0])
                   for point in group[1:]]
    return first, second


def mask_missing(point: Point, source: Point, run_dir: str) -> Dict:
    """The outcome of a run whose group's mask was never saved."""
    return {"name": point.name, "dir": run_dir, "status": "failed", "record": None,
            "error": f"not trained: run {source.name!r}, which computes this run's mask, did not finish"}
