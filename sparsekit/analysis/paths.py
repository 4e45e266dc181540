"""Whether a mask leaves any path of kept weights from a network's input to its output.

A mask can keep weights in every layer and still cut the network: a channel whose incoming
weights all survive may have lost every outgoing one, and at extreme sparsity the channels that
receive the input and those that feed the output stop meeting. The output then cannot depend on
the input, and training stays at chance with nothing else to say so. An emptied layer
(`collapsed_layers`) is one way to cut a plain network; in a residual network it often is not,
since a shortcut runs beside every layer but the first.

The test reads the network's structure only, not its weights' values: every kept weight becomes
1, every pruned one 0, a dense weight all ones, every bias 0, BatchNorm the identity, and the
input positive. Each output is then a sum of positive products, one per path of kept weights,
so it is zero exactly when no path is left; no sign can cancel one path against another, and no
ReLU is shut by a sign. (Asking whether two random inputs give the same output on the network
as initialised is not the same test: random weights can shut a ReLU for every input although a
path is there, which training's batch-normalised BatchNorm does not.)

The same network answers which kept weights are used at all (`effective_mask`): a kept weight
lies on some input-to-output path exactly when the gradient of the output's sum with respect to
it is positive there, every term of that gradient being a product along a path through it (the
SynFlow score of the 0/1 network). A kept weight on no path (its unit receives nothing, or
feeds nothing that reaches the output) is pruned in effect: the effective density counts only
the others (Vysogorets & Kempe, "Connectivity matters: neural network pruning through the lens
of effective sparsity", JMLR 2023). `analysis.structural_network` builds that network.

That argument holds for layers that keep a positive input positive and zero at zero (its
`READABLE`). A network holding any other module (LayerNorm subtracts a mean, a sigmoid maps 0 to
one half, attention) is not judged: the answer is None. Arithmetic in a module's own `forward`
is not seen; the kit's networks and torchvision's CNNs only add there.
"""
import warnings
from typing import Mapping, NamedTuple, Optional, Sequence

import torch
from torch import nn

from ..core.errors import SparsekitError
from ..core.mask import Mask
from .structural_network import structural_copy, unreadable_modules


def _readable(model: nn.Module, mask: Mapping[str, torch.Tensor], input_shape) -> bool:
    if (not isinstance(input_shape, (tuple, list, torch.Size)) or not input_shape
            or not all(isinstance(size, int) and not isinstance(size, bool) and size > 0 for size in input_shape)):
        raise SparsekitError(f"input_shape must be one example's shape as positive whole numbers, e.g. (1, 28, 28) "
                             f"for channels, height, width; got {input_shape!r}")
    missing = sorted(set(mask) - {name for name, _ in model.named_parameters()})
    if missing:
        raise SparsekitError(f"the mask names layers the network does not have: {', '.join(missing[:3])}")
    return not unreadable_modules(model)


class Connectivity(NamedTuple):
    """What one pass over the 0/1 network tells: `path` (True, False, or None: not judged) and
    `effective` (the kept weights on some path, a Mask; None where `path` is None)."""
    path: Optional[bool]
    effective: Optional[Mask]


def connectivity(model: nn.Module, mask: Mapping[str, torch.Tensor], input_shape: Sequence[int]) -> Connectivity:
    """`path_from_input` and `effective_mask` from one forward and one backward pass over one
    float64 copy (a run's set-up and `sparsekit mask` want both)."""
    if not _readable(model, mask, input_shape):
        return Connectivity(None, None)
    try:
        work = structural_copy(model, mask, trainable=list(mask))
        output = work(torch.ones((1, *input_shape), dtype=torch.float64))
        if not isinstance(output, torch.Tensor):
            return Connectivity(None, None)
        if output.requires_grad:  # else no kept weight reaches the output (or the mask names none)
            output.sum().backward()
    except Exception:  # noqa: BLE001 - a network that cannot be copied, or whose forward cannot run in
        return Connectivity(None, None)  # float64 on the CPU (a float32 constant of its own): a diagnostic never stops a run
    weights = dict(work.named_parameters())
    effective = Mask({name: keep.to("cpu").bool() & (weights[name].grad is not None and weights[name].grad > 0)
                      for name, keep in mask.items()})
    return Connectivity(bool((output != 0).any()), effective)


def path_from_input(model: nn.Module, mask: Mapping[str, torch.Tensor],
                    input_shape: Sequence[int]) -> Optional[bool]:
    """True when a path of kept weights joins the input (one example of `input_shape`, e.g.
    (channels, height, width)) to the output; False when the mask cuts the network; None when the
    network holds a module the test cannot read (`unreadable_modules`), or its forward cannot run
    on the float64 copy."""
    return connectivity(model, mask, input_shape).path


def effective_mask(model: nn.Module, mask: Mapping[str, torch.Tensor],
                   input_shape: Sequence[int]) -> Optional[Mask]:
    """The kept weights that lie on some path from the input (one example of `input_shape`) to the
    output: a Mask over the same layers, a subset of `mask` (its density is the effective density);
    None where `path_from_input` gives no answer."""
    return connectivity(model, mask, input_shape).effective


def warn_cut_network(advice: str = "") -> None:
    """The warning a run gives when `path_from_input` found no path (`advice`: what to try); it
    points at the line that started the run's set-up."""
    warnings.warn("the mask cuts the network: no path of kept weights joins its input to its output, so the "
                  "output cannot depend on the input and plain training stays at chance (a recipe's ghost skip "
                  f"connections bridge convolutions after the first only). {advice}".rstrip(), RuntimeWarning,
                  stacklevel=4)
