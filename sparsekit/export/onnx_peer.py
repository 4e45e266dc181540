"""The peer a user would pick for fast CPU inference: ONNX Runtime running the dense (or the
masked-dense) network's ONNX file. Used by the latency benchmark to time the export against it."""
import os
import tempfile
import warnings

import torch

from ..core.errors import SparsekitError


def ort_session(model: torch.nn.Module, sample: torch.Tensor, threads: int):
    """A function images -> logits running `model` exported to ONNX in ONNX Runtime
    (CPUExecutionProvider, `threads` intra-op threads, every graph optimisation on)."""
    try:
        import onnxruntime
    except ImportError:
        raise SparsekitError("the ONNX Runtime columns need the onnx and onnxruntime packages "
                             "(pip install onnx onnxruntime)") from None
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "peer.onnx")
        with warnings.catch_warnings(), torch.no_grad():  # the tracer's notes on constant shapes are expected
            warnings.simplefilter("ignore")
            torch.onnx.export(model.eval(), (sample,), path, input_names=["images"], output_names=["logits"],
                              dynamo=False)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def run(images: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {"images": images.numpy()})[0])
    return run
