"""What the addendum's `plan.json` (benchmarks/results/study-addendum/) decides, as pure functions
of the plan: its runs item by item, the settings each run trains with, and which run's mask a
run needs. The runner (`python -m study.addendum`) reads these; the first study's rule and names
(`study.plan`) are reused, not restated.

A run is named as in the first study, `<mask>-<sparsity>-seed<seed>-<arm>`, where `<mask>` is
one of the plan's mask labels (a mask method plus what it changes: `random-densefirst` keeps the
first convolution dense, `vgg16-snip` is SNIP on the VGG-16) and `<arm>` one of its arms.
"""
import json
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

from sparsekit.core.errors import SparsekitError

from .plan import lottery_mask_options, run_name, warmup_epochs

ADDENDUM_FORMAT = "sparsekit.study-addendum-plan/1"
# Arms whose mask is computed from their cell's default run (by the runner) rather than given.
DERIVED_MASKS = ("capacity", "structure")


class Cell(NamedTuple):
    item: int
    mask: str  # a label of plan["masks"]
    sparsity: float
    seed: int
    arm: str  # a label of plan["arms"]

    @property
    def name(self) -> str:
        return run_name(self.mask, self.sparsity, self.seed, self.arm)

    @property
    def default_name(self) -> str:
        return run_name(self.mask, self.sparsity, self.seed, "default")


def read_addendum(directory) -> dict:
    """The folder's addendum plan, checked: every item names masks and arms the plan defines."""
    path = Path(directory) / "plan.json"
    try:
        plan = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SparsekitError(f"{path}: cannot read the addendum's plan ({exc})") from None
    if plan.get("format") != ADDENDUM_FORMAT:
        raise SparsekitError(f"{path}: not an addendum plan (format {plan.get('format')!r}, "
                             f"expected {ADDENDUM_FORMAT!r})")
    for item, spec in plan["items"].items():
        unknown = ([m for m in spec["masks"] if m not in plan["masks"]]
                   + [a for a in spec["arms"] if a not in plan["arms"]])
        if unknown:
            raise SparsekitError(f"{path}: item {item} names {unknown[0]!r}, which the plan's masks and arms lack")
    missing = [item for item in plan["order"] if str(item) not in plan["items"]]
    if missing or sorted(plan["order"]) != sorted(int(i) for i in plan["items"]):
        raise SparsekitError(f"{path}: 'order' must list every item once (items {sorted(plan['items'])})")
    return plan


def cells(plan: dict) -> Dict[int, List[Cell]]:
    """item -> its runs, in the plan's order of items; within an item by mask, sparsity, seed, arm."""
    out = {}
    for item in plan["order"]:
        spec = plan["items"][str(item)]
        excluded = {(mask, float(sparsity)) for mask, sparsity in spec.get("exclude", [])}
        out[item] = [Cell(item, mask, sparsity, seed, arm) for mask in spec["masks"] for sparsity in spec["sparsities"]
                     if (mask, float(sparsity)) not in excluded for seed in spec["seeds"] for arm in spec["arms"]]
    return out


def items_to_run(plan: dict) -> List[int]:
    """The plan's items in its order, less those its budget cut (from the bottom)."""
    cut = (plan.get("budget") or {}).get("cut_items") or []
    return [item for item in plan["order"] if item not in cut]


def network_of(plan: dict, mask: str) -> str:
    return plan["masks"][mask].get("network", plan["default_network"])


def network_settings(plan: dict, mask: str) -> dict:
    """The settings of the network a mask label trains (model and width)."""
    return dict(plan["networks"][network_of(plan, mask)]["settings"])


def own_defaults(plan: dict) -> set:
    """Names of the default runs the addendum trains itself; every other default run a cell
    needs is the first study's."""
    return {cell.name for item_cells in cells(plan).values() for cell in item_cells if cell.arm == "default"}


def default_run_dir(plan: dict, cell: Cell, results: Path) -> Path:
    """Where the cell's default run is: the addendum's own, or the first study's."""
    if cell.default_name in own_defaults(plan):
        return results / "runs" / cell.default_name
    return (results / plan["first_study"]).resolve() / "runs" / cell.default_name


def base_settings(plan: dict, cell: Cell, regime: dict) -> dict:
    """The settings every arm of a cell shares: the study's fixed settings, the network, the
    regime (the first study's for the ResNet, the network's own for another), the mask."""
    mask = dict(plan["masks"][cell.mask])
    mask.pop("network", None)
    method = mask.pop("mask")
    settings = dict(plan["fixed"], **network_settings(plan, cell.mask), train_examples=regime["train_examples"],
                    epochs=regime["epochs"], warmup_epochs=regime["warmup_epochs"], mask=method,
                    sparsity=cell.sparsity, seed=cell.seed, **mask)
    if method == "lottery":
        settings["mask_options"] = lottery_mask_options(plan["lottery_options"], regime["epochs"])
    return settings


def arm_settings(plan: dict, cell: Cell, regime: dict, rule: dict) -> dict:
    """A run's settings before any derived mask: the base, the arm's recipe and its changes
    (`epochs_factor` trains for that many times the epochs, the warm-up by the plan's rule)."""
    arm = dict(plan["arms"][cell.arm])
    for not_a_setting in ("mask", "cost_as"):  # read by the runner and the cost, not by training
        arm.pop(not_a_setting, None)
    factor = arm.pop("epochs_factor", None)
    settings = dict(base_settings(plan, cell, regime), **arm)
    if factor:
        settings["epochs"] = regime["epochs"] * factor
        settings["warmup_epochs"] = warmup_epochs(settings["epochs"], rule) if regime["warmup_epochs"] else 0.0
    return settings


def derived_mask(plan: dict, cell: Cell) -> Optional[str]:
    """"capacity" or "structure" for an arm whose mask is derived from its default run's, else None."""
    kind = plan["arms"][cell.arm].get("mask")
    if kind is not None and kind not in DERIVED_MASKS:
        raise SparsekitError(f"plan.json: arm {cell.arm!r} has mask {kind!r}; derived masks are {DERIVED_MASKS}")
    return kind
