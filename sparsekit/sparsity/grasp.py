"""GraSP (Wang et al. 2020): keep the weights that preserve gradient flow.

With g = dL/dtheta and H the Hessian of the loss, the score is theta * (H g). H g is a
Hessian-gradient product: g is computed once without a graph (summed over the batches), then
z = sum(g.detach() * dL/dtheta) is differentiated again, batch by batch: dz/dtheta = H g.
The logits are divided by a temperature of 200, as in the reference code.

Sign convention (a known source of confusion): the paper REMOVES the weights with the largest
-theta * (H g), i.e. it keeps the LARGEST theta * (H g); that is what this score does (higher
= keep), so weights whose removal would most reduce gradient flow are kept. Scores are divided
by |sum of scores| as in the reference (ranking unchanged).
"""
import torch
from torch.nn import functional as F

from .gradients import eval_mode, on_device_of, scoring_batches, summed_gradients
from .registry import register_scores

TEMPERATURE = 200.0


@register_scores("grasp", "theta * (H g): keeps weights whose removal would most reduce gradient flow",
                 needs_data=True)
def grasp(model, params, data, *, temperature: float = TEMPERATURE):
    names, weights = list(params), list(params.values())
    batches = scoring_batches(data)

    def loss_of(batch):
        x, y = on_device_of(params, batch)
        return F.cross_entropy(model(x) / temperature, y)

    with eval_mode(model):
        gradient = summed_gradients(weights, batches, loss_of)
        hessian_gradient = [torch.zeros_like(w) for w in weights]
        for batch in batches:
            grads = torch.autograd.grad(loss_of(batch), weights, create_graph=True)
            z = sum((g_fixed * g).sum() for g_fixed, g in zip(gradient, grads))
            for total, hg in zip(hessian_gradient, torch.autograd.grad(z, weights, allow_unused=True)):
                if hg is not None:  # None: a weight whose gradient does not depend on the weights
                    total.add_(hg)
    scores = [w.detach() * hg for w, hg in zip(weights, hessian_gradient)]
    norm = abs(sum(float(s.sum()) for s in scores)) + 1e-12
    return {name: s / norm for name, s in zip(names, scores)}
