"""The addendum to the converged study (issue 52): `results/study-addendum/PLAN.md`, run from its
`plan.json`, in the plan's order of items.

    python -m study.addendum run                  # every item the plan's budget keeps, in its order
    python -m study.addendum run --items 3 4 5    # only these items
    python -m study.addendum cost                 # the plan's CPU-hours, from the first study's records

Resumable as the first study's runner is: a finished run is read back, an interrupted one
resumes from its last checkpoint; one torch thread per run, `--workers` runs at a time, each run
trained as `sparsekit.sweep` trains a point and recorded in the same format, under
`runs/<mask>-<sparsity>-seed<seed>-<arm>`. A network with a regime of its own (the VGG-16)
first walks the first study's convergence rule over its own learning curves (`<network>/curves/`,
`<network>/regime.json`), then trains its cells. Run it from a frozen worktree, as the first.
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

from sparsekit.core.errors import SparsekitError

from . import converged
from .addendum_cost import cost_table
from .addendum_plan import (Cell, arm_settings, cells, default_run_dir, derived_mask, items_to_run, network_of,
                            network_settings, own_defaults, read_addendum)
from .plan import choose_regime

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "study-addendum"


def first_study(plan: dict, results: Path) -> Path:
    return (results / plan["first_study"]).resolve()


def regime_of(plan: dict, results: Path, network: str) -> Optional[dict]:
    """The regime a network trains at: the first study's for its network, else the one its own
    curves chose (None until they have)."""
    if plan["networks"][network].get("own_regime"):
        return converged._read_json(results / network / "regime.json")
    return converged._read_json(first_study(plan, results) / "regime.json")


def rule_plan(plan: dict, network: str) -> dict:
    """The first study's convergence rule applied to another network: the shape
    `study.plan.choose_regime` and the curve trainer read."""
    return {"fixed": dict(plan["fixed"], **plan["networks"][network]["settings"]),
            "convergence": plan["networks"][network]["convergence"]}


def choose_network_regime(plan: dict, results: Path, network: str, workers: int) -> Optional[dict]:
    """Train the network's learning curves budget by budget until the rule settles (resuming
    what exists), and write its regime.json."""
    sub = rule_plan(plan, network)
    regime, why = choose_regime(sub, converged.trained_curves(sub, results / network, workers,
                                                              plan["torch_threads_per_run"]))
    print(f"{network}: {why}", flush=True)
    if regime is None:
        return None
    return converged.write_regime(results / network, regime)


def ghost_weights(plan: dict, network: str) -> int:
    return converged.ghost_branch_weights({"fixed": network_settings_of(plan, network)})


def network_settings_of(plan: dict, network: str) -> dict:
    return dict(plan["fixed"], **plan["networks"][network]["settings"])


def structure_mask_file(default_dir: Path, cell: Cell, results: Path) -> Path:
    """The structure-matched mask of a cell, written once next to the runs (`masks/<run>.pt`)
    from its default run's mask and the network its record names."""
    import sparsekit as sk
    from sparsekit.export.run_dir import network_arguments
    from sparsekit.export.structure_mask import structure_matched_mask

    path = results / "masks" / f"{cell.name}.pt"
    if not path.is_file():
        network = network_arguments(converged._read(default_dir))
        model = sk.models.build(network["model"], network["num_classes"], in_channels=network["in_channels"],
                                width=network["width"], input_size=network["input_size"])
        path.parent.mkdir(parents=True, exist_ok=True)
        structure_matched_mask(model, sk.Mask.load(default_dir / "mask.pt"), "tost-release").save(path)
    return path


def point_of(plan: dict, cell: Cell, results: Path) -> Optional[dict]:
    """The settings of one run, or None while what it needs (its regime, its cell's default
    run) is not there yet."""
    network = network_of(plan, cell.mask)
    regime = regime_of(plan, results, network)
    if regime is None:
        return None
    rule = (plan["networks"][network].get("convergence")
            or converged.load_plan(first_study(plan, results))["convergence"])
    settings = arm_settings(plan, cell, regime, rule)
    if cell.arm == "default" and cell.name in own_defaults(plan):
        return settings
    default_dir = default_run_dir(plan, cell, results)
    default = converged._read(default_dir)
    if default is None or not default.get("finished"):
        return None
    kind = derived_mask(plan, cell)
    if kind == "capacity":
        return dict(settings, sparsity=round(converged.capacity_sparsity(default, ghost_weights(plan, network)), 6))
    if kind == "structure":
        import sparsekit as sk

        path = structure_mask_file(default_dir, cell, results)
        return dict(settings, mask_file=str(path), sparsity=round(sk.Mask.load(path).sparsity(), 6))
    return dict(settings, mask_file=str(default_dir / "mask.pt"))


def check_first_study(plan: dict, results: Path, chosen: List[int]) -> None:
    """Every default run of the first study a chosen item needs is there and finished, checked
    before anything trains (the addendum never trains the first study's runs)."""
    own = own_defaults(plan)
    for item in chosen:
        for cell in cells(plan)[item]:
            if cell.default_name in own:
                continue
            record = converged._read(default_run_dir(plan, cell, results))
            if record is None or not record.get("finished"):
                raise SparsekitError(f"item {item} needs the first study's finished run {cell.default_name} in "
                                     f"{first_study(plan, results) / 'runs'}")


def run(plan: dict, results: Path, chosen: List[int], workers: int) -> None:
    """The chosen items in the plan's order. Runs of consecutive items share one queue (a free
    core takes the first run whose needs are met); a network with its own regime first settles
    it from its curves, after the runs queued before it have trained."""
    queue: List[Cell] = []

    def train(queued: List[Cell]) -> None:
        if queued:
            by_name: Dict[str, Cell] = {cell.name: cell for cell in queued}
            converged.run_queue(list(by_name), lambda name: point_of(plan, by_name[name], results),
                                results / "runs", workers, plan["torch_threads_per_run"])

    for item in [item for item in plan["order"] if item in chosen]:
        item_cells = sorted(cells(plan)[item], key=lambda cell: cell.arm != "default")
        networks = {network_of(plan, cell.mask) for cell in item_cells}
        for network in sorted(networks):
            if plan["networks"][network].get("own_regime") and regime_of(plan, results, network) is None:
                train(queue)
                queue = []
                if choose_network_regime(plan, results, network, workers) is None:
                    print(f"item {item}: the {network}'s regime is not settled; its runs are not started", flush=True)
        queue += item_cells
    train(queue)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("run", "cost"))
    parser.add_argument("--results", default=str(RESULTS), help="the addendum's folder (plan.json is read there)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--items", type=int, nargs="*", default=None,
                        help="the items to train (default: every item the plan's budget did not cut)")
    args = parser.parse_args(argv)
    results = Path(args.results)
    try:  # everything checked before anything trains
        plan = read_addendum(results)
        chosen = items_to_run(plan) if args.items is None else args.items
        unknown = [item for item in chosen if item not in plan["order"]]
        if unknown:
            raise SparsekitError(f"--items {' '.join(map(str, unknown))}: the plan's items are {plan['order']}")
        if args.command == "cost":
            print(json.dumps(cost_table(plan, results), indent=1))
            return 0
        check_first_study(plan, results, chosen)
    except SparsekitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    run(plan, results, chosen, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
