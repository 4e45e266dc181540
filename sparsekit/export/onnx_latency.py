"""Latency of any trained masked network three ways: as it is in PyTorch, as the kit's export,
and as the usual deployment route - the masked network written to ONNX and run by ONNX Runtime
(which multiplies the zeros like any dense network). Timed alternately in one process, so a
busy moment on a shared machine hits all three alike."""
import copy
import os
import tempfile
import warnings
from typing import Dict, Sequence

import numpy as np
import torch
from torch import nn

from ..core.errors import SparsekitError
from .exporter import export
from .latency import alternating_ms


def _onnx_session(model: nn.Module, sample: torch.Tensor, folder: str):
    try:
        import onnxruntime
    except ImportError:
        raise SparsekitError("the ONNX Runtime comparison needs onnx and onnxruntime (pip install onnx "
                             "onnxruntime)") from None
    path = os.path.join(folder, "masked.onnx")
    with warnings.catch_warnings():  # the tracer's notes on constant shapes are expected here
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (sample,), path, input_names=["images"], output_names=["logits"], dynamo=False)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


@torch.no_grad()
def compare_with_onnxruntime(model: nn.Module, mask, input_shape: Sequence[int], batch_size: int = 1,
                             rounds: int = 7, seed: int = 0) -> Dict[str, float]:
    """Median milliseconds per batch of the masked model in PyTorch, its export and ONNX Runtime,
    and each one's largest |logit difference| from the masked PyTorch model."""
    masked = mask.apply(copy.deepcopy(model).cpu().float().eval())
    sample = torch.randn((batch_size,) + tuple(input_shape), generator=torch.Generator().manual_seed(seed))
    exported = export(masked, mask, batch_size=batch_size, input_shape=tuple(input_shape))
    with tempfile.TemporaryDirectory() as folder:
        session = _onnx_session(masked, sample, folder)
        run_onnx = lambda x: session.run(None, {"images": x.numpy()})[0]  # noqa: E731
        expected = masked(sample).numpy()
        times = alternating_ms([masked, exported, run_onnx], sample, rounds)
        return {"batch": batch_size, "masked_ms": times[0], "exported_ms": times[1], "onnxruntime_ms": times[2],
                "exported_max_diff": float(np.abs(exported(sample).numpy() - expected).max()),
                "onnxruntime_max_diff": float(np.abs(run_onnx(sample) - expected).max()),
                "threads": torch.get_num_threads()}
