"""The register-tiled sparse conv and linear layers of the exported runtime: their kernel is
generated at load time as LLVM IR and compiled by llvmlite (which numba installs) for the
instruction set the CPU has.

Imports torch and llvmlite only (no sparsekit, no numba): `runtime.py` loads this file beside
it, as it loads `compiled.py`. Without llvmlite, or where compiling fails, `kernel()` returns
None and the runtime runs those layers dense, with the same results.

One kernel serves every sparse conv and linear layer, each rewritten as

    out[row, t] = bias[row] + sum over the row's kept weights e of  weight[e] * source[offset[e] + t]

for every position t of a run: the caller lays the input out so that each kept weight's
input is one contiguous run at its own `offset` (for a stride-1 conv: every image's zero-padded
plane back to back, the offset being channel x plane size + tap row x padded width + tap
column; strided convs read their polyphase planes the same way; a linear layer reads its
transposed input). Positions are taken in tiles of `vectors` SIMD vectors (16 floats under
AVX-512, 8 under AVX2, 1 scalar), tile by tile over all rows, so the inputs a tile reads stay
in the L1/L2 cache while every row uses them. Within a (tile, row) the sums stay in
`vectors` accumulator registers across all the row's kept weights (one fused multiply-add
with a memory operand per vector and weight) and each output is stored once, after the bias,
an optional residual addition and an optional ReLU are applied in registers. The old direct
kernels of `compiled.py` load and store the output once per multiply-add instead.

Nothing is cached on disk: the IR is generic (weights and offsets are data), so one compile of
a few tens of milliseconds per process and instruction set serves every layer.
"""
import ctypes
import math
import threading
from typing import Dict, Optional, Tuple

import torch
from torch import nn

try:
    import llvmlite.binding as llvm
except ImportError:  # pragma: no cover - llvmlite absent: every layer runs dense
    llvm = None

# Instruction sets, widest first: name -> (floats per vector, target CPU, CPU feature the host must have).
# The AVX2 and scalar builds name an older CPU, so LLVM does not use wider registers on its own.
ISAS: Dict[str, Tuple[int, Optional[str], Optional[str]]] = {
    "avx512": (16, None, "avx512f"),
    "avx2": (8, "haswell", "avx2"),
    "scalar": (1, "x86-64", None),
}
VECTOR_COUNTS = (1, 2, 4)  # accumulators per tile; the exporter times each per layer
_ARGUMENTS = [ctypes.c_void_p] * 8 + [ctypes.c_int64] * 3 + [ctypes.c_int32]
_ENGINES: Dict[str, object] = {}  # instruction set -> (engine, {vectors: function}); engines must outlive calls


def host_isas() -> Tuple[str, ...]:
    """The instruction sets this CPU runs, widest first (empty without llvmlite or off x86-64)."""
    if llvm is None:
        return ()
    _initialise()
    if not llvm.get_process_triple().startswith("x86_64"):
        return ()
    try:
        features = llvm.get_host_cpu_features()
    except RuntimeError:  # pragma: no cover - features unknown: only the scalar build is safe
        features = {}
    have_fma = features.get("fma", False)
    return tuple(name for name, (_, _, need) in ISAS.items()
                 if need is None or (features.get(need, False) and have_fma))


def best_isa() -> Optional[str]:
    isas = host_isas()
    return isas[0] if isas else None


def _initialise() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


def _type(width: int) -> str:
    return f"<{width} x float>" if width > 1 else "float"


def _intrinsic(name: str, width: int) -> str:
    return f"@llvm.{name}.{'v%df32' % width if width > 1 else 'f32'}"


def _splat(target: str, scalar: str, width: int) -> str:
    if width == 1:
        return f"  {target} = fadd float {scalar}, 0.0\n"
    return (f"  {target}.one = insertelement <{width} x float> poison, float {scalar}, i32 0\n"
            f"  {target} = shufflevector <{width} x float> {target}.one, <{width} x float> poison, "
            f"<{width} x i32> zeroinitializer\n")


def function_name(vectors: int) -> str:
    return f"sparse_tiles_{vectors}"


def ir(width: int, vectors: int) -> str:
    """LLVM IR of the kernel: `vectors` accumulators of `width` floats, kept in SSA values
    (phi nodes), so the code generator holds them in registers across the kept-weight loop.

    void f(float *source, int64 *offsets, float *weights, int64 *starts, float *bias, float *out,
           float *residual (or null), float *keep (or null), int64 rows, int64 tiles, int64 out_stride,
           int32 relu)
    `keep` (one 0/1 value per position) zeroes the positions the caller needs zero: an output
    written straight into the next conv's padded input clears its margins this way."""
    vec, fma, maxnum = _type(width), _intrinsic("fma", width), _intrinsic("maxnum", width)
    tile, ks = width * vectors, range(vectors)
    zero = "zeroinitializer" if width > 1 else "0.0"
    lines = [f"declare {vec} {fma}({vec}, {vec}, {vec})\n", f"declare {vec} {maxnum}({vec}, {vec})\n",
             f"define void @{function_name(vectors)}(ptr noalias nocapture readonly %source, "
             "ptr noalias nocapture readonly %offsets, ptr noalias nocapture readonly %weights, "
             "ptr noalias nocapture readonly %starts, ptr noalias nocapture readonly %bias, "
             "ptr noalias nocapture %out, ptr noalias nocapture readonly %residual, "
             "ptr noalias nocapture readonly %keep, "
             "i64 %rows, i64 %tiles, i64 %out_stride, i32 %relu) nounwind {\n",
             "entry:\n  %has_residual = icmp ne ptr %residual, null\n  %do_relu = icmp ne i32 %relu, 0\n",
             "  %has_keep = icmp ne ptr %keep, null\n",
             "  %nonempty_rows = icmp sgt i64 %rows, 0\n  %nonempty_tiles = icmp sgt i64 %tiles, 0\n",
             "  %nonempty = and i1 %nonempty_rows, %nonempty_tiles\n",
             "  br i1 %nonempty, label %tile_head, label %exit\n",
             "tile_head:\n  %tile = phi i64 [0, %entry], [%tile_next, %tile_end]\n",
             f"  %t0 = mul i64 %tile, {tile}\n  br label %row_head\n",
             "row_head:\n  %row = phi i64 [0, %tile_head], [%row_next, %row_end]\n",
             "  %bias_at = getelementptr float, ptr %bias, i64 %row\n  %b = load float, ptr %bias_at\n",
             _splat("%b_vec", "%b", width),
             "  %start_at = getelementptr i64, ptr %starts, i64 %row\n  %first = load i64, ptr %start_at\n",
             "  %end_at = getelementptr i64, ptr %start_at, i64 1\n  %last = load i64, ptr %end_at\n",
             "  %has_weights = icmp slt i64 %first, %last\n",
             "  br i1 %has_weights, label %weight_loop, label %weights_done\n",
             "weight_loop:\n  %e = phi i64 [%first, %row_head], [%e_next, %weight_loop]\n"]
    lines += [f"  %acc{k} = phi {vec} [%b_vec, %row_head], [%acc{k}.next, %weight_loop]\n" for k in ks]
    lines += ["  %offset_at = getelementptr i64, ptr %offsets, i64 %e\n  %offset = load i64, ptr %offset_at\n",
              "  %weight_at = getelementptr float, ptr %weights, i64 %e\n  %w = load float, ptr %weight_at\n",
              _splat("%w_vec", "%w", width),
              "  %at = add i64 %offset, %t0\n  %run = getelementptr float, ptr %source, i64 %at\n"]
    for k in ks:
        lines += [f"  %in{k}.at = getelementptr float, ptr %run, i64 {k * width}\n",
                  f"  %in{k} = load {vec}, ptr %in{k}.at, align 4\n",
                  f"  %acc{k}.next = call {vec} {fma}({vec} %w_vec, {vec} %in{k}, {vec} %acc{k})\n"]
    lines += ["  %e_next = add i64 %e, 1\n  %more = icmp slt i64 %e_next, %last\n",
              "  br i1 %more, label %weight_loop, label %weights_done\n", "weights_done:\n"]
    lines += [f"  %sum{k} = phi {vec} [%b_vec, %row_head], [%acc{k}.next, %weight_loop]\n" for k in ks]
    lines += ["  %out_row = mul i64 %row, %out_stride\n  %out_first = add i64 %out_row, %t0\n",
              "  %out_at = getelementptr float, ptr %out, i64 %out_first\n"]
    lines += [f"  %out{k}.at = getelementptr float, ptr %out_at, i64 {k * width}\n" for k in ks]
    lines += ["  br i1 %has_residual, label %add_residual, label %residual_done\n", "add_residual:\n",
              "  %residual_at = getelementptr float, ptr %residual, i64 %out_first\n"]
    for k in ks:
        lines += [f"  %res{k}.at = getelementptr float, ptr %residual_at, i64 {k * width}\n",
                  f"  %res{k} = load {vec}, ptr %res{k}.at, align 4\n",
                  f"  %added{k} = fadd {vec} %sum{k}, %res{k}\n"]
    lines += ["  br label %residual_done\n", "residual_done:\n"]
    lines += [f"  %pre{k} = phi {vec} [%sum{k}, %weights_done], [%added{k}, %add_residual]\n" for k in ks]
    lines += ["  br i1 %do_relu, label %apply_relu, label %relu_done\n", "apply_relu:\n"]
    lines += [f"  %rect{k} = call {vec} {maxnum}({vec} %pre{k}, {vec} {zero})\n" for k in ks]
    lines += ["  br label %relu_done\n", "relu_done:\n"]
    lines += [f"  %post{k} = phi {vec} [%pre{k}, %residual_done], [%rect{k}, %apply_relu]\n" for k in ks]
    lines += ["  br i1 %has_keep, label %apply_keep, label %store\n", "apply_keep:\n",
              "  %keep_at = getelementptr float, ptr %keep, i64 %t0\n"]
    for k in ks:
        lines += [f"  %keep{k}.at = getelementptr float, ptr %keep_at, i64 {k * width}\n",
                  f"  %keep{k} = load {vec}, ptr %keep{k}.at, align 4\n",
                  f"  %keep{k}.on = fcmp one {vec} %keep{k}, {zero}\n",  # a select: 0 x NaN would be NaN
                  f"  %kept{k} = select {'<%d x i1>' % width if width > 1 else 'i1'} %keep{k}.on, {vec} %post{k}, "
                  f"{vec} {zero}\n"]
    lines += ["  br label %store\n", "store:\n"]
    lines += [f"  %final{k} = phi {vec} [%post{k}, %relu_done], [%kept{k}, %apply_keep]\n" for k in ks]
    lines += [f"  store {vec} %final{k}, ptr %out{k}.at, align 4\n" for k in ks]
    lines += ["  br label %row_end\n", "row_end:\n  %row_next = add i64 %row, 1\n",
              "  %rows_more = icmp slt i64 %row_next, %rows\n",
              "  %tile_next = add i64 %tile, 1\n",
              "  br i1 %rows_more, label %row_head, label %tile_end\n",
              "tile_end:\n  %tiles_more = icmp slt i64 %tile_next, %tiles\n",
              "  br i1 %tiles_more, label %tile_head, label %exit\n", "exit:\n  ret void\n}\n"]
    return "".join(lines)


def _target_machine(isa: str):
    _, cpu, _ = ISAS[isa]
    target = llvm.Target.from_triple(llvm.get_process_triple())
    if cpu is None:  # the widest build: tuned for this very CPU
        return target.create_target_machine(cpu=llvm.get_host_cpu_name(), opt=3, codemodel="jitdefault",
                                            features=llvm.get_host_cpu_features().flatten())
    return target.create_target_machine(cpu=cpu, opt=3, codemodel="jitdefault")


def _module(isa: str):
    width = ISAS[isa][0]
    text = "".join(ir(width, vectors) for vectors in VECTOR_COUNTS)
    # Each vectors count's module repeats the intrinsic declarations: keep one of each.
    seen, kept = set(), []
    for line in text.splitlines(keepends=True):
        if line.startswith("declare"):
            if line in seen:
                continue
            seen.add(line)
        kept.append(line)
    module = llvm.parse_assembly("".join(kept))
    module.verify()
    return module


def assembly(isa: str) -> str:
    """The machine code the kernels compile to under `isa`, as assembly text (for reading)."""
    _initialise()
    return _target_machine(isa).emit_assembly(_module(isa))


def kernel(vectors: int, isa: Optional[str] = None):
    """(ctypes function, floats per tile) of the kernel with `vectors` accumulators under `isa`
    (None: the widest this CPU runs); None where it cannot be built (no llvmlite, another CPU
    family, a compile failure): the caller then runs the layer dense."""
    if llvm is None or vectors not in VECTOR_COUNTS:
        return None
    isa = isa or best_isa()
    if isa is None or isa not in host_isas():
        return None
    if isa not in _ENGINES:
        try:
            engine = llvm.create_mcjit_compiler(_module(isa), _target_machine(isa))
            engine.finalize_object()
            prototype = ctypes.CFUNCTYPE(None, *_ARGUMENTS)
            functions = {count: prototype(engine.get_function_address(function_name(count)))
                         for count in VECTOR_COUNTS}
        except RuntimeError:  # pragma: no cover - LLVM refused this build
            functions, engine = None, None
        _ENGINES[isa] = (engine, functions)
    functions = _ENGINES[isa][1]
    return (functions[vectors], ISAS[isa][0] * vectors) if functions else None


# ---- the layers ----------------------------------------------------------------------------
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
        return grid.view(channels, batch, height + 2 * p, width + 2 * p)[:, :, p:p + height, p:p + width].transpose(0, 1)


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
