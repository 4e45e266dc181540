"""Run an exported sparse network: a plain `nn.Module` rebuilt from one file.

This module imports only torch (no sparsekit), so an exported file can be served by copying
this file, with `tiled.py`, `tiled_kernel.py`, `native_plan.py`, `native_ops.py` and `compiled.py`
beside it (with llvmlite installed, sparse convs and linears run the register-tiled kernels of
`tiled.py`, and a file whose "runner" is "plan" runs as one prepared native plan per input shape;
with numba, the direct kernels of `compiled.py`; without them, torch's dense or CSR routes, step
by step: the same results, slower):

    net = load_exported("model.skx")          # nn.Module in eval mode
    logits = net(images)

The file holds a list of steps (conv, linear, activation, add, pooling, flatten), each reading
earlier steps' outputs by index; slot 0 is the input. Weights are stored compressed (CSR or
bitmask + values, whichever is smaller per tensor) and each conv/linear step names the kernel
the exporter timed fastest for it: "dense" (torch's conv/matmul), "sparse" (a direct sparse
convolution compiled by numba when numba is installed, routed by plane size, else the CSR route),
"sparse_flat" (the same, always over all images' planes at once; files that name it also load
in runtimes that predate it, which run it dense) or "csr" (torch CSR times the input's shifted
views or im2col columns) or "tiled" (the register-tiled kernel of `tiled.py`, with the step's
"vectors" accumulators per tile; where it cannot be built, the step runs dense, and so do
runtimes that predate it).
"""
import importlib
import importlib.util
import math
import sys
import threading
import warnings
from pathlib import Path
from typing import Dict, List

import torch
from torch import nn
from torch.nn import functional as F


def _sibling(name: str):
    """A module of this folder (`compiled`: the numba loops; `tiled`, `tiled_kernel`: the
    register-tiled layers and their kernel), imported from the sparsekit package or, for a lone
    copy of the runtime, from the file beside this one; None where it or what it needs (numba,
    llvmlite) is absent: the layers it would serve then run torch's routes, with the same
    results. A lone copy's module is registered in `sys.modules` under a fixed name, so numba's
    disk cache can find it again in the next process (unregistered, numba records its module as
    '<dynamic>' and the next process fails to import that name)."""
    if __package__:
        try:
            return importlib.import_module(f"{__package__}.{name}")
        except ImportError:
            return None
    fixed = f"exported_network_runtime_{name}"
    if fixed in sys.modules:
        return sys.modules[fixed]
    beside = Path(__file__).with_name(f"{name}.py")
    try:
        spec = importlib.util.spec_from_file_location(fixed, beside)
        module = importlib.util.module_from_spec(spec)
        sys.modules[fixed] = module
        spec.loader.exec_module(module)
        return module
    except (ImportError, OSError):  # pragma: no cover - the file or what it imports absent
        sys.modules.pop(fixed, None)
        return None


compiled = _sibling("compiled")
numba = compiled.numba if compiled is not None else None  # None: the CSR route serves "sparse"
tiled = _sibling("tiled")
tiled_kernel = _sibling("tiled_kernel")
if tiled is not None and tiled.generated is None:  # a lone copy: the layers' kernel file loaded beside them
    tiled.generated = tiled_kernel
native_plan = _sibling("native_plan")
if native_plan is not None and native_plan.native_ops is None:  # a lone copy: its two siblings beside it
    native_plan.native_ops, native_plan.tiled = _sibling("native_ops"), tiled


# A constant, never a module path (sparsekit.core.formats.EXPORTED; a test holds them equal).
FILE_FORMAT = "sparsekit.exported/1"
READS = (FILE_FORMAT,)  # this format and every earlier one


# ---- weight storage ----------------------------------------------------------------------
def to_csr(matrix: torch.Tensor) -> torch.Tensor:
    """A CSR copy of a 2-D tensor, without torch's note that CSR support is in beta."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return matrix.to_sparse_csr()


def decode_weight(stored: Dict) -> torch.Tensor:
    """The dense float tensor an encoded weight describes (see `sparsekit.export.storage`)."""
    shape = tuple(int(s) for s in stored["shape"])
    encoding = stored["encoding"]
    if encoding == "dense":
        return stored["values"].float().reshape(shape)
    rows = shape[0]
    cols = math.prod(shape[1:])
    if encoding == "csr":
        # Invariants checked: a damaged file must fail here, not crash a later matmul.
        matrix = torch.sparse_csr_tensor(stored["crow"].long(), stored["col"].long(), stored["values"].float(),
                                         size=(rows, cols), check_invariants=True)
        return matrix.to_dense().reshape(shape)
    if encoding == "bitmask":
        bits = stored["bits"].to(torch.uint8)
        weights = 1 << torch.arange(8, dtype=torch.uint8)
        kept = ((bits.unsqueeze(1) & weights) != 0).flatten()[: rows * cols]
        dense = torch.zeros(rows * cols)
        dense[kept] = stored["values"].float()
        return dense.reshape(shape)
    raise ValueError(f"unknown weight encoding {encoding!r}")


# ---- steps -------------------------------------------------------------------------------
class DenseConv(nn.Module):
    """A folded conv (BN and ghost branches already inside weight and bias)."""

    def __init__(self, weight, bias, stride: int, padding: int, groups: int, gather=None):
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)
        self.stride, self.padding, self.groups = stride, padding, groups
        # Depthwise convs whose input kept other channels than their output read a subset.
        self.register_buffer("gather", gather)
        self.relu = False  # a following ReLU, applied in place on the conv's fresh output

    def forward(self, x):
        if self.gather is not None:
            x = x.index_select(1, self.gather)
        if self.weight.shape[0] == 0 or x.shape[1] == 0:
            # Every output channel was removed (torch rejects groups=0), or every input died and
            # the kept outputs are their biases (torch's conv would return no channels).
            size = [(d + 2 * self.padding - self.weight.shape[-1]) // self.stride + 1 for d in x.shape[2:]]
            out = self.bias.reshape(1, -1, 1, 1).expand([x.shape[0], self.weight.shape[0]] + size).contiguous()
        else:
            out = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, 1, self.groups)
        return out.relu_() if self.relu else out


class SparseConv(nn.Module):
    """conv2d with CSR weights, two ways (each measured faster on CPU than F.unfold):
    - stride 1: one CSR matrix per kernel tap times a *shifted view* of the padded input,
      flattened row by row: on the padded width every tap's input is one contiguous slice, so
      no im2col copy is made; the k-1 extra columns per output row are cropped at the end;
    - strided: im2col columns from k*k strided slices, (channel, tap) rows x (batch,
      position) columns, times the whole CSR matrix."""

    def __init__(self, weight, bias, stride: int, padding: int):
        super().__init__()
        self.out_channels, _, self.kernel, _ = weight.shape
        self.stride, self.padding = stride, padding
        self.register_buffer("bias", bias.reshape(-1, 1))
        if stride == 1:
            self.taps = [(i, j, to_csr(weight[:, :, i, j].contiguous()))
                         for i in range(self.kernel) for j in range(self.kernel) if weight[:, :, i, j].any()]
        else:
            self.register_buffer("matrix", to_csr(weight.reshape(self.out_channels, -1)))

    def forward(self, x):
        return self._shifted(x) if self.stride == 1 else self._columns(x)

    def _shifted(self, x):
        batch, channels, height, width = x.shape
        k, p = self.kernel, self.padding
        wide = width + 2 * p
        out_h, out_w = height + 2 * p - k + 1, wide - k + 1
        # One spare zero row at the bottom keeps the last tap's slice inside the plane.
        padded = F.pad(x, [p, p, p, p + 1]).transpose(0, 1).reshape(channels, -1)
        plane = (height + 2 * p + 1) * wide
        length = (batch - 1) * plane + out_h * wide
        out = self.bias.expand(self.out_channels, length).clone()
        for i, j, matrix in self.taps:
            offset = i * wide + j
            out.addmm_(matrix, padded[:, offset:offset + length])
        out = F.pad(out, [0, batch * plane - length]).reshape(self.out_channels, batch, -1, wide)
        return out[:, :, :out_h, :out_w].transpose(0, 1)

    def _columns(self, x):
        columns, (batch, out_h, out_w) = im2col(x, self.kernel, self.stride, self.padding)
        out = torch.addmm(self.bias, self.matrix, columns)
        return out.reshape(self.out_channels, batch, out_h, out_w).transpose(0, 1)


def im2col(x: torch.Tensor, kernel: int, stride: int, padding: int):
    """((channel, tap) rows x (image, position) columns, (batch, out_h, out_w)), from k*k
    strided slices (measured faster than F.unfold on CPU)."""
    batch, _, height, width = x.shape
    k, s = kernel, stride
    out_h = (height + 2 * padding - k) // s + 1
    out_w = (width + 2 * padding - k) // s + 1
    padded = F.pad(x, [padding] * 4) if padding else x
    by_channel = padded.transpose(0, 1)  # C, N, H, W
    taps = [by_channel[:, :, i:i + s * (out_h - 1) + 1:s, j:j + s * (out_w - 1) + 1:s]
            for i in range(k) for j in range(k)]
    return torch.stack(taps, 1).reshape(-1, batch * out_h * out_w), (batch, out_h, out_w)


class DirectSparseConv(nn.Module):
    """conv2d over the kept weights only, by the compiled loops of `compiled.py` (numba):
    stride-1 convs whose output is as large as their input run on whole flattened planes,
    others row by row; under SMALL_PLANE positions, stride-1 convs run over all images' padded
    planes at once and strided ones multiply the im2col columns; `flat` takes these two routes
    at every plane size, stride-1 ones in cache-sized chunks of images (faster on some layers,
    slower on others: the exporter times both).
    `relu` folds a following ReLU into the same pass."""

    SMALL_PLANE = 100  # positions (8x8 and below): measured, the per-plane routes lose there
    CHUNK_INPUTS = 65536  # input values per chunk of the all-images route (256 KB of float32)

    def __init__(self, weight, bias, stride: int, padding: int, relu: bool = False, flat: bool = False):
        super().__init__()
        self.out_channels, _, self.kernel, _ = weight.shape
        self.stride, self.padding, self.relu, self.flat = stride, padding, relu, flat
        self.register_buffer("bias", bias.float().contiguous())
        matrix = weight.reshape(self.out_channels, -1)
        kept = matrix.nonzero()  # row-major: grouped by output channel, as `starts` needs
        self.register_buffer("values", matrix[kept[:, 0], kept[:, 1]].float().contiguous())
        counts = torch.bincount(kept[:, 0], minlength=self.out_channels)
        self.register_buffer("starts", torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)]))
        taps = self.kernel * self.kernel
        self.register_buffer("indices", kept[:, 1].contiguous())
        self.register_buffer("channels", (kept[:, 1] // taps).contiguous())
        self.register_buffer("tap_rows", (kept[:, 1] % taps // self.kernel).contiguous())
        self.register_buffer("tap_cols", (kept[:, 1] % self.kernel).contiguous())

    def forward(self, x):
        threads = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
        if threads > 1:
            numba.set_num_threads(threads)
        # One thread: the serial build, on the calling thread (see `compiled.py`).
        same, general, rows_times_columns, shifted = compiled.compiled(parallel=threads > 1)
        batch, channels, height, width = x.shape
        k, p, s = self.kernel, self.padding, self.stride
        out_h, out_w = (height + 2 * p - k) // s + 1, (width + 2 * p - k) // s + 1
        flat = self.flat or out_h * out_w < self.SMALL_PLANE
        if s == 1 and flat:
            # Each image padded, all images of a channel back to back, a zero tail for the last
            # window: one copy of the input (im2col would be k*k copies).
            tall, wide = height + 2 * p, width + 2 * p
            padded = torch.zeros(channels, batch * tall * wide + (k - 1) * (wide + 1))
            padded[:, :batch * tall * wide].view(channels, batch, tall, wide)[:, :, p:p + height, p:p + width] = \
                x.transpose(0, 1)
            out = torch.empty(self.out_channels, batch * tall * wide)
            offsets = self.tap_rows * wide + self.tap_cols
            # `flat`: whole images per chunk, enough for about CHUNK_INPUTS input values over all
            # channels (the L2 cache); else one chunk (longer runs, which win on some small planes).
            images = max(1, min(batch, self.CHUNK_INPUTS // max(1, channels * tall * wide))) if self.flat else batch
            shifted(padded.numpy(), self.starts.numpy(), self.channels.numpy(), offsets.numpy(), self.values.numpy(),
                    self.bias.numpy(), out.numpy(), self.relu, images * tall * wide)
            return out.view(self.out_channels, batch, tall, wide)[:, :, :out_h, :out_w].transpose(0, 1)
        if flat:
            # Small planes: per-weight runs would be a few elements long; the im2col columns are
            # small here, and each run then spans every image's positions.
            columns, _ = im2col(x, k, s, p)
            out = torch.empty(self.out_channels, batch * out_h * out_w)
            rows_times_columns(columns.numpy(), self.starts.numpy(), self.indices.numpy(), self.values.numpy(),
                               self.bias.numpy(), out.numpy(), self.relu)
            return out.reshape(self.out_channels, batch, out_h, out_w).transpose(0, 1)
        out = torch.empty(batch, self.out_channels, out_h, out_w)
        x = x.contiguous()
        common = (self.starts.numpy(), self.channels.numpy(), self.tap_rows.numpy(), self.tap_cols.numpy(),
                  self.values.numpy(), self.bias.numpy(), out.numpy())
        if s == 1 and (out_h, out_w) == (height, width):
            flat = common[:-1] + (out.numpy().reshape(batch, self.out_channels, -1),)
            same(x.reshape(batch, x.shape[1], -1).numpy(), *flat, width, p, self.relu)
        else:
            general(x.numpy(), *common, s, p, self.relu)
        return out


class DenseLinear(nn.Module):
    def __init__(self, weight, bias):
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class SparseLinear(nn.Module):
    def __init__(self, weight, bias):
        super().__init__()
        self.register_buffer("matrix", to_csr(weight))
        self.register_buffer("bias", bias.reshape(-1, 1))

    def forward(self, x):
        return (self.matrix @ x.t() + self.bias).t()


SMOOTH = {"swish": F.silu, "mish": F.mish, "pswish": None}
# The other networks' own activations (torchvision, timm), applied as they are.
PLAIN = {"relu": F.relu, "relu6": F.relu6, "silu": F.silu, "hardswish": F.hardswish, "hardsigmoid": F.hardsigmoid,
         "sigmoid": torch.sigmoid, "gelu": F.gelu, "gelu_tanh": lambda x: F.gelu(x, approximate="tanh")}


class Activation(nn.Module):
    """A plain activation (`PLAIN`), or a ghost neuron's smooth function (swish, pswish, mish), optionally
    clipped at `upper` and blended with the ReLU by `strength` as in training."""

    def __init__(self, kind: str, beta: float = 2.0, upper=None, strength: float = 1.0):
        super().__init__()
        self.kind, self.beta, self.upper, self.strength = kind, beta, upper, strength

    def forward(self, x):
        if self.kind in PLAIN:
            return PLAIN[self.kind](x)
        if self.kind not in SMOOTH:
            raise ValueError(f"unknown activation {self.kind!r}")
        smooth = x * torch.sigmoid(self.beta * x) if self.kind == "pswish" else SMOOTH[self.kind](x)
        clipped = self.upper is not None
        if clipped:
            smooth = torch.clamp(smooth, max=self.upper)
        if self.strength < 1.0:  # mid-way through an early phase: part ReLU, part smooth
            smooth = torch.lerp(F.relu6(x) if clipped else F.relu(x), smooth, self.strength)
        return smooth


class Add(nn.Module):
    """a + b; an operand holding more channels than the sum keeps (other consumers read
    them) gives only the sum's channels."""

    def __init__(self, pick0=None, pick1=None):
        super().__init__()
        self.register_buffer("pick0", pick0)
        self.register_buffer("pick1", pick1)

    def picked(self, a, b):
        if self.pick0 is not None:
            a = a.index_select(1, self.pick0)
        if self.pick1 is not None:
            b = b.index_select(1, self.pick1)
        return a, b

    def forward(self, a, b):
        a, b = self.picked(a, b)
        return a + b


class Mul(Add):
    """a * b, a squeeze-excitation's channel scale times the map (broadcast over positions)."""

    def forward(self, a, b):
        a, b = self.picked(a, b)
        return a * b


class PlacedAdd(nn.Module):
    """The addition of files exported before 2026-11-22 01:29 (a2cddbb): each operand's kept
    channels placed into the sum's `channels` (None: one to one), plus the constants of the
    channels folded away."""

    def __init__(self, channels: int, places: List, bias):
        super().__init__()
        self.channels = channels
        self.register_buffer("bias", bias.reshape(1, -1, 1, 1) if bias is not None else None)
        for index, (pick, place) in enumerate(places):
            self.register_buffer(f"pick{index}", pick)
            self.register_buffer(f"place{index}", place)

    def forward(self, *operands):
        out = operands[0].new_zeros((operands[0].shape[0], self.channels) + tuple(operands[0].shape[2:]))
        for index, operand in enumerate(operands):
            pick, place = getattr(self, f"pick{index}"), getattr(self, f"place{index}")
            if pick is None:
                out = out + operand
            elif pick.numel():
                out = out.index_add(1, place, operand.index_select(1, pick))
        return out + self.bias if self.bias is not None else out


class MaxPool(nn.Module):
    def __init__(self, kernel: int, stride: int, padding: int):
        super().__init__()
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x):
        return F.max_pool2d(x, self.kernel, self.stride, self.padding)


class AvgPool(nn.Module):
    def __init__(self, kernel: int, stride: int, padding: int, ceil_mode: bool, count_include_pad: bool):
        super().__init__()
        self.settings = (kernel, stride, padding, ceil_mode, count_include_pad)

    def forward(self, x):
        return F.avg_pool2d(x, *self.settings)


class AdaptiveAvgPool(nn.Module):
    def __init__(self, size):
        super().__init__()
        self.size = tuple(size)

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.size)


class GlobalAvgPool(nn.Module):
    def forward(self, x):
        # A tiled conv's output is a strided view, which torch's mean reads many times slower.
        return x.contiguous().mean(dim=(2, 3), keepdim=True)


class Flatten(nn.Module):
    def forward(self, x):
        return torch.flatten(x, 1)


# "sparse"/"sparse_flat": the direct kernel's routes where numba is installed (else CSR); "csr": torch's CSR matmul
# (faster on some small planes, so the exporter may pick it per layer).
SPARSE_KERNELS = ("sparse", "sparse_flat", "csr")
TILED = "tiled"  # the register-tiled kernel (`tiled.py`); a step naming it also names its "vectors"


# ---- the network -------------------------------------------------------------------------
def _optional(tensors: Dict, key):
    return tensors[key] if key is not None else None


def _tiled_layer(op: str, weight, bias, spec: Dict):
    """The register-tiled layer a step names, or None where its kernel cannot be built here (no
    llvmlite, another CPU family): the step then runs dense, with the same result."""
    vectors = spec.get("vectors", 4)  # a forced "tiled" (`from_payload(kernels=...)`) takes the widest tile
    if tiled is None or tiled.kernel(vectors) is None:
        return None
    if op == "linear":
        return tiled.TiledSparseLinear(weight, bias, vectors)
    if spec["stride"] == 1 and weight.shape[-1] == 2 * spec["padding"] + 1:  # output as large as the input
        return tiled.TiledSameConv(weight, bias, spec["padding"], vectors)
    return tiled.TiledSparseConv(weight, bias, spec["stride"], spec["padding"], vectors)


def build_step(spec: Dict, tensors: Dict) -> nn.Module:
    """One runnable step from its description; weights are decoded from `tensors`."""
    op = spec["op"]
    if op in ("conv", "linear"):
        weight, bias = decode_weight(tensors[spec["weight"]]), tensors[spec["bias"]].float()
        # A depthwise conv has one weight per channel and tap: nothing for a CSR matmul to skip.
        sparse = spec["kernel"] in SPARSE_KERNELS and spec.get("groups", 1) == 1
        if spec["kernel"] == TILED and spec.get("groups", 1) == 1:
            built = _tiled_layer(op, weight, bias, spec)
            if built is not None:
                return built
        if op == "linear":
            return SparseLinear(weight, bias) if sparse else DenseLinear(weight, bias)
        if sparse:
            if spec["kernel"] in ("sparse", "sparse_flat") and numba is not None:
                return DirectSparseConv(weight, bias, spec["stride"], spec["padding"],
                                        flat=spec["kernel"] == "sparse_flat")
            return SparseConv(weight, bias, spec["stride"], spec["padding"])
        return DenseConv(weight, bias, spec["stride"], spec["padding"], spec["groups"],
                         _optional(tensors, spec.get("gather")))
    if op == "act":
        return Activation(spec["kind"], spec.get("beta", 2.0), spec.get("upper"), spec.get("strength", 1.0))
    if op == "add" and "places" in spec:  # the earlier layout of the same format
        places = [(_optional(tensors, pick), _optional(tensors, place)) for pick, place in spec["places"]]
        return PlacedAdd(spec["channels"], places, _optional(tensors, spec.get("bias")))
    if op in ("add", "mul"):
        return (Add if op == "add" else Mul)(*[_optional(tensors, pick) for pick in spec["picks"]])
    if op == "maxpool":
        return MaxPool(spec["kernel"], spec["stride"], spec["padding"])
    if op == "avgpool":
        return AvgPool(spec["kernel"], spec["stride"], spec["padding"], spec["ceil_mode"], spec["count_include_pad"])
    if op == "adaptive_avgpool":
        return AdaptiveAvgPool(spec["size"])
    if op == "gap":
        return GlobalAvgPool()
    if op == "flatten":
        return Flatten()
    raise ValueError(f"unknown step {op!r}")


def plain(value):
    """A tiled conv's `Staged` output as an ordinary tensor (a view); anything else as it is."""
    return value.tensor() if tiled is not None and isinstance(value, tiled.Staged) else value


class Skipped(nn.Module):
    """A step whose work a later step does (a conv fused into the residual addition after it)."""

    def forward(self):
        return None


LAYER_OPS = ("conv", "linear")  # the steps that name the kernel they run
RUNNERS = ("steps", "plan")  # a file without "runner" runs step by step, as it was timed


class ExportedNet(nn.Module):
    """Runs the steps in order; step i reads the slots named in `inputs[i]` and writes slot i+1.
    `runner` "plan" runs a float32 CPU input without autograd through a prepared native plan per
    input shape (`native_plan.py`: the same steps, one native call per stretch of them), where
    llvmlite builds it here; "steps" (and everywhere a plan cannot run) calls the steps in turn."""

    def __init__(self, steps: List[Dict], tensors: Dict, output: int, runner: str = "steps"):
        super().__init__()
        if runner not in RUNNERS:
            raise ValueError(f"unknown runner {runner!r}; this runtime runs {', '.join(RUNNERS)}")
        self.runner = runner
        self._native_plans: Dict[tuple, object] = {}
        self._plans_lock = threading.Lock()
        self.specs = steps
        self.steps = nn.ModuleList([build_step(spec, tensors) for spec in steps])
        self.inputs = [list(spec["inputs"]) for spec in steps]
        self.output = output
        self._fuse_residuals()
        self._fuse_relus()
        # Same-size tiled convs hand their output on in their padded layout; the steps that
        # cannot read it get the ordinary tensor view (`forward`).
        self.passes_staged = tuple(tiled.READS_STAGED) + (nn.Identity, Skipped) if tiled else ()
        for index, step in enumerate(self.steps):
            if tiled and isinstance(step, tiled.READS_STAGED) and index + 1 != self.output:
                step.keep_staged = True
        self.eval()

    def _readers(self) -> Dict[int, int]:
        readers = {}
        for inputs in self.inputs:
            for slot in inputs:
                readers[slot] = readers.get(slot, 0) + 1
        return readers

    def _fuse_residuals(self) -> None:
        """An addition whose one operand is a tiled conv's output that nothing else reads runs
        inside that conv's pass (the other operand is added in registers before the store), at
        the addition's turn; the conv's own step then does nothing."""
        if tiled is None:
            return
        readers = self._readers()
        for index, step in enumerate(self.steps):
            if type(step) is not Add or step.pick0 is not None or step.pick1 is not None:
                continue
            for conv_slot, other in (self.inputs[index], self.inputs[index][::-1]):
                conv = self.steps[conv_slot - 1] if conv_slot >= 1 else None
                # The fused step runs at the addition's turn, when both operands are ready.
                if isinstance(conv, tiled.TiledSparseConv) and readers[conv_slot] == 1 and conv_slot != self.output:
                    self.steps[index] = tiled.WithResidual(conv)
                    self.inputs[index] = self.inputs[conv_slot - 1] + [other]
                    self.steps[conv_slot - 1], self.inputs[conv_slot - 1] = Skipped(), []
                    break

    def _fuse_relus(self) -> None:
        """A ReLU that alone reads a direct or tiled sparse layer's output runs inside its pass."""
        readers = self._readers()
        for index, spec in enumerate(self.specs):
            if spec["op"] != "act" or spec["kind"] != "relu" or len(self.inputs[index]) != 1:
                continue
            slot = self.inputs[index][0]
            producer = self.steps[slot - 1] if slot >= 1 else None
            fusable = (DirectSparseConv, DenseConv) + (tiled.FUSES_RELU if tiled else ())
            if isinstance(producer, fusable) and readers[slot] == 1 and slot != self.output:
                producer.relu = True
                self.steps[index] = nn.Identity()

    def forward(self, x):
        if self.runner == "plan" and self._plan_runs(x):
            return self.plan_for(x)(x)
        return self.run_steps(x)

    PLANS_KEPT = 4  # input shapes whose plans (and their buffers) are kept, the most recently used

    def plan_for(self, x):
        """The native plan for inputs shaped like `x` (built on first use, then kept)."""
        shape = tuple(x.shape)
        with self._plans_lock:
            plan = self._native_plans.pop(shape, None) or native_plan.Plan(self, shape)
            self._native_plans[shape] = plan  # last in the dict: the most recently used
            while len(self._native_plans) > self.PLANS_KEPT:
                self._native_plans.pop(next(iter(self._native_plans)))
        return plan

    def run_steps(self, x):
        """forward(x) step by step, whatever the runner (hooks on the steps see every call)."""
        return plain(self._slots(x)[self.output])

    def _plan_runs(self, x) -> bool:
        return (native_plan is not None and not torch.jit.is_tracing() and native_plan.available()
                and isinstance(x, torch.Tensor)
                and x.dtype == torch.float32 and x.device.type == "cpu" and x.dim() == 4
                and not (torch.is_grad_enabled() and x.requires_grad))

    def _slots(self, x) -> List:
        slots = [x]
        for step, inputs in zip(self.steps, self.inputs):
            operands = [slots[i] for i in inputs]
            if not isinstance(step, self.passes_staged):
                operands = [plain(operand) for operand in operands]
            slots.append(step(*operands))
        return slots

    @torch.no_grad()
    def slot_shapes(self, x) -> List:
        """The shape of every slot's value for input `x` (None for a skipped step), step by step."""
        return [tuple(plain(value).shape) if value is not None else None for value in self._slots(x)]


def from_payload(payload: Dict, kernels=None) -> ExportedNet:
    """The network an export payload describes; `kernels` ("dense"/"sparse") overrides every
    step's kernel choice and runs the steps one by one (the exporter's timing and the ONNX path
    use this)."""
    found = payload.get("format") if isinstance(payload, dict) else None
    if found not in READS:
        where = f"its format is {found!r}" if found is not None else f"no format entry in a {type(payload).__name__}"
        raise ValueError(f"{where}; this sparsekit reads exported network formats {', '.join(READS)}")
    # Pooling steps name a "kernel" too (their window size): only layers take an override.
    steps = [dict(spec, kernel=kernels) if kernels and spec["op"] in LAYER_OPS else spec for spec in payload["steps"]]
    # Overridden kernels run step by step: the override measures or traces those very kernels.
    runner = "steps" if kernels else payload.get("runner", "steps")
    return ExportedNet(steps, payload["tensors"], payload["output"], runner)


def load_exported(path, kernels=None) -> ExportedNet:
    """Rebuild the exported network from its file (tensors and plain data only: safe to load)."""
    return from_payload(torch.load(path, map_location="cpu", weights_only=True), kernels)
