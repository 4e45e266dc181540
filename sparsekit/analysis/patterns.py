"""Does a mask follow an N:M pattern? `pattern_check(mask, "2:4")` answers per layer, for a
mask from any source (a method, a file, a checkpoint's zeros)."""
from typing import Dict, Mapping

import torch

from ..core.nm_groups import parse_pattern, satisfies


def pattern_check(mask: Mapping[str, torch.Tensor], pattern) -> Dict[str, bool]:
    """Layer name -> True where the layer keeps exactly N of every group of M consecutive
    weights along its input dimension (False also where its rows do not split into groups)."""
    pattern = parse_pattern(pattern)
    return {name: satisfies(keep, pattern.n, pattern.m) for name, keep in mask.items()}
