"""N:M patterns as data: the text "N:M", how a weight splits into groups of M, and the check
that a mask keeps exactly N in every group.

Selection (which N of each M to keep) lives in `sparsity/patterns.py`; this file holds only
what the analysis layer needs as well, to verify a mask without depending on mask methods.

Layout: a weight is read as a matrix (out, inputs per output): a Linear weight (out, in) as it
is, a conv weight (out, in, kh, kw) flattened in PyTorch's memory order to (out, in*kh*kw).
A group is M consecutive entries of one row.
"""
import re
from typing import NamedTuple

import torch

from .errors import SparsekitError

_TEXT = re.compile(r"\s*(\d+)\s*:\s*(\d+)\s*")


class Pattern(NamedTuple):
    """Keep exactly `n` of every `m` consecutive weights along the input dimension."""
    n: int
    m: int

    @property
    def sparsity(self) -> float:
        return 1.0 - self.n / self.m

    def __str__(self) -> str:
        return f"{self.n}:{self.m}"


def parse_pattern(text) -> Pattern:
    """ "2:4" -> Pattern(2, 4). N must be in [1, M): N == M would keep every weight (a dense
    network: use sparsity 0 instead), N == 0 none."""
    if isinstance(text, Pattern):
        return text
    match = _TEXT.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise SparsekitError(f"an N:M pattern is written as two whole numbers 'N:M' (e.g. 2:4), got {text!r}")
    n, m = int(match.group(1)), int(match.group(2))
    if n < 1:
        raise SparsekitError(f"pattern {n}:{m} keeps no weight; N must be at least 1")
    if n >= m:
        raise SparsekitError(f"pattern {n}:{m} needs N below M (N == M keeps every weight: train dense with "
                             f"sparsity 0)")
    return Pattern(n, m)


def grouped(tensor: torch.Tensor, m: int, name: str = "weight") -> torch.Tensor:
    """`tensor` as (out, groups, m): row = output unit, then groups of m consecutive inputs.
    A row length that is not a multiple of m raises one line naming the layer."""
    if tensor.dim() < 2:
        raise SparsekitError(f"an N:M pattern applies to Linear or conv weights; {name!r} has shape "
                             f"{tuple(tensor.shape)}")
    inputs = tensor[0].numel()
    if inputs % m:
        dims = "x".join(str(d) for d in tensor.shape[1:])
        raise SparsekitError(f"layer {name!r} has {inputs} inputs per output ({dims}), not a multiple of {m}, so "
                             f"it cannot be split into groups of {m}; leave it dense (the first conv: "
                             f"prune_first_layer=False, CLI --no-prune-first-layer) or use another M")
    return tensor.reshape(tensor.shape[0], inputs // m, m)


def satisfies(keep: torch.Tensor, n: int, m: int) -> bool:
    """True if the bool mask `keep` keeps exactly n in every group of m (False if it cannot
    be grouped at all)."""
    if keep.dim() < 2 or keep[0].numel() % m:
        return False
    return bool((keep.reshape(keep.shape[0], -1, m).sum(-1) == n).all())
