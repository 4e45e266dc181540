"""The exported network as ONNX (dense kernels: ONNX has no CSR conv), checked with
onnxruntime against the PyTorch runtime before the file is kept."""
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from ..core.errors import SparsekitError
from .runtime import from_payload

TOLERANCE = 1e-4


def write_onnx(payload: dict, path, batch_size: int = 1) -> float:
    """Write `path` (atomically) and return the max |logit difference| onnxruntime vs torch."""
    try:
        import onnxruntime
    except ImportError:
        raise SparsekitError("--onnx needs the onnx and onnxruntime packages (pip install onnx onnxruntime)") from None
    net = from_payload(payload, kernels="dense")
    sample = torch.randn([batch_size] + list(payload["input_shape"]), generator=torch.Generator().manual_seed(0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        with warnings.catch_warnings():  # the tracer's notes on constant shapes are expected here
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (sample,), temporary, input_names=["images"], output_names=["logits"],
                              dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
        session = onnxruntime.InferenceSession(temporary, providers=["CPUExecutionProvider"])
        (got,) = session.run(None, {"images": sample.numpy()})
        with torch.no_grad():
            difference = float(np.abs(got - net(sample).numpy()).max())
        if not difference <= TOLERANCE:
            raise SparsekitError(f"ONNX check failed: onnxruntime differs from PyTorch by {difference:.3g}")
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return difference
