"""Magnitude pruning: keep the weights with the largest |theta|.

Applied to the model as it is now: at initialization (one-shot magnitude pruning at init) or
to trained weights (classic post-training pruning; the lottery ticket's pruning step).
"""
from .registry import register_scores


@register_scores("magnitude", "|theta| of the current weights (at init or trained)")
def magnitude(model, params, data):
    return {name: weight.detach().abs().clone() for name, weight in params.items()}
