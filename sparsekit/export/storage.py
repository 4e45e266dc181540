"""Store a weight tensor in the fewest bytes: dense, CSR, or bitmask + values.

Per weight, CSR costs a column index (int16 while the row is shorter than 32768, else int32)
for each kept weight plus one row pointer per row; a bitmask costs one bit for every weight,
kept or not. So CSR wins at low density (below about 1/16 kept with int16 indices) and the
bitmask above it; each tensor gets whichever is smaller, measured in bytes here, and dense
storage when neither beats it. `runtime.decode_weight` reads all three.
"""
import math
from typing import Dict

import torch

from .runtime import to_csr


def _nbytes(stored: Dict) -> int:
    return sum(v.numel() * v.element_size() for v in stored.values() if isinstance(v, torch.Tensor))


def _csr(matrix: torch.Tensor, shape) -> Dict:
    csr = to_csr(matrix)
    index_type = torch.int16 if matrix.shape[1] < 2 ** 15 else torch.int32
    pointer_type = torch.int32 if csr._nnz() < 2 ** 31 else torch.int64
    return {"encoding": "csr", "shape": list(shape), "crow": csr.crow_indices().to(pointer_type),
            "col": csr.col_indices().to(index_type), "values": csr.values().contiguous()}


def _bitmask(matrix: torch.Tensor, shape) -> Dict:
    kept = (matrix != 0).flatten()
    padded = torch.zeros(math.ceil(kept.numel() / 8) * 8, dtype=torch.uint8)
    padded[: kept.numel()] = kept.to(torch.uint8)
    bits = (padded.reshape(-1, 8) << torch.arange(8, dtype=torch.uint8)).sum(1, dtype=torch.uint8)
    return {"encoding": "bitmask", "shape": list(shape), "bits": bits, "values": matrix.flatten()[kept].contiguous()}


def encode_weight(weight: torch.Tensor) -> Dict:
    """The smallest of the three encodings of a float32 weight."""
    weight = weight.detach().float().contiguous()
    shape = tuple(weight.shape)
    matrix = weight.reshape(shape[0], math.prod(shape[1:]))
    candidates = [{"encoding": "dense", "shape": list(shape), "values": weight.flatten()},
                  _csr(matrix, shape), _bitmask(matrix, shape)]
    return min(candidates, key=_nbytes)


def stored_bytes(stored: Dict) -> int:
    return _nbytes(stored)
