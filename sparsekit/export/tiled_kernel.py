"""The register-tiled sparse kernel of the exported runtime (its layers: `tiled.py`), generated
at load time as LLVM IR and compiled by llvmlite (which numba installs) for the instruction set
the CPU has.

Imports llvmlite only (no torch, no sparsekit, no numba): `runtime.py` loads this file beside
it. Without llvmlite, or where compiling fails, `kernel()` returns None and the runtime runs
those layers dense, with the same results.

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
from typing import Dict, Optional, Tuple

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
