"""`Mask`: parameter name -> boolean tensor (True = weight kept).

A mask is a plain mapping, as in open_lth: it knows how to describe itself (densities per
layer), check that it fits a model, apply itself, and round-trip through a file. Where it
came from (any pruning method, any checkpoint's zeros) does not matter to the trainer.
"""
import os
from pathlib import Path
from typing import List, Mapping

import torch
from torch import nn

from . import atomic, formats
from .errors import SparsekitError
from .prunable import prunable_parameters

FILE_FORMAT = formats.MASK  # a constant: see core/formats.py


class Mask(dict):
    """Parameter name -> bool tensor of the parameter's shape."""

    def __init__(self, entries: Mapping[str, torch.Tensor] = ()):
        super().__init__()
        if not isinstance(entries, (Mapping, tuple)):
            raise SparsekitError(f"a mask is a mapping of parameter name -> bool tensor, got {type(entries).__name__}")
        for name, keep in dict(entries).items():
            self[name] = _keep_tensor(name, keep)

    # ---- building -------------------------------------------------------------------
    @classmethod
    def dense(cls, model: nn.Module, prune_first_layer: bool = True, prune_classifier: bool = False) -> "Mask":
        """Every prunable weight kept: the mask of a dense network."""
        params = prunable_parameters(model, prune_first_layer, prune_classifier)
        return cls({name: torch.ones(p.shape, dtype=torch.bool) for name, p in params.items()})

    @classmethod
    def from_zeros(cls, state: Mapping[str, torch.Tensor], model: nn.Module,
                   prune_first_layer: bool = True, prune_classifier: bool = False) -> "Mask":
        """The mask of "any" sparse network: its exact zeros are the pruned weights.

        `state` is a state dict holding (at least) the model's prunable weights.
        """
        params = prunable_parameters(model, prune_first_layer, prune_classifier)
        missing = [name for name in params if name not in state]
        if missing:
            raise SparsekitError(f"checkpoint lacks weight {missing[0]!r} of the model ({len(missing)} missing)")
        # A deeper model's checkpoint holds every name of a shallower one: extra entries mean it is
        # not this model's. (Ghost branches kept all run are the recipe's extra layers: allowed, in
        # a kit unit's `ghosts` or, in any other network, under a BN's `sparsekit_ghosts`.)
        known = set(model.state_dict())
        extra = [name for name in state if name not in known
                 and not any(part in str(name) for part in (".ghosts.", ".sparsekit_ghosts."))]
        if extra:
            raise SparsekitError(f"checkpoint holds {extra[0]!r}, which the model does not have ({len(extra)} "
                                 f"such entries): it is a checkpoint of a larger or different model")
        mask = cls({name: torch.as_tensor(state[name]) != 0 for name in params})
        mask.check_matches(model)
        return mask

    @classmethod
    def from_file(cls, path, model: nn.Module, prune_first_layer: bool = True,
                  prune_classifier: bool = False) -> "Mask":
        """A saved sparsekit mask, or the zero pattern of any checkpoint file (a state dict,
        or a dict holding one under 'model', 'state_dict' or 'model_state')."""
        data = _load_file(path, "mask or checkpoint")
        if formats.is_kind(data, "mask"):
            mask = cls._from_saved(data, path)
            mask.check_covers(model, prune_first_layer, prune_classifier, path)
            return mask
        found = formats.found_format(data)
        if isinstance(found, str) and found.startswith("sparsekit.") and not formats.is_kind(data, "checkpoint"):
            # A sparsekit file, but no mask or checkpoint this version knows: say so rather than
            # reading it as a state dict that lacks every weight.
            raise SparsekitError(f"{path}: not a mask or checkpoint this sparsekit reads: its format is {found!r}; "
                                 f"it reads mask formats {', '.join(formats.READS['mask'])} and checkpoint formats "
                                 f"{', '.join(formats.READS['checkpoint'])}")
        for key in ("model", "state_dict", "model_state"):
            if isinstance(data, dict) and isinstance(data.get(key), dict):
                data = data[key]
                break
        if not isinstance(data, dict):
            raise SparsekitError(f"{path}: neither a mask nor a state dict (found {type(data).__name__})")
        return cls.from_zeros(data, model, prune_first_layer, prune_classifier)

    # ---- describing ------------------------------------------------------------------
    def num_kept(self) -> int:
        return int(sum(int(keep.sum()) for keep in self.values()))

    def num_total(self) -> int:
        return int(sum(keep.numel() for keep in self.values()))

    def density(self) -> float:
        total = self.num_total()
        return self.num_kept() / total if total else 1.0

    def sparsity(self) -> float:
        return 1.0 - self.density()

    def layer_table(self) -> List[dict]:
        """One row per masked tensor: name, shape, kept, total, density."""
        return [
            {"name": name, "shape": list(keep.shape), "kept": int(keep.sum()), "total": keep.numel(),
             "density": float(keep.float().mean()) if keep.numel() else 1.0}
            for name, keep in self.items()
        ]

    def format_table(self) -> str:
        """The layer table as aligned text, with an overall line at the bottom."""
        rows = self.layer_table()
        width = max([len(r["name"]) for r in rows] + [7])
        lines = [f"{'layer':<{width}}  {'shape':<18} {'kept':>9} {'total':>9}  density"]
        for r in rows:
            shape = "x".join(map(str, r["shape"]))
            lines.append(f"{r['name']:<{width}}  {shape:<18} {r['kept']:>9} {r['total']:>9}  {r['density']:.4f}")
        lines.append(f"{'overall':<{width}}  {'':<18} {self.num_kept():>9} {self.num_total():>9}  {self.density():.4f}")
        return "\n".join(lines)

    # ---- using -----------------------------------------------------------------------
    def check_matches(self, model: nn.Module) -> None:
        """Raise a one-line error unless every masked name is a parameter of the same shape."""
        params = dict(model.named_parameters())
        for name, keep in self.items():
            if name not in params:
                close = [p for p in params if p.endswith(".weight")][:3]
                raise SparsekitError(f"mask names parameter {name!r}, which the model does not have "
                                     f"(model weights look like: {', '.join(close)})")
            if tuple(params[name].shape) != tuple(keep.shape):
                raise SparsekitError(f"mask shape {tuple(keep.shape)} for {name!r} does not match "
                                     f"the model's {tuple(params[name].shape)}")

    def check_covers(self, model: nn.Module, prune_first_layer: bool, prune_classifier: bool, source) -> None:
        """Raise unless the mask names exactly the weights these settings let a mask prune."""
        self.check_matches(model)
        expected = prunable_parameters(model, prune_first_layer, prune_classifier)
        missing = [name for name in expected if name not in self]
        extra = [name for name in self if name not in expected]
        if missing or extra:
            problem = f"lacks {missing[0]!r}" if missing else f"also covers {extra[0]!r}"
            raise SparsekitError(f"{source}: the mask {problem}; a mask file must cover exactly the prunable weights "
                                 f"(made with the same prune_first_layer={prune_first_layer} and "
                                 f"prune_classifier={prune_classifier} settings)")

    @torch.no_grad()
    def apply(self, model: nn.Module) -> nn.Module:
        """Zero the pruned weights of `model` in place (after checking the mask fits)."""
        self.check_matches(model)
        params = dict(model.named_parameters())
        for name, keep in self.items():
            params[name].mul_(keep.to(params[name].device, params[name].dtype))
        return model

    def same_as(self, other: "Mask") -> bool:
        return self.keys() == other.keys() and all(torch.equal(self[n], other[n]) for n in self)

    # ---- files -----------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the mask atomically (a crash leaves the old file or none, never half of one)."""
        if not isinstance(path, (str, os.PathLike)):
            raise SparsekitError(f"mask file must be a path, got {type(path).__name__}")
        return atomic.torch_save({"format": FILE_FORMAT, "mask": dict(self)}, path)

    @classmethod
    def load(cls, path) -> "Mask":
        return cls._from_saved(_load_file(path, "mask"), path)

    @classmethod
    def _from_saved(cls, data, path) -> "Mask":
        formats.check(data, "mask", path)
        if not isinstance(data.get("mask"), dict):
            raise SparsekitError(f"{path}: a mask file without its mask (no 'mask' table)")
        return cls(data["mask"])

def _keep_tensor(name, keep) -> torch.Tensor:
    """A mask entry as a CPU bool tensor; anything but booleans or exact 0/1 values is refused
    (a float in (0, 1) would otherwise read as "kept")."""
    try:
        tensor = torch.as_tensor(keep).detach()
    except (TypeError, ValueError, RuntimeError):
        raise SparsekitError(f"mask entry {name!r} must be a bool tensor, got {type(keep).__name__}") from None
    if tensor.dtype != torch.bool:
        if tensor.is_complex() or not bool(((tensor == 0) | (tensor == 1)).all()):
            raise SparsekitError(f"mask entry {name!r} must hold only 0 and 1 (or True/False), "
                                 f"found other values ({tensor.dtype})")
    return tensor.to("cpu", torch.bool)


def _load_file(path, what: str):
    """torch.load with one-line errors for a missing or unreadable file."""
    if not isinstance(path, (str, os.PathLike)):
        raise SparsekitError(f"{what} file must be a path, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise SparsekitError(f"{what} file not found: {path}")
    return atomic.torch_load(
        path, lambda reason: f"{path}: cannot read {what} file (corrupted or not a torch file: {reason})")

