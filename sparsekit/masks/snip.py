"""SNIP (Lee et al. 2019): connection sensitivity |theta * dL/dtheta|.

The score is the magnitude of the loss's first-order change when a weight is removed
(equivalently |dL/dm| at mask m = 1). The gradient is summed over all given batches, and the
scores are divided by their total as in the reference (which leaves the ranking unchanged).
"""
import torch
from torch.nn import functional as F

from .gradients import eval_mode, on_device_of, scoring_batches
from .registry import register_scores


@register_scores("snip", "|theta * dL/dtheta|: first-order loss change when a weight is removed", needs_data=True)
def snip(model, params, data):
    names, weights = list(params), list(params.values())
    gradient_sum = [torch.zeros_like(w) for w in weights]
    with eval_mode(model):
        for batch in scoring_batches(data):
            x, y = on_device_of(params, batch)
            grads = torch.autograd.grad(F.cross_entropy(model(x), y), weights)
            for total, grad in zip(gradient_sum, grads):
                total.add_(grad)
    scores = [(w.detach() * g).abs() for w, g in zip(weights, gradient_sum)]
    norm = sum(float(s.sum()) for s in scores)
    return {name: s / norm if norm > 0 else s for name, s in zip(names, scores)}
