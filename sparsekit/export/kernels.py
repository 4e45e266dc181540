"""Per layer, the dense or the sparse kernel, whichever is faster at the user's batch size.

Measured, not predicted: the CSR route wins on small maps with many channels at batch 1 and
loses on large maps or large batches (the im2col columns cost as much as the dense conv),
and where the crossover lies depends on the machine. Each layer's two kernels are timed
alternately on an input of the layer's real shape, and the fastest call of each decides (on a
shared machine the minimum is the estimate least disturbed by other work).
"""
import time
from typing import Dict, List

import torch

from .runtime import build_step

ROUNDS = 7


@torch.no_grad()
def time_pair(first, second, sample: torch.Tensor, rounds: int = ROUNDS):
    """Fastest-call milliseconds of two callables on one input, measured alternately (so a
    busy moment on a shared machine hits both), after one warm-up call each."""
    first(sample), second(sample)
    times = ([], [])
    for _ in range(rounds):
        for fn, bucket in ((first, times[0]), (second, times[1])):
            began = time.perf_counter()
            fn(sample)
            bucket.append(time.perf_counter() - began)
    return min(times[0]) * 1e3, min(times[1]) * 1e3


def choose(steps: List[Dict], tensors: Dict, input_shapes: Dict[int, tuple], mode: str = "auto") -> Dict[int, dict]:
    """Set each conv/linear step's "kernel" ("dense"/"sparse"); returns the timings per step.
    `mode` "dense" or "sparse" forces one kernel wherever it applies (tests, ONNX)."""
    timings = {}
    generator = torch.Generator().manual_seed(0)
    for index, spec in enumerate(steps):
        if spec["op"] not in ("conv", "linear"):
            continue
        rows = spec["out_channels"]
        # A layer whose every input channel died reads nothing: its bias is all it computes.
        sparse_possible = spec.get("groups", 1) == 1 and rows > 0 and input_shapes[index][1] > 0
        if mode != "auto" or not sparse_possible:
            spec["kernel"] = mode if mode != "auto" and sparse_possible else "dense"
            continue
        sample = torch.randn(input_shapes[index], generator=generator)
        dense = build_step(dict(spec, kernel="dense"), tensors)
        sparse = build_step(dict(spec, kernel="sparse"), tensors)
        dense_ms, sparse_ms = time_pair(dense, sparse, sample)
        spec["kernel"] = "sparse" if sparse_ms < dense_ms else "dense"
        timings[index] = {"dense_ms": dense_ms, "sparse_ms": sparse_ms, "kernel": spec["kernel"]}
    return timings
