"""The addendum's cost in CPU-hours, item by item, from what was measured: the first study's
records (a run's wall seconds times its torch threads, lottery rounds included,
`study.runs.run_cpu_seconds`) for the arms it ran, and the plan's own timing of the VGG-16
(`networks.vgg16.cost_ratio`, one epoch each of the two networks, `study/vgg_width_timing.py`).

Each run of the addendum is costed as the mean of the first study's runs of the same kind: the
same arm (`cost_as` for an arm that computes like another: the structure control is plain
training of a mask, as `default` is), the same sparsity, and lottery or not (a lottery mask that
is computed, by the default and capacity arms, adds its rounds; every other arm trains the
default's mask file). More epochs multiply the cost; another network multiplies it by its ratio.
"""
from pathlib import Path
from statistics import mean
from typing import Dict, List, Tuple

from .addendum_plan import cells, derived_mask, network_of
from .plan import budgets, curve_runs, parse_run_name
from .runs import read_record, run_cpu_seconds

Key = Tuple[bool, float, str]  # (a lottery mask computed by this run, sparsity, arm)


def measured_seconds(first_study: Path) -> Dict[Key, List[float]]:
    """CPU-seconds of every finished run of the first study, by kind."""
    table: Dict[Key, List[float]] = {}
    for folder in sorted((first_study / "runs").iterdir()):
        parsed = parse_run_name(folder.name)
        record = read_record(folder)
        if parsed is None or parsed[3] is None or not (record or {}).get("finished"):
            continue
        mask, sparsity, _, arm = parsed
        computes_lottery = mask == "lottery" and arm in ("default", "capacity")
        table.setdefault((computes_lottery, sparsity, arm), []).append(run_cpu_seconds(folder))
    return table


def run_seconds(plan: dict, cell, table: Dict[Key, List[float]]) -> float:
    arm = plan["arms"][cell.arm]
    method = plan["masks"][cell.mask]["mask"]
    computes_lottery = method == "lottery" and (cell.arm == "default" or derived_mask(plan, cell) == "capacity")
    network = plan["networks"][network_of(plan, cell.mask)]
    key = (computes_lottery, cell.sparsity, arm.get("cost_as", cell.arm))
    return mean(table[key]) * arm.get("epochs_factor", 1) * network.get("cost_ratio", 1.0)


def curve_hours(plan: dict, network: str, regime: dict, default_seconds: float) -> Dict[str, float]:
    """CPU-hours of a network's learning curves if the rule stops at each budget in turn (that
    budget and its more-training check trained, with every budget tried before it): a budget
    costs its images x epochs relative to the first study's regime, at the network's ratio."""
    spec = plan["networks"][network]
    rule_plan = {"convergence": spec["convergence"]}
    per_curve = spec.get("cost_ratio", 1.0) * default_seconds / (regime["train_examples"] * regime["epochs"])
    factor = spec["convergence"]["more_training"]["epochs_factor"]
    order, trained, hours = budgets(rule_plan), [], {}
    for examples, epochs in spec["convergence"]["rungs"]:
        for budget in ((examples, epochs), (examples, epochs * factor)):
            if budget not in trained:
                trained.append(budget)
        seconds = len(curve_runs(rule_plan)) * per_curve * sum(n * e for n, e in trained)
        hours[f"{examples // 1000}k-x{epochs}"] = round(seconds / 3600, 2)
    assert set(trained) <= set(order)
    return hours


def cost_table(plan: dict, results: Path) -> dict:
    first = (results / plan["first_study"]).resolve()
    table = measured_seconds(first)
    from .runs import read_json

    regime = read_json(first / "regime.json")
    hours = {str(item): round(sum(run_seconds(plan, cell, table) for cell in item_cells) / 3600, 2)
             for item, item_cells in cells(plan).items()}
    runs = {str(item): len(item_cells) for item, item_cells in cells(plan).items()}
    default_098 = mean(table[(False, 0.98, "default")])
    curves = {network: curve_hours(plan, network, regime, default_098)
              for network, spec in plan["networks"].items() if spec.get("own_regime")}
    return {"runs_per_item": runs, "cpu_hours_per_item": hours, "curves_cpu_hours_if_the_rule_stops_at": curves,
            "seconds_per_arm_measured": {f"{'lottery-computed' if k[0] else 'mask'} {k[1]} {k[2]}":
                                         round(mean(v)) for k, v in sorted(table.items())},
            "note": "CPU-seconds are the first study's records (wall seconds x torch threads, lottery rounds "
                    "included), means over its runs of the same arm, sparsity and kind; those runs ran on several "
                    "CPUs (AVX2 and AVX512 machines), one torch thread each, two runs side by side"}
