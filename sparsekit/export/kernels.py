"""Per layer, the dense or a sparse kernel, whichever is fastest at the user's batch size.

Measured, not predicted: the CSR route wins on small maps with many channels at batch 1 and
loses on large maps or large batches (the im2col columns cost as much as the dense conv),
and where the crossover lies depends on the machine. Each layer's two kernels are timed
alternately on an input of the layer's real shape, and the fastest call of each decides (on a
shared machine the minimum is the estimate least disturbed by other work).
"""
import math
import time
from typing import Dict, List, Optional

import torch

from . import runtime
from .runtime import build_step, numba

ROUNDS = 7
# After the warm-up and two timed rounds, a kernel slower than this multiple of the fastest so far
# leaves the race: it could not win, and the slowest candidates are the ones whose remaining rounds
# would cost the most (dense at batch 64 on a very sparse layer, CSR on a dense one). Two rounds,
# not one, so that one call slowed by other work on a shared machine cannot put the winner out.
OUT_OF_RACE = 2.0


@torch.no_grad()
def time_all(functions, sample: torch.Tensor, rounds: int = ROUNDS):
    """Fastest-call milliseconds of each callable on one input, measured alternately (so a
    busy moment on a shared machine hits all), after one warm-up call each."""
    for fn in functions:
        fn(sample)
    times = [[] for _ in functions]
    for _ in range(rounds):
        for fn, bucket in zip(functions, times):
            began = time.perf_counter()
            fn(sample)
            bucket.append(time.perf_counter() - began)
    return [min(bucket) * 1e3 for bucket in times]


@torch.no_grad()
def race(functions, sample: torch.Tensor, rounds: int = ROUNDS, out_of_race: Optional[float] = None,
         clock=time.perf_counter) -> List[float]:
    """`time_all` for the candidates of one layer: the fastest-call milliseconds of each, where a
    candidate `out_of_race` (default `OUT_OF_RACE`) times slower than the fastest after two timed
    rounds is timed no further (its figure is its faster call of those two)."""
    out_of_race = OUT_OF_RACE if out_of_race is None else out_of_race
    for fn in functions:
        fn(sample)
    times = [[] for _ in functions]
    running = list(range(len(functions)))
    for round_index in range(rounds):
        for index in running:
            began = clock()
            functions[index](sample)
            times[index].append(clock() - began)
        if round_index == 1:
            best = min(min(bucket) for bucket in times)
            running = [index for index in running if min(times[index]) <= out_of_race * best]
    return [min(bucket) * 1e3 for bucket in times]


def candidates(spec: Dict, tensors: Dict, input_shape: tuple) -> List[Dict]:
    """The kernels worth timing for a step, each as the step's settings: the register-tiled
    kernel at each tile width wherever llvmlite builds it here, CSR beside the direct kernel only
    where numba provides the latter (without numba, "sparse" already is the CSR route), and the
    direct kernel's chunked all-images route ("sparse_flat") wherever it differs from "sparse":
    stride 1, or at least `DirectSparseConv.SMALL_PLANE` output positions."""
    names = ["dense", "sparse"]
    tiled = [{"kernel": runtime.TILED, "vectors": vectors} for vectors in runtime.tiled_kernel.VECTOR_COUNTS
             if runtime.tiled.kernel(vectors) is not None] if runtime.tiled and runtime.tiled_kernel else []
    if spec["op"] == "conv" and numba is not None:
        names.append("csr")
        k, s, p = int(tensors[spec["weight"]]["shape"][-1]), spec["stride"], spec["padding"]
        positions = math.prod((size + 2 * p - k) // s + 1 for size in input_shape[2:])
        if s == 1 or positions >= runtime.DirectSparseConv.SMALL_PLANE:
            names.append("sparse_flat")
    return [{"kernel": name} for name in names] + tiled


def _label(settings: Dict) -> str:
    return settings["kernel"] + (str(settings["vectors"]) if "vectors" in settings else "")


def choose(steps: List[Dict], tensors: Dict, input_shapes: Dict[int, tuple], mode: str = "auto") -> Dict[int, dict]:
    """Set each conv/linear step's "kernel" (see `runtime.SPARSE_KERNELS`, `runtime.TILED`) and,
    for the tiled kernel, its "vectors"; returns the timings per step. `mode` "dense", "sparse"
    or "tiled" forces one kernel wherever it applies (tests, ONNX)."""
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
            if spec["kernel"] == runtime.TILED:
                spec["vectors"] = max(runtime.tiled_kernel.VECTOR_COUNTS) if runtime.tiled_kernel else 4
            continue
        sample = torch.randn(input_shapes[index], generator=generator)
        options = candidates(spec, tensors, input_shapes[index])
        built = [build_step(dict(spec, **settings), tensors) for settings in options]
        measured = race(built, sample)
        fastest = options[measured.index(min(measured))]
        spec.update(fastest)
        timings[index] = {f"{_label(settings)}_ms": ms for settings, ms in zip(options, measured)}
        timings[index].update(fastest)
    return timings


def as_plan(steps: List[Dict], timings: Dict[int, dict]) -> List[Dict]:
    """The steps for a native plan (`runtime.ExportedNet`'s runner "plan"): every layer that a
    sparse kernel won takes the register-tiled kernel at its fastest timed tile width (the plan
    runs only that kernel natively; the others were timed with the per-step costs a plan
    removes); dense layers stay dense."""
    planned = []
    for index, spec in enumerate(steps):
        widths = {settings: ms for settings, ms in timings.get(index, {}).items()
                  if settings.startswith(runtime.TILED) and settings.endswith("_ms")}
        if spec.get("kernel", "dense") == "dense" or not widths:
            planned.append(spec)
            continue
        fastest = min(widths, key=widths.get)
        planned.append(dict(spec, kernel=runtime.TILED, vectors=int(fastest[len(runtime.TILED):-len("_ms")])))
    return planned


def choose_runner(payload: Dict, timings: Dict[int, dict], sample: torch.Tensor) -> Dict:
    """Time the network step by step and as a native plan, alternately on `sample`, and return
    the faster's payload (with "runner" set where the plan wins) and both timings, in ms."""
    if not (runtime.native_plan and runtime.native_plan.available()):
        return {"payload": payload, "steps_ms": None, "plan_ms": None}
    planned = dict(payload, steps=as_plan(payload["steps"], timings), runner="plan")
    networks = [runtime.from_payload(payload), runtime.from_payload(planned)]
    steps_ms, plan_ms = time_all(networks, sample)
    return {"payload": planned if plan_ms < steps_ms else payload, "steps_ms": steps_ms, "plan_ms": plan_ms}
