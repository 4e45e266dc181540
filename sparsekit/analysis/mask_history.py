"""How a mask moved during training (dynamic sparsity): one entry per change, and its plot.

`mask_change(before, after, step)` is what the trainer appends to the run record's
"mask_history" at every update that changes the mask:
- `step`: the optimizer step (0-based) whose update changed it;
- `density` (overall) and `layers` {name: density} after the change;
- `dropped`, `grown`: weights that left and joined the kept set;
- `changed_fraction`: dropped / kept before, the share of the kept weights replaced (or,
  for pruning, removed) at this update;
- `jaccard`: overlap of the kept sets before and after (`masks.jaccard`).
"""
from typing import Any, Dict, List, Mapping, Sequence, Union

import torch

from ..core.errors import SparsekitError
from .masks import jaccard


def mask_change(before: Mapping[str, torch.Tensor], after: Mapping[str, torch.Tensor], step: int) -> Dict[str, Any]:
    dropped = sum(int((before[n].bool() & ~after[n].bool()).sum()) for n in after)
    grown = sum(int((after[n].bool() & ~before[n].bool()).sum()) for n in after)
    kept_before = sum(int(before[n].sum()) for n in after)
    kept, total = sum(int(k.sum()) for k in after.values()), sum(k.numel() for k in after.values())
    return {"step": int(step), "density": kept / total if total else 1.0,
            "layers": {n: float(k.float().mean()) if k.numel() else 1.0 for n, k in after.items()},
            "dropped": dropped, "grown": grown,
            "changed_fraction": dropped / kept_before if kept_before else 0.0,
            "jaccard": jaccard(before, after)["overall"]}


def _entries(history: Union[Mapping, Sequence]) -> List[Mapping]:
    """A run record (its "mask_history") or the list itself."""
    return list(history.get("mask_history", [])) if isinstance(history, Mapping) else list(history)


def plot_mask_history(history: Union[Mapping, Sequence], ax=None, what: str = "change", label: str = "",
                      color=None):
    """Plot a run's mask history; returns the matplotlib Axes.

    what="change": changed fraction and Jaccard with the previous mask, per update;
    what="density": every layer's density (thin lines) and the overall density, per update.
    `color` draws one run in one colour (solid: changed fraction, dashed: Jaccard), so several
    runs share an axis. A run whose mask never changed draws nothing (and says so in the title).
    """
    import matplotlib.pyplot as plt  # here, so importing sparsekit never needs a display

    if what not in ("change", "density"):
        raise SparsekitError(f"what must be 'change' or 'density', got {what!r}")
    entries = _entries(history)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    steps = [entry["step"] for entry in entries]
    prefix = f"{label}: " if label else ""
    if what == "change":
        ax.plot(steps, [e["changed_fraction"] for e in entries], "o-", color=color,
                label=f"{prefix}fraction of kept changed")
        ax.plot(steps, [e["jaccard"] for e in entries], "s--", color=color, label=f"{prefix}Jaccard with previous mask")
        ax.set_ylabel("per update")
        ax.set_ylim(-0.02, 1.02)
    else:
        for name in (entries[0]["layers"] if entries else {}):
            ax.plot(steps, [e["layers"][name] for e in entries], lw=0.8, alpha=0.6)
        ax.plot(steps, [e["density"] for e in entries], "-", color=color or "k", lw=2.5,
                label=f"{prefix}overall density")
        ax.set_ylabel("density (fraction kept)")
        ax.set_ylim(0, 1.05)
    ax.set_xlabel("optimizer step of the update")
    if not entries:
        ax.set_title(f"{prefix}the mask never changed")
    if entries:
        ax.legend(fontsize=8)
    return ax
