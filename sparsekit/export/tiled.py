"""The register-tiled sparse conv and linear layers of the exported runtime: they lay their
input out for the kernel of `tiled_kernel.py` (see there for what it computes) and call it.

Imports torch only (no sparsekit): `runtime.py` loads this file and `tiled_kernel.py` beside it.
"""
import math
import threading
from typing import Dict, Optional, Tuple

import torch
from torch import nn

try:
    from . import tiled_kernel as generated
except ImportError:  # a lone copy of the runtime: runtime.py sets it, loading tiled_kernel.py beside it
    generated = None


def kernel(vectors: int, isa: Optional[str] = None):
    """`tiled_kernel.kernel`, or None where that file is absent."""
    return generated.kernel(vectors, isa) if generated is not None else None


def _kept_entries(matrix: torch.Tensor):
    """(values, starts, columns) of a 2-D weight's non-zeros, grouped by row: CSR."""
    kept = matrix.nonzero()  # row-major: grouped by output row, as `starts` needs
    counts = torch.bincount(kept[:, 0], minlength=matrix.shape[0])
    starts = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
    return matrix[kept[:, 0], kept[:, 1]].float().contiguous(), starts, kept[:, 1]


class _Tiled(nn.Module):
    """What the conv and linear layers share: the kept weights, the compiled kernel, the staging
    buffers (their zero margins written once per input shape, then reused under a lock) and the
    call. `relu` applies a following ReLU inside the kernel; `residual` adds a tensor laid out
    like the kernel's output (the runtime fuses a residual addition this way)."""

    def __init__(self, matrix: torch.Tensor, bias: torch.Tensor, vectors: int, isa: Optional[str]):
        super().__init__()
        built = kernel(vectors, isa)
        if built is None:
            raise RuntimeError(f"the register-tiled kernel ({vectors} vectors, {isa or 'best'} instruction set) "
                               "cannot be built here")
        self.function, self.tile = built
        self.rows, self.relu, self.vectors = matrix.shape[0], False, vectors
        values, starts, self.columns = _kept_entries(matrix)
        self.register_buffer("values", values)
        self.register_buffer("starts", starts)
        self.register_buffer("bias", bias.float().contiguous())
        self._plans: Dict[tuple, dict] = {}
        self._lock = threading.Lock()

    def _run(self, source: torch.Tensor, offsets: torch.Tensor, tiles: int, width: int = 0,
             residual=None) -> torch.Tensor:
        """The kernel's (rows, at least `width`) output; `residual`, if given, is laid out alike."""
        out = torch.empty(self.rows, max(width, tiles * self.tile))
        self.function(source.data_ptr(), offsets.data_ptr(), self.values.data_ptr(), self.starts.data_ptr(),
                      self.bias.data_ptr(), out.data_ptr(), None if residual is None else residual.data_ptr(),
                      None, self.rows, tiles, out.shape[1], int(self.relu))
        return out


class TiledSparseConv(_Tiled):
    """conv2d over the kept weights by the register-tiled kernel. The input is staged once per
    call: zero-padded planes of all images back to back per channel (stride 1), or per channel
    and polyphase component (stride s: component (a, b) holds the padded plane's rows a, a+s, ...
    and columns b, b+s, ...), so every tap of every kept weight reads one contiguous run and an
    output position's sum is the kernel's sum over the kept weights. Positions in the padding
    margins are computed too and cropped."""

    def __init__(self, weight, bias, stride: int, padding: int, vectors: int = 4, isa: Optional[str] = None):
        out_channels, _, self.kernel_size, _ = weight.shape
        super().__init__(weight.reshape(out_channels, -1), bias, vectors, isa)
        self.stride, self.padding = stride, padding
        taps = self.kernel_size * self.kernel_size
        self.entry_channels = self.columns // taps
        self.entry_rows, self.entry_cols = self.columns % taps // self.kernel_size, self.columns % self.kernel_size

    def _plan(self, shape) -> dict:
        batch, channels, height, width = shape
        s, p, k = self.stride, self.padding, self.kernel_size
        grid_h, grid_w = math.ceil((height + 2 * p) / s), math.ceil((width + 2 * p) / s)
        plane = batch * grid_h * grid_w
        out_h, out_w = (height + 2 * p - k) // s + 1, (width + 2 * p - k) // s + 1
        component = self.entry_channels * s * s + self.entry_rows % s * s + self.entry_cols % s
        offsets = (component * plane + self.entry_rows // s * grid_w + self.entry_cols // s).contiguous()
        # The last image's grid rows below its output are never read: no tile is spent on them
        # (on a 4x4 map at batch 1, 24 of the grid's 36 positions).
        tiles = math.ceil(((batch - 1) * grid_h * grid_w + out_h * grid_w) / self.tile)
        furthest = int(offsets.max()) if offsets.numel() else 0
        source = torch.zeros(max(channels * s * s * plane, furthest + tiles * self.tile))
        padded = torch.zeros(batch, channels, grid_h * s, grid_w * s) if s > 1 else None
        return {"offsets": offsets, "tiles": tiles, "source": source, "padded": padded, "grid": (grid_h, grid_w),
                "out": (out_h, out_w)}

    def forward(self, x, residual=None):
        """conv2d(x) (+ `residual`, a tensor of the output's shape, added before the ReLU)."""
        x = x.tensor() if isinstance(x, Staged) else x
        residual = residual.tensor() if isinstance(residual, Staged) else residual
        shape = tuple(x.shape)
        plan = self._plans.get(shape)
        if plan is None:
            plan = self._plans[shape] = self._plan(shape)
        batch, channels, height, width = shape
        s, p = self.stride, self.padding
        (grid_h, grid_w), (out_h, out_w) = plan["grid"], plan["out"]
        with self._lock:
            staged = plan["source"][:channels * s * s * batch * grid_h * grid_w]
            if s == 1:
                staged.view(channels, batch, grid_h, grid_w)[:, :, p:p + height, p:p + width] = x.transpose(0, 1)
            else:
                plan["padded"][:, :, p:p + height, p:p + width] = x
                staged.view(channels, s, s, batch, grid_h, grid_w).copy_(
                    plan["padded"].view(batch, channels, grid_h, s, grid_w, s).permute(1, 3, 5, 0, 2, 4))
            width = max(batch * grid_h * grid_w, plan["tiles"] * self.tile)
            if residual is not None:  # laid out as the kernel's output: its grid positions, the rest unread
                staged_residual = torch.empty(self.rows, width)
                self._crop(staged_residual, batch, grid_h, grid_w, out_h, out_w).copy_(residual)
                residual = staged_residual
            out = self._run(plan["source"], plan["offsets"], plan["tiles"], width, residual)
        return self._crop(out, batch, grid_h, grid_w, out_h, out_w)

    def _crop(self, out, batch: int, grid_h: int, grid_w: int, out_h: int, out_w: int):
        """The (batch, rows, out_h, out_w) view of the kernel's output grid."""
        grid = out[:, :batch * grid_h * grid_w].view(self.rows, batch, grid_h, grid_w)
        return grid[:, :, :out_h, :out_w].transpose(0, 1)


class TiledSparseLinear(_Tiled):
    """x @ weight.T + bias over the kept weights: the input staged transposed (features x
    images, padded to whole tiles), each kept weight reading its feature's run of images."""

    def __init__(self, weight, bias, vectors: int = 1, isa: Optional[str] = None):
        super().__init__(weight, bias, vectors, isa)

    def forward(self, x):
        batch = x.shape[0]
        plan = self._plans.get(batch)
        if plan is None:
            tiles = math.ceil(batch / self.tile)
            plan = self._plans[batch] = {"tiles": tiles, "source": torch.zeros(x.shape[1], tiles * self.tile),
                                         "offsets": (self.columns * tiles * self.tile).contiguous()}
        with self._lock:
            plan["source"][:, :batch] = x.t()
            out = self._run(plan["source"], plan["offsets"], plan["tiles"])
        return out[:, :batch].t()


class Staged:
    """A same-size conv's output left in the layout a following same-size conv reads, so no
    layer between them copies it: per channel, every image's plane zero-padded by `padding`
    (margins cleared by the kernel's `keep`), back to back, channels `channel_stride` apart.
    `tensor()` is the ordinary (batch, channels, height, width) view of it."""

    def __init__(self, buffer: torch.Tensor, shape: tuple, padding: int):
        self.buffer, self.shape, self.padding = buffer, shape, padding

    def tensor(self) -> torch.Tensor:
        batch, channels, height, width = self.shape
        p = self.padding
        grid = self.buffer[:, :batch * (height + 2 * p) * (width + 2 * p)]
        planes = grid.view(channels, batch, height + 2 * p, width + 2 * p)
        return planes[:, :, p:p + height, p:p + width].transpose(0, 1)


def same_layout(batch: int, height: int, width: int, padding: int) -> Tuple[int, int, int]:
    """(positions, shift, channel stride) of the padded layout of `Staged`: an output position's
    value is stored `shift` further on, at its place inside the padded plane; each channel holds
    whole tiles of the widest kernel (64 floats) past that."""
    grid_w = width + 2 * padding
    positions = batch * (height + 2 * padding) * grid_w
    shift = padding * grid_w + padding
    return positions, shift, shift + math.ceil(positions / 64) * 64


class TiledSameConv(TiledSparseConv):
    """A stride-1 conv whose output is as large as its input (k = 2 x padding + 1), reading and
    writing the `Staged` layout: its output lands inside the next such conv's padded input, the
    margins cleared by the kernel, so a chain of them stages the input once. Returns a tensor,
    or the `Staged` output itself when `keep_staged` (the runtime sets it where the readers take it)."""

    def __init__(self, weight, bias, padding: int, vectors: int = 4, isa: Optional[str] = None):
        super().__init__(weight, bias, 1, padding, vectors, isa)
        self.keep_staged = False

    def _plan(self, shape) -> dict:
        batch, channels, height, width = shape
        p, grid_w = self.padding, width + 2 * self.padding
        positions, shift, stride = same_layout(batch, height, width, p)
        offsets = (self.entry_channels * stride + self.entry_rows * grid_w + self.entry_cols).contiguous()
        tiles = math.ceil(positions / self.tile)
        grid = torch.arange(positions).remainder((height + 2 * p) * grid_w)
        inside = (grid // grid_w < height) & (grid % grid_w < width)
        keep = torch.zeros(tiles * self.tile)
        keep[:positions] = inside.float()
        return {"offsets": offsets, "tiles": tiles, "keep": keep, "layout": (positions, shift, stride),
                "source": torch.zeros(channels * stride + shift + 64)}

    def forward(self, x, residual=None):
        """conv2d(x) (+ `residual`, added before the ReLU); x and residual are tensors or `Staged`."""
        shape = tuple(x.shape)
        plan = self._plans.get(shape)
        if plan is None:
            plan = self._plans[shape] = self._plan(shape)
        positions, shift, stride = plan["layout"]
        batch, channels = shape[:2]
        out_shape = (batch, self.rows) + shape[2:]
        out = torch.empty(self.rows * stride + shift + 64)
        rows = out[:self.rows * stride].view(self.rows, stride)
        rows[:, :shift] = 0  # the first image's top margin, before anything the kernel writes
        keep_alive = None
        with self._lock:
            if isinstance(x, Staged) and x.padding == self.padding:
                source = x.buffer
            else:
                source = plan["source"]
                Staged(source[:channels * stride].view(channels, stride), shape, self.padding).tensor().copy_(
                    x.tensor() if isinstance(x, Staged) else x)
            direct = isinstance(residual, Staged) and residual.padding == self.padding and residual.shape == out_shape
            if residual is not None and not direct:
                keep_alive = torch.empty(self.rows, stride)  # laid out as the output; the rest unread
                Staged(keep_alive, out_shape, self.padding).tensor().copy_(
                    residual.tensor() if isinstance(residual, Staged) else residual)
                residual = Staged(keep_alive, out_shape, self.padding)
            address = (lambda tensor: tensor.data_ptr() + 4 * shift)
            self.function(source.data_ptr(), plan["offsets"].data_ptr(), self.values.data_ptr(),
                          self.starts.data_ptr(), self.bias.data_ptr(), address(out),
                          None if residual is None else address(residual.buffer), plan["keep"].data_ptr(),
                          self.rows, plan["tiles"], stride, int(self.relu))
        staged = Staged(rows, out_shape, self.padding)
        return staged if self.keep_staged else staged.tensor()


class WithResidual(nn.Module):
    """A tiled conv followed by a residual addition, in one pass: forward(x, other) is
    conv(x) + other. The runtime builds it where nothing else reads the conv's output."""

    def __init__(self, conv: TiledSparseConv):
        super().__init__()
        self.conv = conv

    @property
    def relu(self) -> bool:
        return self.conv.relu

    @relu.setter
    def relu(self, value: bool) -> None:
        self.conv.relu = value

    @property
    def keep_staged(self) -> bool:
        return getattr(self.conv, "keep_staged", False)

    @keep_staged.setter
    def keep_staged(self, value: bool) -> None:
        if isinstance(self.conv, TiledSameConv):
            self.conv.keep_staged = value

    def forward(self, x, other):
        return self.conv(x, other)


FUSES_RELU = (TiledSparseConv, TiledSparseLinear, WithResidual)  # a following ReLU may run in their pass
READS_STAGED = (TiledSameConv, WithResidual)  # steps that take a `Staged` input as it is
