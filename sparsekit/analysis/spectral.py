"""Mask anatomy: Ramanujan gap, weighted spectral gap and the full-spectrum coordinate.

Every masked layer is a bipartite graph (see `bigraph`: unfolded C_in*k*k inputs -> C_out
outputs, one edge per kept weight). Definitions, after Hoang et al., "Revisiting pruning at
initialization through the lens of Ramanujan graph" (ICLR 2023; code VITA-Group/ramanujan-on-pai)
and "Don't just prune by magnitude! Your mask topology is a secret weapon" (NeurIPS 2023):

- s_1 >= s_2: the two largest eigenvalues of the graph's adjacency matrix (= singular values
  of the biadjacency); s_2 is the largest non-trivial eigenvalue magnitude, mu-hat.
- Ramanujan gap (structure only): Delta_r = sqrt(d_in - 1) + sqrt(d_out - 1) - s_2, with
  d_in, d_out the average degrees of the non-isolated input and output nodes. The first term
  is the Ramanujan bound of an irregular bipartite graph; a positive gap means the graph
  expands at least as well as a Ramanujan graph of those degrees. As in the reference code,
  the gap is only measured when both average degrees are at least 3 (otherwise None).
- Weighted spectral gap (parameters too): lambda = w_1 - w_2, the two largest eigenvalues of
  the adjacency with |theta| on each kept edge.
- Nested regular subgraphs: for each input degree d > 0 shared by at least 3 input nodes, the
  subgraph of those inputs and all outputs (d-left-regular). Their mean Delta_r is the
  ICLR paper's "iterative mean difference of bound" (IMDB); the same mean of lambda is the
  weighted counterpart.
- Full-spectrum coordinate of the network: (mean over layers of Delta_r-IMDB, mean over layers
  of lambda-IMDB), the layers being those where the subgraphs are measurable. The NeurIPS
  paper measures a network by the L2 distance of this coordinate from the one the same
  sparse network has at initialization (`distance`).
"""
from typing import Dict, List, Mapping, Optional

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from ..core.mask import Mask
from .bigraph import biadjacency, degrees, top_singular_values

# The reference measures a graph only when both average degrees reach 3 (the bound's
# sqrt(d - 1) is meaningless near d = 1), and a nested subgraph only with >= 3 input nodes.
MIN_AVERAGE_DEGREE = 3.0
MIN_SUBGRAPH_INPUTS = 3
COORDINATE = ("ramanujan_gap_imdb", "weighted_gap_imdb")


def graph_gaps(structure, weighted) -> Optional[Dict[str, float]]:
    """Delta_r and lambda of one bipartite graph (biadjacencies with 1s and with |theta|), or
    None when its non-isolated nodes average fewer than 3 edges on either side."""
    in_degree, out_degree = degrees(structure)
    if not in_degree.any():
        return None
    d_in, d_out = in_degree[in_degree > 0].mean(), out_degree[out_degree > 0].mean()
    if d_in < MIN_AVERAGE_DEGREE or d_out < MIN_AVERAGE_DEGREE:
        return None
    s1, s2 = top_singular_values(structure)
    w1, w2 = top_singular_values(weighted)
    bound = float(np.sqrt(d_in - 1) + np.sqrt(d_out - 1))
    return {"mu1": float(s1), "mu2": float(s2), "ramanujan_bound": bound, "ramanujan_gap": bound - float(s2),
            "weighted_mu1": float(w1), "weighted_mu2": float(w2), "weighted_gap": float(w1 - w2)}


def regular_subgraph_gaps(structure, weighted) -> List[Dict[str, float]]:
    """`graph_gaps` of every measurable d-left-regular subgraph, by increasing d."""
    in_degree, _ = degrees(structure)
    values, counts = np.unique(in_degree, return_counts=True)
    found = []
    for degree, count in zip(values, counts):
        if degree == 0 or count < MIN_SUBGRAPH_INPUTS:
            continue
        columns = np.flatnonzero(in_degree == degree)
        gaps = graph_gaps(structure[:, columns], weighted[:, columns])
        if gaps is not None:
            found.append({"degree": int(degree), "inputs": int(count), **gaps})
    return found


def _mean(values) -> Optional[float]:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def layer_row(name: str, keep: torch.Tensor, weight: torch.Tensor) -> dict:
    """One layer: graph size, degree statistics, whole-graph gaps and their IMDB means."""
    structure, weighted = biadjacency(keep), biadjacency(keep, weight)
    in_degree, out_degree = degrees(structure)
    whole = graph_gaps(structure, weighted) or dict.fromkeys(
        ("mu1", "mu2", "ramanujan_bound", "ramanujan_gap", "weighted_mu1", "weighted_mu2", "weighted_gap"))
    nested = regular_subgraph_gaps(structure, weighted)
    return {
        "name": name, "inputs": structure.shape[1], "outputs": structure.shape[0], "edges": int(structure.nnz),
        "density": structure.nnz / max(1, structure.shape[0] * structure.shape[1]),
        "in_degree_mean": float(in_degree.mean()), "in_degree_min": int(in_degree.min()),
        "in_degree_max": int(in_degree.max()), "out_degree_mean": float(out_degree.mean()),
        "out_degree_min": int(out_degree.min()), "out_degree_max": int(out_degree.max()),
        "isolated_inputs": int((in_degree == 0).sum()), "isolated_outputs": int((out_degree == 0).sum()),
        **whole, "regular_subgraphs": len(nested),
        "ramanujan_gap_imdb": _mean(g["ramanujan_gap"] for g in nested),
        "weighted_gap_imdb": _mean(g["weighted_gap"] for g in nested),
    }


def network_summary(rows: List[dict]) -> dict:
    """Network-level numbers from the layer rows: the coordinate and the whole-graph means."""
    return {"coordinate": {name: _mean(row[name] for row in rows) for name in COORDINATE},
            "ramanujan_gap": _mean(row["ramanujan_gap"] for row in rows),
            "weighted_gap": _mean(row["weighted_gap"] for row in rows),
            "layers": len(rows), "layers_measured": sum(row["ramanujan_gap_imdb"] is not None for row in rows)}


def distance(coordinate_a: Mapping[str, Optional[float]], coordinate_b: Mapping[str, Optional[float]]):
    """L2 distance between two full-spectrum coordinates; None if a component is missing."""
    if any(coordinate_a.get(n) is None or coordinate_b.get(n) is None for n in COORDINATE):
        return None
    return float(np.sqrt(sum((coordinate_a[n] - coordinate_b[n]) ** 2 for n in COORDINATE)))


@torch.no_grad()
def analyze(model: nn.Module, mask: Mapping[str, torch.Tensor]) -> dict:
    """{"layers": [one row per masked layer], "network": {"coordinate": {...}, ...}}.

    The weighted graphs use the model's current weights (pruned ones count as absent even if
    the mask has not been applied yet). A layer too sparse to measure has None in its gaps.
    """
    Mask(mask).check_matches(model)
    params = dict(model.named_parameters())
    # Hundreds of small eigenproblems: threads cost more than they save there, and on a shared
    # machine threaded LAPACK on 100x100 matrices runs ten times slower than one thread.
    with threadpool_limits(limits=1):
        rows = [layer_row(name, keep, params[name]) for name, keep in mask.items()]
    return {"layers": rows, "network": network_summary(rows)}


def coordinate_of(model: nn.Module, mask: Mapping[str, torch.Tensor]) -> dict:
    """The network-level numbers only (what run records keep)."""
    return analyze(model, mask)["network"]
