"""The structure-matched control's inference cost, shown rather than stated (PLAN.md, Analysis):
for every structure mask the addendum has written, the non-zero convolution weights of the
network `tost-release` exports with the cell's default mask, beside the structure mask's kept
count. Counted by the export's own fold of a freshly built `tost-release` network whose every
parameter and BatchNorm statistic is drawn at random, so that a folded weight is zero only
where the mask zeroes it and no ghost branch adds to it (trained weights are not committed, and
the count is the structure's, whatever the values)."""
import copy
from pathlib import Path
from typing import Dict, List

import torch
from torch import nn

from . import converged
from .addendum_plan import cells, default_run_dir, derived_mask

RELEASE = "tost-release"


def _randomised(model: nn.Module, seed: int = 0) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_var is not None:
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator))
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
    return model


def folded_counts(default_dir: Path, structure_path: Path) -> Dict[str, int]:
    """{"structure": the structure mask's kept weights, "release": the folded `tost-release`
    network's non-zero conv weights with the default mask, "taps": the centre taps its fold added}."""
    import sparsekit as sk
    from sparsekit.export import export
    from sparsekit.export.run_dir import network_arguments

    network = network_arguments(converged._read(default_dir))
    model = sk.models.build(network["model"], network["num_classes"], in_channels=network["in_channels"],
                            width=network["width"], input_size=network["input_size"])
    release = _randomised(sk.Recipe.preset(RELEASE).final_architecture(model))
    default = sk.Mask.load(default_dir / "mask.pt")
    net = export(release, default, input_shape=(network["in_channels"], network["input_size"], network["input_size"]),
                 kernels_mode="dense")
    masked = default.apply(copy.deepcopy(release))
    linear = sum(int((m.weight != 0).sum()) for m in masked.modules() if isinstance(m, nn.Linear))
    return {"structure": sk.Mask.load(structure_path).num_kept(),
            "release": net.report["nonzero_after_fold"] - linear,
            "taps": net.report["ghost_centre_taps_added"]}


def structure_rows(plan: dict, results: Path) -> List[dict]:
    """One row per structure mask written so far (the run it serves and the three counts)."""
    rows = []
    for cell in (cell for item in cells(plan).values() for cell in item):
        path = results / "masks" / f"{cell.name}.pt"
        if derived_mask(plan, cell) != "structure" or not path.is_file():
            continue
        rows.append(dict(run=cell.name, **folded_counts(default_run_dir(plan, cell, results), path)))
    return rows


def structure_table(rows: List[dict]) -> str:
    if not rows:
        return "No structure mask written yet.\n"
    lines = ["| structure run | structure mask: kept weights | `tost-release` with the default mask, folded: "
             "non-zero conv weights | centre taps its fold added | equal |", "|---|---|---|---|---|"]
    lines += [f"| {r['run']} | {r['structure']:,} | {r['release']:,} | {r['taps']:,} | "
              f"{'yes' if r['structure'] == r['release'] else '**no**'} |" for r in rows]
    return "\n".join(lines) + "\n"
