"""Latency of dense vs masked-dense vs exported networks (and, optionally, ONNX Runtime on the
dense and masked-dense ONNX files), measured alternately in one process.

Shared by `benchmarks/sparse_inference.py` and notebook 15. The networks are seeded
initialisations pruned by a mask method, either as initialised (`train_steps=0`: BN at its
identity init, so a fully pruned channel outputs exactly 0 and dead-unit removal is at its
most effective: the best case) or briefly trained on Fashion-MNIST (`train_steps > 0`: BN
statistics and biases are real, and a trained BN bias can keep a pruned channel alive as a
constant that a later conv must still read). Latency depends on the sparsity pattern, the
dead units and the kernels, not on how well the network classifies.
"""
import functools
import io
import os
import statistics
import tempfile
import time
from typing import Callable, Dict, List, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ..core.errors import SparsekitError
from .. import data, sparsity as masks, models
from ..training.masking import MaskEnforcer
from ..training.step import train_step
from . import runtime
from .exporter import export
from .onnx_peer import ort_session


def train_briefly(model: nn.Module, mask, steps: int, batch_size: int, input_size: int, seed: int) -> float:
    """Train the masked `model` for `steps` SGD steps on Fashion-MNIST (grey images padded to
    `input_size` and repeated over the model's input channels) with the trainer's step, so
    BN's running statistics and biases are a trained network's; returns the last loss."""
    bundle = data.load("fashion_mnist", batch_size=batch_size, seed=seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    enforcer = MaskEnforcer(model, mask)
    loss_fn, channels = nn.CrossEntropyLoss(), model_input_channels(model)
    model.train()
    loss, done = float("nan"), 0
    while done < steps:
        for x, y in bundle.train:
            margin = input_size - x.shape[-1]
            x = F.pad(x, [margin // 2, margin - margin // 2] * 2).expand(-1, channels, -1, -1).contiguous()
            loss = float(train_step(model, optimizer, loss_fn, x, y, enforcer)[0])
            done += 1
            if done == steps:
                break
    model.eval()
    return loss


def model_input_channels(model: nn.Module) -> int:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d)).in_channels


@functools.lru_cache(maxsize=2)  # the benchmark times one network at several batch sizes and thread counts
def masked_models(name: str, method: str, sparsity: float, width: float = 1.0, input_size: int = 32,
                  seed: int = 0, num_classes: int = 10, train_steps: int = 0, train_batch: int = 16):
    """(dense model, the same weights masked, the mask, last training loss or None), in eval
    mode. Data-driven methods (SNIP, GraSP) score one random batch of 32 images (seeded)."""
    torch.manual_seed(seed)
    model = models.build(name, num_classes, width=width, input_size=input_size).eval()
    generator = torch.Generator().manual_seed(seed)
    batch = (torch.randn((32, 3, input_size, input_size), generator=generator),
             torch.randint(0, num_classes, (32,), generator=generator))
    mask = masks.compute(method, model, sparsity, data=[batch], seed=seed)
    mask.apply(model)
    loss = train_briefly(model, mask, train_steps, train_batch, input_size, seed) if train_steps else None
    dense = models.build(name, num_classes, width=width, input_size=input_size).eval()
    dense.load_state_dict(model.state_dict())  # the same weights (its speed does not depend on their zeros)
    return dense, model.eval(), mask, loss


def alternating_times(functions: Sequence[Callable], sample: torch.Tensor, rounds: int) -> List[List[float]]:
    """Seconds of each function's calls, called in turn `rounds` times after a warm-up, so a
    busy moment on a shared machine hits all of them alike."""
    with torch.no_grad():
        for fn in functions:
            fn(sample)
        samples = [[] for _ in functions]
        for _ in range(rounds):
            for fn, bucket in zip(functions, samples):
                began = time.perf_counter()
                fn(sample)
                bucket.append(time.perf_counter() - began)
    return samples


def alternating_ms(functions: Sequence[Callable], sample: torch.Tensor, rounds: int) -> List[float]:
    """Median milliseconds of each function (see `alternating_times`)."""
    return [statistics.median(bucket) * 1e3 for bucket in alternating_times(functions, sample, rounds)]


def checkpoint_bytes(model: torch.nn.Module) -> int:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


RUNTIME_LAYERS = (runtime.DenseConv, runtime.SparseConv, runtime.DirectSparseConv, runtime.DenseLinear,
                  runtime.SparseLinear) + ((runtime.tiled.TiledSparseConv, runtime.tiled.TiledSparseLinear)
                                           if runtime.tiled is not None else ())


def _weights_used(module: nn.Module) -> int:
    """Non-zero weights a conv/linear step multiplies by (sparse kernels store only those)."""
    if hasattr(module, "values"):  # the direct and the register-tiled kernels
        return int(module.values.count_nonzero())
    if hasattr(module, "taps"):
        return sum(matrix.values().count_nonzero().item() for _, _, matrix in module.taps)
    if hasattr(module, "matrix") and module.matrix is not None:
        return module.matrix.values().count_nonzero().item()
    return int(module.weight.count_nonzero())


@torch.no_grad()
def multiply_adds(model: nn.Module, sample: torch.Tensor, kept_only: bool) -> int:
    """Multiply-adds of the network's convs and linears on `sample`: every weight times every
    output position (`kept_only=False`, torch models: what a dense kernel does), or only the
    non-zero ones (torch or exported models: what a perfect sparse kernel must do, the
    physical limit)."""
    total = [0]

    def count(module, _inputs, output):
        output = runtime.plain(output)
        weights = _weights_used(module) if kept_only else module.weight.numel()
        positions = output.shape[0] * (output[0, 0].numel() if output.dim() == 4 else 1)
        total[0] += weights * positions
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear) + RUNTIME_LAYERS)]
    handles = [m.register_forward_hook(count) for m in layers]
    try:
        getattr(model, "run_steps", model)(sample)  # an exported network's plan runs no hooks
    finally:
        for handle in handles:
            handle.remove()
    return total[0]


def measure(name: str, method: str, sparsity: float, batch_size: int, threads: int, rounds: int,
            width: float = 1.0, input_size: int = 32, with_unremoved: bool = False, with_ort: bool = False,
            train_steps: int = 0, with_torch: bool = True) -> Dict:
    """One row: latencies (ms, medians; `*_min_ms` the fastest calls), their ratios to dense,
    kernel choices, multiply-adds and file sizes. `with_unremoved` also times an export that
    keeps dead units (what their removal buys); `with_ort` times ONNX Runtime on the dense and
    the masked-dense ONNX files; `with_torch=False` leaves out torch's dense and masked-dense
    networks (and the ratio to them; needs `with_ort`); `train_steps` > 0 trains the network
    first (see the module)."""
    if not (with_torch or with_ort):
        raise SparsekitError("latency: with_torch=False needs with_ort=True (something to compare the export with)")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _measure(name, method, sparsity, batch_size, rounds, width, input_size, with_unremoved, with_ort,
                        train_steps, with_torch) | {"threads": threads}
    finally:
        torch.set_num_threads(previous)


def _measure(name, method, sparsity, batch_size, rounds, width, input_size, with_unremoved, with_ort,
             train_steps, with_torch) -> Dict:
    dense, masked, mask, loss = masked_models(name, method, sparsity, width, input_size, train_steps=train_steps)
    shape = (3, input_size, input_size)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "net.skx")
        exported = export(masked, mask, batch_size=batch_size, path=path, input_shape=shape)
        file_bytes = os.path.getsize(path)
    networks = {"dense": dense, "masked": masked, "exported": exported} if with_torch else {"exported": exported}
    sample = torch.randn((batch_size,) + shape, generator=torch.Generator().manual_seed(1))
    if with_ort:
        networks["ort_dense"] = ort_session(dense, sample, torch.get_num_threads())
        networks["ort_masked"] = ort_session(masked, sample, torch.get_num_threads())
    if with_unremoved:
        networks["unremoved"] = export(masked, mask, batch_size=batch_size, input_shape=shape, remove_dead=False)
    with torch.no_grad():
        difference = (exported(sample) - masked(sample)).abs().max().item()
    samples = dict(zip(networks, alternating_times(list(networks.values()), sample, rounds)))
    layers = [spec for spec in exported.specs if spec["op"] in runtime.LAYER_OPS]  # as the chosen runner runs them
    row = {"model": name, "mask": method, "sparsity": sparsity, "batch": batch_size, "train_steps": train_steps,
           "train_loss": loss, "layers": len(layers),
           "sparse_layers": sum(spec["kernel"] != "dense" for spec in layers),
           "tiled_layers": sum(spec["kernel"] == runtime.TILED for spec in layers),
           "runner": exported.runner,
           "dense_bytes": checkpoint_bytes(dense), "file_bytes": file_bytes, "max_diff": difference,
           "dense_madds": multiply_adds(dense, sample, kept_only=False),
           "exported_madds": multiply_adds(exported, sample, kept_only=True)}
    for key, bucket in samples.items():
        row[f"{key}_ms"] = statistics.median(bucket) * 1e3
        row[f"{key}_min_ms"] = min(bucket) * 1e3
    if with_torch:
        row["ratio"] = row["exported_ms"] / row["dense_ms"]
    if with_ort:
        row["ort_ratio"] = row["exported_ms"] / row["ort_dense_ms"]
    if with_unremoved and with_torch:
        row["unremoved_ratio"] = row["unremoved_ms"] / row["dense_ms"]
    return row
