"""A masked layer as a bipartite graph, and the singular values that give its spectrum.

The graph of a layer with weight of shape (C_out, C_in, k_h, k_w) joins C_in*k_h*k_w input
nodes (one per input channel and kernel tap: the layer "unfolded", as im2col sees it) to
C_out output nodes, with one edge per kept weight. A Linear (C_out, C_in) is the case
k_h = k_w = 1. This is the graph of the Ramanujan-graph analysis of pruning at
initialization (Hoang et al., ICLR 2023; its code builds it from `weight.reshape(C_out, -1)`),
so a conv kernel gives simple edges, never multi-edges. The *weighted* graph puts |theta|
on each kept edge.

The adjacency matrix of a bipartite graph with biadjacency B (outputs x inputs) is
[[0, B], [B^T, 0]]; its eigenvalues are +s and -s for every singular value s of B, and
|C_out - C_in*k*k| zeros. So the largest eigenvalue is s_1 and the largest non-trivial
eigenvalue magnitude is s_2: two singular values are all the gaps need, and ARPACK
(`scipy.sparse.linalg.eigsh`) gets them cheaply from the smaller Gram matrix.
"""
from typing import Optional

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import torch

# Below this many rows or columns a dense SVD is both exact and faster than ARPACK.
DENSE_UP_TO = 64
# Densities above which the Gram matrix is formed with dense BLAS instead of a sparse product.
SPARSE_PRODUCT_UP_TO = 0.05


def biadjacency(keep: torch.Tensor, weight: Optional[torch.Tensor] = None) -> scipy.sparse.csc_matrix:
    """(outputs x unfolded inputs) sparse matrix: 1 per kept weight, or |weight| if given."""
    keep = keep.detach().to("cpu", torch.bool)
    flat = keep.reshape(keep.shape[0], -1) if keep.dim() > 1 else keep.reshape(-1, 1)
    rows, cols = (index.numpy() for index in torch.nonzero(flat, as_tuple=True))
    if weight is None:
        values = np.ones(len(rows))
    else:
        magnitude = weight.detach().to("cpu", torch.float64).abs().reshape(flat.shape)
        values = magnitude[rows, cols].numpy()
    return scipy.sparse.csc_matrix((values, (rows, cols)), shape=tuple(flat.shape))


def top_singular_values(matrix, count: int = 2, dense_up_to: int = DENSE_UP_TO) -> np.ndarray:
    """The `count` largest singular values, largest first (zeros past the matrix's rank).

    They are the square roots of the top eigenvalues of the Gram matrix on the smaller side
    (at most C_out or C_in*k*k wide): `scipy.sparse.linalg.eigsh` (ARPACK) finds them, or a
    dense `numpy.linalg.eigvalsh` when that side has at most `dense_up_to` nodes. ARPACK
    starts from a fixed pseudo-random vector, so results repeat run to run; a constant start
    would fail on regular graphs, whose top singular vector it already is. Going through the
    Gram matrix costs precision only for singular values near zero (absolute error about
    1e-7 * s_1), far below any gap worth reading.
    """
    rows, cols = matrix.shape
    smaller = min(rows, cols)
    if smaller == 0 or matrix.nnz == 0:
        return np.zeros(count)
    gram = _gram(scipy.sparse.csc_matrix(matrix, dtype=np.float64))
    if smaller <= max(count, dense_up_to):
        values = np.linalg.eigvalsh(gram)
    else:
        start = np.random.default_rng(0).standard_normal(smaller)
        values = scipy.sparse.linalg.eigsh(gram, k=count, which="LA", v0=start, return_eigenvectors=False)
    values = np.sqrt(np.clip(np.sort(values)[::-1][:count], 0.0, None))
    return np.concatenate([values, np.zeros(count - len(values))])


def _gram(matrix) -> np.ndarray:
    """The Gram matrix on the smaller side, dense. Sparse products pay per stored pair, so past
    a few percent density dense BLAS is far faster (ResNet-18 at 50%: 10x)."""
    rows, cols = matrix.shape
    if matrix.nnz > SPARSE_PRODUCT_UP_TO * rows * cols:
        matrix = matrix.toarray()
        return matrix.T @ matrix if cols <= rows else matrix @ matrix.T
    return (matrix.T @ matrix if cols <= rows else matrix @ matrix.T).toarray()


def adjacency_spectrum(matrix) -> np.ndarray:
    """Every eigenvalue of the graph's adjacency matrix, descending (dense: for plots and
    small layers): +-s for each singular value s of the biadjacency, and zeros for the rest."""
    rows, cols = matrix.shape
    values = np.linalg.svd(matrix.toarray(), compute_uv=False) if min(rows, cols) else np.zeros(0)
    zeros = np.zeros(rows + cols - 2 * len(values))
    return np.sort(np.concatenate([values, -values, zeros]))[::-1]


def degrees(matrix):
    """(input degrees, output degrees): stored edges per node, whatever their weights (a kept
    weight that happens to be exactly zero is still an edge of the mask's graph)."""
    edges = scipy.sparse.csc_matrix(matrix, copy=True)
    edges.data = np.ones_like(edges.data)
    return (np.asarray(edges.sum(axis=0)).ravel().astype(int), np.asarray(edges.sum(axis=1)).ravel().astype(int))
