"""A whole exported network as one prepared run per input shape: every buffer allocated once,
every layout change a `native_ops.map_op` call, and each stretch of native work (tiled kernels,
copies, additions, pooling) run by one call of `native_ops.run_plan`. Steps with no native
form (dense convs, smooth activations, ...) run as torch calls between the stretches, their
outputs copied into the plan's buffers.

Imports torch only (no sparsekit): `runtime.py` loads this file beside it.

Each slot of the network is a `Window`: a 4-D strided view (images, channels, rows, columns)
on a buffer the plan owns; a 2-D value (after flatten) is the same with rows = columns = 1.
A same-size tiled conv's output stays in its padded `Staged` layout, which the next such conv
reads as it is, as in step-by-step running.
"""
import math
import struct
import threading
import time
from typing import Callable, Dict, List, Optional

import torch
from torch import nn

try:
    from . import native_ops, tiled
except ImportError:  # a lone copy of the runtime: runtime.py sets both, loading the files beside it
    native_ops = tiled = None


class Window:
    """(images, channels, rows, columns) of `buffer` from `base` with `strides`; `padding` is
    set where the buffer is a `tiled.Staged` layout of this very shape (margins zero)."""

    def __init__(self, buffer: torch.Tensor, base: int, shape, strides, dims: int = 4, padding=None):
        self.buffer, self.base, self.shape, self.strides = buffer, base, tuple(shape), tuple(strides)
        self.dims, self.padding = dims, padding

    def tensor(self) -> torch.Tensor:
        shape, strides = (self.shape, self.strides) if self.dims == 4 else (self.shape[:2], self.strides[:2])
        return torch.as_strided(self.buffer, shape, strides, self.base)

    def address(self) -> int:
        return self.buffer.data_ptr() + 4 * self.base


SLACK = 64  # zero floats after every buffer: the row copies' vector loads may read up to 31 past a row


def zeros(count: int) -> torch.Tensor:
    return torch.zeros(count + SLACK)


def contiguous_window(shape, dims: int = 4) -> Window:
    batch, channels, height, width = shape
    return Window(zeros(math.prod(shape)), 0, shape, (channels * height * width, height * width, width, 1), dims)


def _wanted_paddings(net) -> Dict[int, int]:
    """The slots whose every reader is a same-size tiled conv of one padding (as its input or its
    residual): their producers write straight into that conv's padded layout."""
    wants: Dict[int, set] = {}
    passed_on: Dict[int, int] = {}  # an identity step's slot -> the slot whose value it passes on
    for index, (step, inputs) in enumerate(zip(net.steps, net.inputs), start=1):
        if isinstance(step, nn.Identity):
            passed_on[index] = passed_on.get(inputs[0], inputs[0])
            continue
        conv = step.conv if isinstance(step, tiled.WithResidual) else step
        want = conv.padding if isinstance(conv, tiled.TiledSameConv) else None
        for slot in inputs:
            wants.setdefault(passed_on.get(slot, slot), set()).add(want)
    wants.setdefault(passed_on.get(net.output, net.output), set()).add(None)  # the output: returned as it is
    return {slot: next(iter(paddings)) for slot, paddings in wants.items()
            if len(paddings) == 1 and None not in paddings}


def _float_bits(value: float) -> int:
    return struct.unpack("<I", struct.pack("<f", value))[0]


class Plan:
    """The prepared run of `net` for inputs of `shape` (see the module's text)."""

    def __init__(self, net: nn.Module, shape: tuple):
        self.functions = native_ops.functions()
        self.items: List = []  # native records (lists of int64 triples) and torch callables, in order
        self.labels: List = []  # per item, the label of each record (or of the torch call): for `profile`
        self.keep: List = []  # everything the native calls point into
        self.lock = threading.Lock()
        self.staged_copies: Dict[tuple, Window] = {}  # (window, padding) -> its copy in that padded layout
        self.map_step = False  # while a step whose work is a map (`NATIVE_STEPS`) is emitted
        shapes = net.slot_shapes(torch.zeros(shape))
        wanted = _wanted_paddings(net)
        self.padding = wanted.get(0)  # the layout the slot being built is written in (None: contiguous)
        self.input = self.output_window(shape)
        values: List[Optional[Window]] = [self.input]
        for slot, (step, inputs, out_shape) in enumerate(zip(net.steps, net.inputs, shapes[1:]), start=1):
            self.padding = wanted.get(slot)
            self.label = _label(net.specs[slot - 1], step, out_shape)
            values.append(self._emit(step, [values[i] for i in inputs], out_shape))
        self.output = values[net.output]
        self._seal()

    # ---- running -----------------------------------------------------------------------------
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with self.lock:
            self.input.tensor().copy_(x)
            for item in self.items:
                if isinstance(item, torch.Tensor):
                    self.functions["run_plan"](item.data_ptr(), item.shape[0])
                else:
                    item()
            return self.output.tensor().clone()

    def _native(self, function: int, kind: int, arguments: List[int]) -> None:
        packed = torch.tensor(arguments, dtype=torch.int64)
        self.keep.append(packed)
        if not self.items or not isinstance(self.items[-1], list):
            self.items.append([])
            self.labels.append([])
        self.items[-1].append((function, kind, packed.data_ptr()))
        own_work = kind == native_ops.TILED_KIND or self.map_step  # else a copy into a layout a kernel reads
        self.labels[-1].append(self.label if own_work else f"{self.label}: layout copy")

    def _seal(self) -> None:
        """Each stretch of native records becomes one int64 table for `run_plan`."""
        self.items = [torch.tensor(item, dtype=torch.int64) if isinstance(item, list) else item
                      for item in self.items]

    def profile(self, rounds: int) -> Dict[str, float]:
        """Fastest-call milliseconds of each native record and torch call, summed by label."""
        spent: Dict[str, float] = {}
        with self.lock:
            for item, labels in zip(self.items, self.labels):
                calls = ([lambda one=item[k:k + 1].clone(): self.functions["run_plan"](one.data_ptr(), 1)
                          for k in range(item.shape[0])] if isinstance(item, torch.Tensor) else [item])
                for call, label in zip(calls, labels if isinstance(labels, list) else [labels]):
                    fastest = float("inf")
                    for _ in range(rounds):
                        began = time.perf_counter()
                        call()
                        fastest = min(fastest, time.perf_counter() - began)
                    spent[label] = spent.get(label, 0.0) + fastest * 1e3
        return spent

    # ---- native building blocks ----------------------------------------------------------------
    def output_window(self, shape, dims: int = 4) -> Window:
        """A new buffer for the slot being built, in the layout its readers take."""
        if self.padding is not None and dims == 4:
            return self._staged(shape, self.padding)
        return contiguous_window(tuple(shape) + (1,) * (4 - len(shape)), dims)

    def staged_copy(self, window: Window, padding: int) -> Window:
        """`window` in the padded layout of same-size convs with `padding` (copied once, however
        many convs read it)."""
        if window.padding == padding:
            return window
        key = (window.buffer.data_ptr(), window.base, window.shape, window.strides, padding)
        if key not in self.staged_copies:
            self.staged_copies[key] = self._staged(window.shape, padding)
            self._copy(window, self.staged_copies[key])
        return self.staged_copies[key]

    def _map(self, dst: Window, src: Window, src2: Optional[Window] = None, reduced=(1, 1), reduced_strides=(0, 0),
             mode: int = 0, scale: float = 1.0, relu: bool = False) -> None:
        self.keep += [window.buffer for window in (dst, src, src2) if window is not None]
        along_rows = (reduced == (1, 1) and scale == 1.0 and dst.strides[3] == 1 and src.strides[3] in native_ops.ROW_STEPS
                      and (src2 is None or src2.strides[3] == 1))
        function = self.functions["rows_op"][src.strides[3]] if along_rows else self.functions["map_op"]
        self._native(function, native_ops.ARGS_KIND,
                     [dst.address(), src.address(), src2.address() if src2 is not None else 0, *dst.shape,
                      *src.strides, *dst.strides, *(src2.strides if src2 is not None else (0, 0, 0, 0)),
                      *reduced, *reduced_strides, mode, _float_bits(scale), int(relu)])

    def _copy(self, src: Window, dst: Window, relu: bool = False) -> None:
        if (src.buffer.data_ptr(), src.base, src.strides) != (dst.buffer.data_ptr(), dst.base, dst.strides) or relu:
            self._map(dst, src, relu=relu)

    def _kernel(self, layer, source: int, offsets, out: int, residual: int, keep, tiles: int, out_stride: int):
        self.keep += [layer, offsets, keep]
        address = ctypes_address(layer.function)
        self._native(address, native_ops.TILED_KIND,
                     [source, offsets.data_ptr(), layer.values.data_ptr(), layer.starts.data_ptr(),
                      layer.bias.data_ptr(), out, residual, keep.data_ptr() if keep is not None else 0,
                      layer.rows, tiles, out_stride, int(layer.relu)])

    # ---- steps ----------------------------------------------------------------------------------
    def _emit(self, step, operands: List[Optional[Window]], out_shape) -> Optional[Window]:
        kind = type(step).__name__
        if kind == "Skipped":
            return None
        if kind == "Identity":
            return operands[0]
        if isinstance(step, tiled.WithResidual):
            return self._conv(step.conv, operands[0], operands[1], out_shape)
        if isinstance(step, tiled.TiledSparseConv):
            return self._conv(step, operands[0], None, out_shape)
        if isinstance(step, tiled.TiledSparseLinear):
            return self._linear(step, operands[0], out_shape)
        native = NATIVE_STEPS.get(kind)
        if native is not None:
            self.map_step = True  # its records are the step's own work (an addition, a pooling, ...)
            try:
                done = native(self, step, operands, out_shape)
            finally:
                self.map_step = False
            if done is not None:
                return done
        return self._torch_step(step, operands, out_shape)

    def _torch_step(self, step, operands: List[Optional[Window]], out_shape) -> Window:
        out = self.output_window(out_shape, len(out_shape))
        target, sources = out.tensor(), [window.tensor() for window in operands]

        def run():
            value = step(*sources)
            target.copy_(value.tensor() if isinstance(value, tiled.Staged) else value)

        self.items.append(run)
        self.labels.append(f"{self.label} (torch)")
        return out

    def _conv(self, layer, x: Window, residual: Optional[Window], out_shape) -> Window:
        if isinstance(layer, tiled.TiledSameConv):
            return self._same_conv(layer, x, residual, out_shape)
        batch, channels, height, width = x.shape
        s, p, k = layer.stride, layer.padding, layer.kernel_size
        out_h, out_w = out_shape[2:]
        q = self.padding
        # Where the readers take a padded layout, the polyphase grid is sized as that layout's planes
        # (out + 2q each way): output position t then lands at t + shift in it, the margins cleared
        # by the kernel's keep mask, and no copy follows. Possible where a tap's shift fits the margin.
        into_staged = q is not None and (k - 1) // s <= 2 * q
        grid_h, grid_w = (out_h + 2 * q, out_w + 2 * q) if into_staged else layer._plan(x.shape)["grid"]
        component_plane = batch * grid_h * grid_w
        component = layer.entry_channels * s * s + layer.entry_rows % s * s + layer.entry_cols % s
        offsets = (component * component_plane + layer.entry_rows // s * grid_w + layer.entry_cols // s).contiguous()
        positions = component_plane if into_staged else (batch - 1) * grid_h * grid_w + out_h * grid_w
        tiles = math.ceil(positions / layer.tile)
        furthest = int(offsets.max()) if offsets.numel() else 0
        source = zeros(max(channels * s * s * component_plane, furthest + tiles * layer.tile))
        self.keep += [source, offsets]
        self._polyphase(x, source, s, p, (grid_h, grid_w), {(int(a), int(b)) for a, b in zip(
            (layer.entry_rows % s).tolist(), (layer.entry_cols % s).tolist())})
        if into_staged:
            out = self._staged(out_shape, q)
            plane = torch.arange(tiles * layer.tile).remainder(grid_h * grid_w)
            keep = ((plane // grid_w < out_h) & (plane % grid_w < out_w)).float()
            keep[positions:] = 0
            staged_residual = self.staged_copy(residual, q).address() if residual is not None else 0
            self._kernel(layer, source.data_ptr(), offsets, out.address(), staged_residual, keep, tiles,
                         out.strides[1])
            return out
        out_width = max(component_plane, tiles * layer.tile)
        out = zeros(layer.rows * out_width)
        window = Window(out, 0, out_shape, (grid_h * grid_w, out_width, grid_w, 1))
        staged_residual = 0
        if residual is not None:
            laid = Window(zeros(layer.rows * out_width), 0, out_shape, window.strides)
            self._copy(residual, laid)
            staged_residual = laid.address()
        self.keep.append(out)
        self._kernel(layer, source.data_ptr(), offsets, out.data_ptr(), staged_residual, None, tiles, out_width)
        return window

    def _polyphase(self, x: Window, source: torch.Tensor, s: int, p: int, grid, phases) -> None:
        """Copy `x`, zero-padded by `p`, into `source` as the polyphase planes (channel, row phase,
        column phase, image, grid row, grid column) the kept weights read; only the phases some kept
        weight reads, and only the grid rows and columns the planes hold."""
        batch, channels, height, width = x.shape
        grid_h, grid_w = grid
        component_plane = batch * grid_h * grid_w
        for a, b in sorted(phases):
            first_y, first_x = max(0, -((a - p) // s)), max(0, -((b - p) // s))
            last_y, last_x = min(grid_h - 1, (p + height - 1 - a) // s), min(grid_w - 1, (p + width - 1 - b) // s)
            if last_y < first_y or last_x < first_x:
                continue
            rows, cols = last_y - first_y + 1, last_x - first_x + 1
            src = Window(x.buffer, x.base + (first_y * s + a - p) * x.strides[2] + (first_x * s + b - p) * x.strides[3],
                         (batch, channels, rows, cols),
                         (x.strides[0], x.strides[1], s * x.strides[2], s * x.strides[3]))
            dst = Window(source, (a * s + b) * component_plane + first_y * grid_w + first_x, src.shape,
                         (grid_h * grid_w, s * s * component_plane, grid_w, 1))
            self._copy(src, dst)

    def _staged(self, shape, padding: int) -> Window:
        """A zeroed buffer in the `Staged` layout of `shape` with `padding`: its interior window."""
        batch, channels, height, width = shape
        positions, shift, stride = tiled.same_layout(batch, height, width, padding)
        grid_w = width + 2 * padding
        buffer = zeros(channels * stride + shift + 64)
        self.keep.append(buffer)
        return Window(buffer, shift, shape, ((height + 2 * padding) * grid_w, stride, grid_w, 1), padding=padding)

    def _same_conv(self, layer, x: Window, residual: Optional[Window], out_shape) -> Window:
        plan = layer._plan(x.shape)
        x = self.staged_copy(x, layer.padding)
        out = self._staged(out_shape, layer.padding)
        staged_residual = 0
        if residual is not None:
            staged_residual = self.staged_copy(residual, layer.padding).address()
        _, _, stride = plan["layout"]
        self._kernel(layer, x.buffer.data_ptr(), plan["offsets"], out.address(), staged_residual, plan["keep"],
                     plan["tiles"], stride)
        return out

    def _linear(self, layer, x: Window, out_shape) -> Window:
        batch, features = x.shape[:2]
        tiles = math.ceil(batch / layer.tile)
        width = tiles * layer.tile
        source = zeros(features * width)
        self._copy(x, Window(source, 0, x.shape, (1, width, 0, 0)))
        offsets = (layer.columns * width).contiguous()
        out = zeros(layer.rows * width)
        self.keep += [source, out]
        self._kernel(layer, source.data_ptr(), offsets, out.data_ptr(), 0, None, tiles, width)
        return Window(out, 0, (batch, layer.rows, 1, 1), (1, width, 0, 0), dims=2)


def _label(spec: Dict, step, out_shape) -> str:
    """What a step is, for profiles: its operation, kernel and output plane."""
    plane = "x".join(str(d) for d in out_shape[2:]) if out_shape else ""
    kernel = f"{spec.get('kernel', '')}{spec.get('vectors', '')}"
    fused = "+residual" if isinstance(step, tiled.WithResidual) else ""
    return f"{spec['op']}{fused} {kernel} {plane}".replace("  ", " ").strip()


def ctypes_address(function) -> int:
    import ctypes

    return ctypes.cast(function, ctypes.c_void_p).value


# ---- the steps with a native form (else None: the step runs as a torch call) --------------------
def _relu(plan: Plan, step, operands, out_shape):
    if step.kind != "relu":
        return None
    out = plan.output_window(operands[0].shape, operands[0].dims)
    plan._map(out, operands[0], relu=True)
    return out


def _add(plan: Plan, step, operands, out_shape):
    if step.pick0 is not None or step.pick1 is not None or operands[0].shape != operands[1].shape:
        return None
    out = plan.output_window(operands[0].shape, operands[0].dims)
    plan._map(out, operands[0], operands[1])
    return out


def _global_average(plan: Plan, step, operands, out_shape):
    x = operands[0]
    if len(out_shape) != 4 or tuple(out_shape[2:]) != (1, 1):
        return None
    batch, channels, height, width = x.shape
    out = contiguous_window((batch, channels, 1, 1))
    plan._map(out, Window(x.buffer, x.base, out.shape, (x.strides[0], x.strides[1], 0, 0)),
              reduced=(height, width), reduced_strides=x.strides[2:], scale=1.0 / (height * width))
    return out


def _max_pool(plan: Plan, step, operands, out_shape):
    kernel, stride, padding = (_pair(v) for v in (step.kernel, step.stride or step.kernel, step.padding))
    if padding != (0, 0):
        return None
    x = operands[0]
    out = contiguous_window(tuple(out_shape))
    source = Window(x.buffer, x.base, out.shape,
                    (x.strides[0], x.strides[1], stride[0] * x.strides[2], stride[1] * x.strides[3]))
    plan._map(out, source, reduced=kernel, reduced_strides=x.strides[2:], mode=1)
    return out


def _flatten(plan: Plan, step, operands, out_shape):
    x = operands[0]
    batch, channels, height, width = x.shape
    if height * width != 1:
        flat = contiguous_window(x.shape)
        plan._copy(x, flat)
        x = flat
        return Window(x.buffer, 0, (batch, channels * height * width, 1, 1), (channels * height * width, 1, 0, 0),
                      dims=2)
    return Window(x.buffer, x.base, (batch, channels, 1, 1), (x.strides[0], x.strides[1], 0, 0), dims=2)


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


NATIVE_STEPS: Dict[str, Callable] = {"Activation": _relu, "Add": _add, "GlobalAvgPool": _global_average,
                                     "AdaptiveAvgPool": _global_average, "MaxPool": _max_pool,
                                     "Flatten": _flatten}


def available() -> bool:
    """Whether plans can be built here (llvmlite, the tiled layers and this CPU's kernels)."""
    return native_ops is not None and tiled is not None and native_ops.functions() is not None
