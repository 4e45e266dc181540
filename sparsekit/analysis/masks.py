"""Looking at masks: what a pruning method actually chose.

- `layer_density_table(mask)`: kept / total / density per layer (the first thing to look at);
- `plot_layer_densities({name: mask})`: the same as grouped bars, to compare methods;
- `jaccard(a, b)`: overlap of two masks' kept weights, overall and per layer;
- `dead_units(model, mask)`: output channels / neurons left with no incoming weight;
- `collapsed_layers(mask)`: layers with no weight left at all (layer collapse cuts the network:
  nothing flows past it but biases and ghost branches);
- `summarize(model, mask)`: the dead units and collapsed layers in one dict, stored in every
  run record under "analysis".
"""
import warnings
from typing import Dict, List, Mapping, Optional

import torch
from torch import nn

from ..core.mask import Mask
from .mask_summary import MaskSummary


def layer_density_table(mask: Mapping[str, torch.Tensor]) -> List[dict]:
    """One row per masked layer: name, shape, kept, total, density, sparsity."""
    return [{**row, "sparsity": 1.0 - row["density"]} for row in Mask(mask).layer_table()]


def plot_layer_densities(masks_by_name: Mapping[str, Mapping[str, torch.Tensor]], ax=None):
    """Grouped bars of per-layer density, one colour per mask; returns the matplotlib Axes.

    Layers are taken from the first mask, in order; a mask lacking a layer shows no bar there.
    """
    import matplotlib.pyplot as plt  # here, so importing sparsekit never needs a display

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.5))
    if not masks_by_name:
        return ax
    layers = list(next(iter(masks_by_name.values())))
    width = 0.8 / len(masks_by_name)
    for index, (label, mask) in enumerate(masks_by_name.items()):
        positions = [i + (index - (len(masks_by_name) - 1) / 2) * width for i, name in enumerate(layers)
                     if name in mask]
        densities = [float(mask[name].float().mean()) for name in layers if name in mask]
        ax.bar(positions, densities, width=width, label=label)
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels([name.removesuffix(".weight") for name in layers], rotation=90, fontsize=7)
    ax.set_ylabel("density (fraction kept)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    return ax


def _overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    union = int((a | b).sum())
    return int((a & b).sum()) / union if union else 1.0  # two empty sets are identical


def jaccard(mask_a: Mapping[str, torch.Tensor], mask_b: Mapping[str, torch.Tensor]) -> dict:
    """|A and B| / |A or B| of the kept weights: {"overall": float, "layers": {name: float}}.

    Only layers present in both masks count; two masks keeping nothing in a layer agree (1.0).
    """
    common = [name for name in mask_a if name in mask_b]
    layers = {name: _overlap(mask_a[name].bool(), mask_b[name].bool()) for name in common}
    both = sum(int((mask_a[n].bool() & mask_b[n].bool()).sum()) for n in common)
    either = sum(int((mask_a[n].bool() | mask_b[n].bool()).sum()) for n in common)
    return {"overall": both / either if either else 1.0, "layers": layers}


def dead_units(model: nn.Module, mask: Mapping[str, torch.Tensor]) -> Dict[str, dict]:
    """Per masked layer: output channels (conv) or neurons (linear) whose incoming weights are
    all pruned. {name: {"dead": count, "units": total, "indices": [...]}}.

    Such a unit still outputs its bias / BatchNorm shift, but nothing from its input.
    """
    Mask(mask).check_matches(model)
    result = {}
    for name, keep in mask.items():
        incoming = keep.reshape(keep.shape[0], -1).sum(dim=1) if keep.dim() > 1 else keep.long()
        indices = torch.nonzero(incoming == 0).reshape(-1).tolist()
        result[name] = {"dead": len(indices), "units": int(keep.shape[0]), "indices": indices}
    return result


def collapsed_layers(mask: Mapping[str, torch.Tensor]) -> List[str]:
    """Masked layers with no kept weight at all."""
    return [name for name, keep in mask.items() if keep.numel() and not bool(keep.any())]


_UNSET = object()


def summarize(model: nn.Module, mask: Mapping[str, torch.Tensor], path_from_input_at_start=_UNSET,
              effective_density_at_start=_UNSET) -> MaskSummary:
    """{"dead_units": {layer: count}, "dead_units_total": int, "units_total": int,
    "collapsed_layers": [names]} — what goes into every run record; a notebook shows it as a table.
    A run adds "path_from_input_at_start": whether its starting mask left a path of kept weights
    from input to output, and "effective_density_at_start": the density of its kept weights that
    lie on such a path (`analysis.paths`; None where that could not be read)."""
    dead = dead_units(model, mask)
    summary = MaskSummary({"dead_units": {name: row["dead"] for name, row in dead.items()},
                           "dead_units_total": sum(row["dead"] for row in dead.values()),
                           "units_total": sum(row["units"] for row in dead.values()),
                           "collapsed_layers": collapsed_layers(mask)})
    if path_from_input_at_start is not _UNSET:
        summary["path_from_input_at_start"] = path_from_input_at_start
    if effective_density_at_start is not _UNSET:
        summary["effective_density_at_start"] = effective_density_at_start
    return summary


def collapse_advice(method: Optional[str]) -> str:
    """What to try against a collapse, for the method that produced it (advising SynFlow to
    someone whose SynFlow mask collapsed helps nobody)."""
    if method == "synflow":
        return ("SynFlow's known weak spot: at extreme sparsity it can empty a thin layer such as a ResNet "
                "shortcut conv. Lower the sparsity, use more rounds (mask_options='rounds=...'), or "
                "distribution='uniform'")
    if method == "lottery":
        return "Lower the sparsity, prune less per round, or use distribution='uniform'"
    return "Lower the sparsity, use distribution='uniform', or an iterative method (synflow)"


def warn_collapsed_layers(mask: Mapping[str, torch.Tensor], method: Optional[str] = None) -> None:
    """A warning naming every layer the mask empties (the network is cut there), with advice
    that fits `method` (the mask method's name, when known)."""
    collapsed = collapsed_layers(mask)
    if collapsed:
        warnings.warn(f"layer collapse: the mask keeps no weight in {len(collapsed)} layer(s) "
                      f"({', '.join(collapsed[:5])}{', ...' if len(collapsed) > 5 else ''}); no signal flows "
                      f"through them. {collapse_advice(method)}", RuntimeWarning, stacklevel=3)
