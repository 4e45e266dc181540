"""SNIP (Lee et al. 2019): connection sensitivity |theta * dL/dtheta|.

The score is the magnitude of the loss's first-order change when a weight is removed
(equivalently |dL/dm| at mask m = 1). The gradient is summed over all given batches, and the
scores are divided by their total as in the reference (which leaves the ranking unchanged).
"""
from torch.nn import functional as F

from .gradients import eval_mode, on_device_of, scoring_batches, summed_gradients
from .registry import register_scores


@register_scores("snip", "|theta * dL/dtheta|: first-order loss change when a weight is removed", needs_data=True)
def snip(model, params, data):
    names, weights = list(params), list(params.values())

    def loss_of(batch):
        x, y = on_device_of(params, batch)
        return F.cross_entropy(model(x), y)

    with eval_mode(model):
        gradient_sum = summed_gradients(weights, scoring_batches(data), loss_of)
    scores = [(w.detach() * g).abs() for w, g in zip(weights, gradient_sum)]
    norm = sum(float(s.sum()) for s in scores)
    return {name: s / norm if norm > 0 else s for name, s in zip(names, scores)}
