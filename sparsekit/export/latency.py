"""Latency of dense vs masked-dense vs exported networks, measured alternately in one process.

Shared by `benchmarks/sparse_inference.py` and notebook 15. The networks are seeded
initialisations pruned by a mask method: latency depends on the sparsity pattern only, not on
trained values. BN is at its identity init, so a fully pruned channel outputs exactly 0 and
dead-unit removal is at its most effective (a trained BN bias can keep such a channel alive
as a constant that a padded conv must still read).
"""
import io
import os
import statistics
import tempfile
import time
from typing import Callable, Dict, List, Sequence

import torch

from .. import sparsity as masks, models
from .exporter import export


def masked_models(name: str, method: str, sparsity: float, width: float = 1.0, input_size: int = 32,
                  seed: int = 0, num_classes: int = 10):
    """(dense model, the same weights masked, the mask), both in eval mode. Data-driven
    methods (SNIP, GraSP) score one random batch of 32 images (seeded)."""
    torch.manual_seed(seed)
    model = models.build(name, num_classes, width=width, input_size=input_size).eval()
    generator = torch.Generator().manual_seed(seed)
    batch = (torch.randn((32, 3, input_size, input_size), generator=generator),
             torch.randint(0, num_classes, (32,), generator=generator))
    mask = masks.compute(method, model, sparsity, data=[batch], seed=seed)
    dense = models.build(name, num_classes, width=width, input_size=input_size).eval()
    dense.load_state_dict(model.state_dict())  # the same weights, unpruned
    return dense, mask.apply(model).eval(), mask


@torch.no_grad()
def alternating_ms(functions: Sequence[Callable], sample: torch.Tensor, rounds: int) -> List[float]:
    """Median milliseconds of each function, called in turn `rounds` times after a warm-up,
    so a busy moment on a shared machine hits all of them alike."""
    for fn in functions:
        fn(sample)
    samples = [[] for _ in functions]
    for _ in range(rounds):
        for fn, bucket in zip(functions, samples):
            began = time.perf_counter()
            fn(sample)
            bucket.append(time.perf_counter() - began)
    return [statistics.median(bucket) * 1e3 for bucket in samples]


def checkpoint_bytes(model: torch.nn.Module) -> int:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def measure(name: str, method: str, sparsity: float, batch_size: int, threads: int, rounds: int,
            width: float = 1.0, input_size: int = 32, with_unremoved: bool = False) -> Dict:
    """One row: latencies (ms), their ratios to dense, kernel choices and file sizes.
    `with_unremoved` also times an export that keeps dead units (what their removal buys)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _measure(name, method, sparsity, batch_size, rounds, width, input_size, with_unremoved) | {
            "threads": threads}
    finally:
        torch.set_num_threads(previous)


def _measure(name, method, sparsity, batch_size, rounds, width, input_size, with_unremoved) -> Dict:
    dense, masked, mask = masked_models(name, method, sparsity, width, input_size)
    shape = (3, input_size, input_size)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "net.skx")
        exported = export(masked, mask, batch_size=batch_size, path=path, input_shape=shape)
        file_bytes = os.path.getsize(path)
    networks = [dense, masked, exported]
    if with_unremoved:
        networks.append(export(masked, mask, batch_size=batch_size, input_shape=shape, remove_dead=False))
    sample = torch.randn((batch_size,) + shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        difference = (exported(sample) - masked(sample)).abs().max().item()
    times = alternating_ms(networks, sample, rounds)
    kernels = exported.report["kernels"].values()
    row = {"model": name, "mask": method, "sparsity": sparsity, "batch": batch_size,
           "dense_ms": times[0], "masked_ms": times[1], "exported_ms": times[2], "ratio": times[2] / times[0],
           "sparse_layers": sum(k["kernel"] == "sparse" for k in kernels), "layers": len(kernels),
           "dense_bytes": checkpoint_bytes(dense), "file_bytes": file_bytes, "max_diff": difference}
    if with_unremoved:
        row.update(unremoved_ms=times[3], unremoved_ratio=times[3] / times[0])
    return row
