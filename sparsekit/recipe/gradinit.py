"""GradInit-style layer-wise rescaling of the initialisation (the paper's LRsI). The rule of
one iteration and the scalar optimiser are in `gradinit_rule`; this file runs the iterations
and installs the result.

Which network the search fits, and with which gradient, is the `variant`:
- "dense-then-mask": the release's documented command (`LRsI/train_ticket.py`, its "type 1"):
  the search runs on the dense network before the mask is applied, then the mask zeroes the
  pruned weights. It runs before any other trick touches the network.
- "masked-network-dense-gradient": the release's `LRsI/train_ticket_type2.py` ("type 2"): the
  mask first, then the search with the dense gradient and a dense look-ahead step. At high
  sparsity almost all of that gradient sits on pruned weights, which the search then fits.
- "masked": the mask first, then the search with the gradient and the step restricted to the
  kept weights (the kit's variant: the scales fit the network that will train).
Every log keeps the norms of the driven gradient on kept weights, on pruned weights and on the
rest at the first and last iteration (`gradient_share`), so a record shows what was fitted.

Defaults are the release's README command: 180 iterations, Adam lr 1e-2, eta 0.1,
gamma 1, per-scale gradient clip 1, weight scales >= 0.01. The loss is the plain
cross-entropy even when the run uses label smoothing (the release's GradInit builds its own
`nn.CrossEntropyLoss`). BatchNorm uses batch statistics and its running statistics are left
as they were, like the release's `track_running_stats=False`. At the end the weights are
multiplied by their scales in place: pruned weights stay exactly zero.
"""
import hashlib
import itertools
from typing import Dict, Iterator, List

import torch
from torch import nn

from ..core.callbacks import Callback
from ..core.errors import SparsekitError
from . import search_cache
from .twice_differentiable import twice_differentiable
from .gradinit_rule import LOOKAHEAD, RescaleAdam, scale_floors, scale_gradient

WEIGHT_FLOOR = 0.01
LOG_EVERY = 10
DENSE_THEN_MASK, DENSE_GRADIENT, MASKED = "dense-then-mask", "masked-network-dense-gradient", "masked"
VARIANTS = (DENSE_THEN_MASK, DENSE_GRADIENT, MASKED)


def endless_batches(batches, batch_size: int = 0) -> Iterator:
    """Training batches, epoch after epoch (the trainer resets the epoch before training),
    re-cut to `batch_size` examples when it is given (0: as they come)."""
    def stream():
        for epoch in itertools.count():
            batches.set_epoch(epoch)
            yield from batches

    if not batch_size:
        yield from stream()
        return
    pending_x, pending_y = [], []
    for x, y in stream():
        pending_x.append(x)
        pending_y.append(y)
        x, y = torch.cat(pending_x), torch.cat(pending_y)
        while len(y) >= batch_size:
            yield x[:batch_size], y[:batch_size]
            x, y = x[batch_size:], y[batch_size:]
        pending_x, pending_y = [x], [y]


def fingerprint(model: nn.Module, mask, batches, settings: Dict[str, object]) -> str:
    """A digest of what a search depends on: the architecture as printed (activations and
    ghost branches included), every parameter and buffer, the mask, the first training batch
    of epoch 0 (the data stream is a pure function of the seed and epoch), and the settings."""
    digest = hashlib.sha256(repr(model).encode())
    for name, tensor in itertools.chain(model.state_dict().items(), sorted(mask.items())):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    batches.set_epoch(0)
    for tensor in next(iter(batches)):
        digest.update(tensor.cpu().contiguous().numpy().tobytes())
    digest.update(repr(sorted(settings.items())).encode())
    return digest.hexdigest()


def _summary(scales: torch.Tensor) -> Dict[str, float]:
    return {"scale_mean": float(scales.mean()), "scale_min": float(scales.min()), "scale_max": float(scales.max())}


def gradinit(model: nn.Module, mask, batches, device, iterations: int = 180, lr: float = 1e-2, eta: float = 0.1,
             gamma: float = 1.0, clip: float = 1.0, variant: str = DENSE_THEN_MASK, batch_size: int = 0,
             progress: bool = False) -> Dict[str, object]:
    """Rescale `model`'s parameters in place; returns a log of how the scales moved. The
    caller decides the network: dense for "dense-then-mask", masked for the other variants.
    Inside `search_cache.reuse_searches()` an identical earlier search supplies the scales,
    and the log says so (`reused`)."""
    if variant not in VARIANTS:
        raise SparsekitError(f"unknown GradInit variant {variant!r}; variants are: {', '.join(VARIANTS)}")
    settings = dict(iterations=iterations, lr=lr, eta=eta, gamma=gamma, clip=clip, variant=variant,
                    batch_size=batch_size)
    key = fingerprint(model, mask, batches, {**settings, "device": str(device)}) if search_cache.active() else None
    log = search_cache.lookup(key) if key is not None else None
    if log is None:
        # The random state is put back after the search: a network with dropout draws from it
        # there, and a search read back draws nothing, so without this the run after it (and
        # its resumption) would depend on whether the search ran.
        cuda = [torch.device(device).index or 0] if torch.device(device).type == "cuda" else []
        with twice_differentiable(model), torch.random.fork_rng(devices=cuda):
            log = _search(model, mask, batches, device, progress, **settings)
        if key is not None:
            search_cache.store(key, log)
        return {**log, "reused": False}
    with torch.no_grad():
        params = dict(model.named_parameters())
        for name, scale in log["scales"].items():
            params[name].mul_(scale)
    return {**log, "reused": True}


def _search(model: nn.Module, mask, batches, device, progress: bool, iterations: int, lr: float, eta: float,
            gamma: float, clip: float, variant: str, batch_size: int) -> Dict[str, object]:
    from tqdm.auto import tqdm  # here: the progress bar is the only user

    originals = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    names = list(originals)
    keep = {name: mask[name].to(device, originals[name].dtype) for name in mask} if variant == MASKED else None
    scales = torch.ones(len(names), device=device)
    optimizer = RescaleAdam(scale_floors(names, WEIGHT_FLOOR, device), lr=lr, clip=clip)
    nonzero = torch.tensor([bool(originals[n].any()) for n in names], device=device)
    saved_buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    was_training = model.training
    model.train()
    stream = ((x.to(device), y.to(device)) for x, y in endless_batches(batches, batch_size))

    history: List[Dict[str, object]] = []
    counts = {"gradient_norm": 0, "lookahead": 0}
    share = {}
    bar = tqdm(total=iterations, desc="gradinit", unit="it", dynamic_ncols=True) if progress else None
    for iteration in range(iterations):
        halves = (next(stream), next(stream))
        ends = iteration in (0, iterations - 1)
        result = scale_gradient(model, originals, scales, halves, lambda: next(stream), eta, gamma, keep,
                                diagnose=mask if ends else None)
        if ends:
            share["last" if iteration else "first"] = result.parts
        scales = optimizer.step(scales, result.scale_grad, result.branch, active=nonzero & (scales != 0))
        counts[result.branch] += 1
        if iteration % LOG_EVERY == 0 or iteration == iterations - 1:
            history.append({"iteration": iteration + 1, "objective": result.branch, "value": result.objective,
                            "grad_norm": result.grad_norm, **_summary(scales)})
        if bar is not None:
            bar.update(1)
            bar.set_postfix(branch="look-ahead" if result.branch == LOOKAHEAD else "norm",
                            grad_norm=f"{result.grad_norm:.3g}", scale_min=f"{float(scales.min()):.3g}")
    if bar is not None:
        bar.close()

    with torch.no_grad():
        params = dict(model.named_parameters())
        for index, name in enumerate(names):
            params[name].mul_(scales[index])
        buffers = dict(model.named_buffers())
        for name, value in saved_buffers.items():
            buffers[name].copy_(value)
    model.train(was_training)
    share.setdefault("last", share["first"])  # a one-iteration search: its first is its last
    return {"variant": variant, "iterations": iterations, "lr": lr, "eta": eta, "gamma": gamma,
            "batch_size": batch_size, "steps_by_objective": counts, "gradient_share": share,
            "scales": {name: float(scales[i]) for i, name in enumerate(names)}, "history": history}


class GradInit(Callback):
    """Runs `gradinit` once when a run starts (not when resuming: the checkpoint holds the
    weights): on the dense network before the mask ("dense-then-mask"), else at setup on the
    masked network. Its log goes into the run record's `init` section, kind "gradinit"."""

    record_section = "init"

    def __init__(self, iterations: int = 180, lr: float = 1e-2, eta: float = 0.1, gamma: float = 1.0,
                 variant: str = DENSE_THEN_MASK, batch_size: int = 0):
        self.iterations, self.lr, self.eta, self.gamma = iterations, lr, eta, gamma
        self.variant, self.batch_size = variant, batch_size
        self.log = None

    def before_mask(self, state) -> None:
        if self.variant == DENSE_THEN_MASK and not state.config.resume:
            self._run(state)

    def on_setup(self, state) -> None:
        if self.variant != DENSE_THEN_MASK and not state.config.resume:
            self._run(state)

    def _run(self, state) -> None:
        self.log = gradinit(state.model, state.mask, state.data.train, state.device, self.iterations, self.lr,
                            self.eta, self.gamma, variant=self.variant, batch_size=self.batch_size,
                            progress=state.config.progress)

    def record(self, state):
        return dict(self.log, kind="gradinit") if self.log is not None else None

    def state_dict(self):
        return {"log": self.log}

    def load_state_dict(self, state) -> None:
        self.log = state.get("log")
