"""SynFlow (Tanaka et al. 2020): data-free, iterative synaptic-flow pruning.

Linearize the network (every parameter and BatchNorm statistic replaced by its absolute
value, BatchNorm in eval mode), feed one all-ones input, let R be the sum of the outputs; a
weight's score is |theta * dR/dtheta|. Pruning is iterative: after round k of n the density
is d^(k/n), and the scores are recomputed each round with the current mask applied, which is
what lets SynFlow avoid layer collapse.

The model itself is never touched: scoring runs on a linearized copy (so there are no signs
to restore). Every round keeps an exact count with `topk.top_k_flat` (highest scores, ties to
the earlier position, by selection rather than sorting) among the surviving weights; a
pruned weight is never revived.

Float32 can overflow in deep nets (R grows like the product of layer norms); a warning says
so, and `float64=True` scores in double precision.

Distributions and patterns: the rounds prune toward the `layout` the scores will be cut to.
"global" ranks all survivors together each round, "uniform" ranks each layer alone (density
d^(k/n) per layer). "erk" and "even" do the same per layer toward the layer's final count c:
round k keeps max(round(n_l (c/n_l)^(k/n)), c). An N:M pattern does it per group of M: round k
keeps max(round(M (N/M)^(k/n)), N) of each group. Either way no pruned weight comes back.

The function returns the last round's scores: the survivors' own (a NaN one as -1, below every
real score) and -2 for every weight pruned in an earlier round, so `compute`'s cut to the same
layout is the last round, with the same tie rule.
"""
import copy
import warnings
from typing import List, Optional, Sequence

import torch
from torch import nn

from ..core.errors import SparsekitError
from ..core.topk import keep_count, top_k_flat
from .distributions import layer_counts
from .gradients import scoring_batches
from .patterns import top_in_groups
from .registry import register_scores

# A pruned weight's last-round score, and a survivor's NaN one: below every real score (>= 0).
PRUNED, UNDEFINED = -2.0, -1.0


@register_scores("synflow", "|theta * dR/dtheta|, R = sum of a linearized net's outputs on all-ones; "
                            "iterative, data-free")
def synflow(model, params, data, *, layout, rounds: int = 100, float64: bool = False,
            input_shape: Optional[Sequence[int]] = None, input_size: Optional[int] = None):
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise SparsekitError(f"synflow rounds must be a positive integer, got {rounds!r}")
    sparsity, distribution, pattern = layout.sparsity, layout.distribution, layout.pattern
    shape = _input_shape(model, input_shape, input_size, data)
    probe, weights, flat = _linearized_copy(model, list(params), float64)
    sizes = [w.numel() for w in weights]
    starts = [0] + torch.tensor(sizes).cumsum(0).tolist()
    ones = torch.ones((1, *shape), dtype=flat.dtype, device=flat.device)
    # Per round, only the survivors are scored and ranked: `alive` holds their flat indices
    # (ascending, so each layer's survivors are one contiguous run) and `magnitudes` their |theta|.
    alive = torch.arange(flat.numel(), device=flat.device)
    magnitudes = flat.clone()
    density = 1.0 - sparsity
    layer_starts = torch.tensor(starts, device=alive.device)
    final_counts = layer_counts(distribution, [tuple(w.shape) for w in weights], sparsity) \
        if distribution in ("erk", "even") else None
    for round_index in range(1, rounds + 1):
        grads = torch.autograd.grad(probe(ones).sum(), weights, allow_unused=True)
        bounds = torch.searchsorted(alive, layer_starts).tolist()
        survivor_grads = torch.cat([_gather(g, alive[a:b] - start, b - a)
                                    for g, a, b, start in zip(grads, bounds, bounds[1:], starts)])
        scores = (magnitudes * survivor_grads).abs_().nan_to_num_(nan=-float("inf"))  # NaN ranks lowest
        if round_index == 1 and not bool(torch.isfinite(scores).all()):
            warnings.warn("SynFlow scores overflowed in float32 (non-finite values); ties make the mask "
                          "arbitrary there: pass float64=True", RuntimeWarning, stacklevel=3)
        if round_index == rounds:  # the last round is `compute`'s cut of these scores
            return _last_round_scores(scores, alive, params, sizes)
        round_density = density ** (round_index / rounds)
        if pattern is not None:
            chosen = _chosen_in_groups(scores, alive, weights, starts, pattern, round_index / rounds)
        elif final_counts is not None:
            counts = [max(keep_count(size, (final / size) ** (round_index / rounds)), final) if size else 0
                      for size, final in zip(sizes, final_counts)]
            chosen = torch.cat([top_k_flat(scores[a:b], count) for a, b, count in zip(bounds, bounds[1:], counts)])
        elif distribution == "global":
            chosen = top_k_flat(scores, keep_count(flat.numel(), round_density))
        else:
            chosen = torch.cat([top_k_flat(scores[a:b], keep_count(size, round_density))
                                for a, b, size in zip(bounds, bounds[1:], sizes)])
        with torch.no_grad():  # the probe's weights are views of `flat`: this prunes them
            flat[alive[~chosen]] = 0
        kept = torch.nonzero(chosen).reshape(-1)
        alive, magnitudes = alive[kept], magnitudes[kept]


def _last_round_scores(scores, alive, params, sizes):
    full = torch.full((sum(sizes),), PRUNED, dtype=torch.float64)
    full[alive.cpu()] = scores.detach().cpu().double().nan_to_num(nan=UNDEFINED).clamp(min=UNDEFINED)
    return {name: part.view(p.shape) for (name, p), part in zip(params.items(), full.split(sizes))}


def _chosen_in_groups(scores, alive, weights, starts, pattern, progress: float) -> torch.Tensor:
    """Which survivors this round keeps: per group of M, the top max(round(M (N/M)^progress), N)."""
    keep = max(keep_count(pattern.m, (pattern.n / pattern.m) ** progress), pattern.n)
    # Pruned weights rank below every survivor (scores are >= 0, a NaN one is -inf): a group
    # always has at least `keep` survivors, so none comes back.
    full = torch.full((starts[-1],), -2.0, dtype=torch.float64)
    full[alive.cpu()] = scores.detach().cpu().double().clamp(min=-1.0)
    chosen = torch.cat([top_in_groups(full[start:start + w.numel()].view(w.shape), keep, pattern.m).reshape(-1)
                        for w, start in zip(weights, starts)])
    return chosen[alive.cpu()].to(alive.device)


def _gather(grad: Optional[torch.Tensor], positions: torch.Tensor, count: int) -> torch.Tensor:
    if grad is None:  # a weight R does not depend on (e.g. behind a collapsed layer)
        return torch.zeros(count, device=positions.device)  # promoted to the scores dtype by the product
    return grad.reshape(-1).index_select(0, positions)


def _input_shape(model: nn.Module, given, input_size: Optional[int], data) -> tuple:
    """(C, H, W) of the all-ones input: given (`input_shape`, or `input_size` with the first
    layer's channels); else the shape of the data's inputs; else the shape the model was built
    for (`models.build` records it); else the first layer's channels at 32x32."""
    first = next((m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))), None)
    if given is not None:
        return tuple(int(v) for v in given)
    if input_size is not None and isinstance(first, nn.Conv2d):
        return (first.in_channels, int(input_size), int(input_size))
    if data is not None:
        inputs = scoring_batches(data)[0][0]
        return tuple(int(v) for v in inputs.shape[1:])
    if getattr(model, "input_shape", None) is not None:
        return tuple(int(v) for v in model.input_shape)
    if isinstance(first, nn.Conv2d):
        return (first.in_channels, 32, 32)
    if isinstance(first, nn.Linear):
        return (first.in_features,)
    raise SparsekitError("synflow cannot infer the model's input shape (its first layer is neither Conv2d "
                         "nor Linear): pass input_shape=(C, H, W)")


def _linearized_copy(model: nn.Module, names: List[str], float64: bool):
    """A copy of `model` with |every parameter and buffer| and BatchNorm in eval mode.

    Returns the copy, its weights `names` (the only tensors that require grad), and one flat
    tensor that those weights are views of, so pruning is a single indexed assignment.
    """
    probe = copy.deepcopy(model).eval()
    if float64:
        probe.double()
    with torch.no_grad():
        for tensor in probe.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    for param in probe.parameters():
        param.requires_grad_(False)
    by_name = dict(probe.named_parameters())
    weights = [by_name[name] for name in names]
    flat = torch.cat([w.detach().reshape(-1) for w in weights])
    for weight, part in zip(weights, flat.split([w.numel() for w in weights])):
        weight.data = part.view(weight.shape)
        weight.requires_grad_(True)
    return probe, weights, flat

