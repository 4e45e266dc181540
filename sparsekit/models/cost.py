"""What a forward pass of a network costs, counted from its layers: the multiply-adds of every
convolution and linear layer for one input of a given shape (dense, whatever the mask: a masked
weight is still multiplied during training)."""
from typing import Sequence

import torch
from torch import nn


def forward_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-adds of one forward pass on one input of `input_shape` (channels, height, width)."""
    total = 0

    def count(layer, inputs, output):
        nonlocal total
        if isinstance(layer, nn.Conv2d):
            per_output = layer.in_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1]
            total += output[0].numel() * per_output
        else:
            total += layer.in_features * layer.out_features

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    device = next(model.parameters(), torch.empty(0)).device
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return total


def training_step_macs(model: nn.Module, input_shape: Sequence[int], batch_size: int) -> int:
    """Multiply-adds of one training step: the forward pass and a backward pass of about twice
    its cost (gradients of the inputs and of the weights), for the whole batch."""
    return 3 * batch_size * forward_macs(model, input_shape)


def step_macs_on(model: nn.Module, data, batch_size: int):
    """`training_step_macs` for batches of `data` (anything with `in_channels` and `image_size`,
    as a loaded dataset has); None where the data does not say its shape."""
    channels, size = getattr(data, "in_channels", None), getattr(data, "image_size", None)
    if channels is None or size is None:
        return None
    return training_step_macs(model, (channels, size, size), batch_size)
