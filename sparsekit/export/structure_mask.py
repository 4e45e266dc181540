"""The structure-matched control: a mask plus exactly the positions a recipe's kept ghost skip
branches make non-zero once the trained network is folded for inference.

A kept branch beside a k x k conv is a 1x1 conv + BN whose fold adds to the conv's centre taps
(`fold.fold_conv_bn`), so the exported `tost-release` network is the mask plus those taps. Trained
plainly, the same positions ask whether the recipe's gain is the recipe or its extra structure,
at the same inference cost (the same non-zero conv weights). The positions are read from the
recipe's own code, never restated: the recipe builds its final architecture
(`Recipe.final_architecture`, the branches the trained network keeps), and the export's fold of
each unit, with the conv's own weights set to zero, shows which weights only the branches make
non-zero.
"""
import copy
from typing import Dict, Union

import torch
from torch import nn

from ..core.errors import SparsekitError
from ..core.mask import Mask
from ..models.traced import conv_bn_pairs
from ..recipe import Recipe
from . import fold


def _recipe(recipe: Union[str, Recipe]) -> Recipe:
    return Recipe.preset(recipe) if isinstance(recipe, str) else recipe


@torch.no_grad()
def ghost_fold_positions(model: nn.Module, recipe: Union[str, Recipe]) -> Dict[str, torch.Tensor]:
    """Conv weight name -> bool tensor of the positions the recipe's kept ghost branches make
    non-zero in the folded network (empty when the recipe keeps no branch). `model` is freshly
    built, without the recipe's modules (as a run builds it)."""
    work = _recipe(recipe).final_architecture(copy.deepcopy(model)).cpu().float().eval()
    names = {id(p): name for name, p in work.named_parameters()}
    positions = {}
    for unit in conv_bn_pairs(work):
        if not unit.ghosts:
            continue
        unit.conv.weight.zero_()  # what stays non-zero after the fold comes from the branches alone
        folded = fold.fold_conv_bn(unit, unit.name)
        positions[names[id(unit.conv.weight)]] = (folded.weight != 0).reshape(unit.conv.weight.shape)
    return positions


def structure_matched_mask(model: nn.Module, mask: Mask, recipe: Union[str, Recipe] = "tost-release") -> Mask:
    """`mask` plus every position the recipe's kept ghost branches make non-zero when folded:
    a mask whose plain training has the recipe's inference cost. Refused for a recipe that keeps
    no branch (its folded network is the mask itself, so there is no structure to match)."""
    mask.check_matches(model)
    added = ghost_fold_positions(model, recipe)
    if not added:
        raise SparsekitError(f"recipe {_recipe(recipe).preset_name()!r} keeps no ghost skip branch in the trained "
                             f"network, so its folded structure is the mask itself; a structure-matched mask needs "
                             f"a recipe with ghost_skip_mode 'keep' (tost-release)")
    matched = Mask({name: keep.clone() for name, keep in mask.items()})
    for name, taps in added.items():
        if name in matched:  # a conv left out of the mask (not prunable) is dense already
            matched[name] = matched[name] | taps
    return matched
