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
transposed input). Positions are taken in tiles (16 floats per vector under AVX-512, 8 under
AVX2, 1 scalar), tile by tile over all rows, so the inputs a tile reads stay in the L1/L2 cache
while every row uses them. Within a (tile, row) the sums stay in accumulator registers across
all the row's kept weights (one fused multiply-add per vector and weight) and each output is
stored once, after the bias, an optional residual addition and an optional ReLU are applied in
registers. The old direct kernels of `compiled.py` load and store the output once per
multiply-add instead.

Two families, one signature. Counts 1, 2, 4: a tile is that many vectors, each vector a load
with a memory operand (on this CPU, one that straddles two cache lines costs two). Blocked
counts 8, 16 (`BLOCKED`): a tile is one vector, the tiles go in equal blocks of at most 8 or
16 vectors (so small planes compute no lane past the caller's `tiles`), the narrow blocks split
each row's weights over several sums so that the fused multiply-adds do not wait on each other,
under AVX-512 every kept weight's run is read as whole cache lines shifted into place by
two-source permutes, and the full-size blocks (many in a row: large inputs) prefetch ahead;
below AVX-512 (16 vector registers) blocks stop at 12 vectors. docs/tiled_kernel.md has the
measurements behind each choice, and those of the variants not kept (`ir`'s trial options,
timed by benchmarks/tiled_variants.py).

Nothing is cached on disk: the IR is generic (weights and offsets are data), so one compile
(0.1-0.15 s on a 2-core EPYC with AVX-512) per process and instruction set serves every layer.
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
VECTOR_COUNTS = (1, 2, 4, 8, 16)  # accumulator vectors per tile (per block if BLOCKED); the exporter times each
BLOCKED = (8, 16)  # counts whose tile is one vector, taken in blocks of that many vectors (see `ir`)
ACCUMULATORS = 8  # vectors of sums a blocked kernel's narrow passes keep (`_chains`)
PREFETCH = {"prefetch": 1, "rotate": True, "distance": 2}  # a blocked kernel's full-size pass: see `_weight_step`
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


def tile_floats(width: int, vectors: int) -> int:
    """Floats per tile of the kernel with `vectors` accumulators: its `tiles` argument counts these."""
    return width if vectors in BLOCKED else width * vectors


def _chains(vectors: int, blocked: bool) -> int:
    """Independent sums per output vector in a pass of `vectors` vectors: a fused multiply-add
    waits for the one before on its accumulator (4 cycles), so a narrow pass of a blocked kernel
    splits each row's kept weights over several accumulator sets, added at the end."""
    sets = max(1, ACCUMULATORS // vectors) if blocked else 1
    return 1 << (sets.bit_length() - 1)  # a power of two: the grouped loop masks the weight count


_PARAMETERS = ("ptr noalias nocapture readonly %source, ptr noalias nocapture readonly %offsets, "
               "ptr noalias nocapture readonly %weights, ptr noalias nocapture readonly %starts, "
               "ptr noalias nocapture readonly %bias, ptr noalias nocapture %out, "
               "ptr noalias nocapture readonly %residual, ptr noalias nocapture readonly %keep, "
               "i64 %rows, i64 %tiles, i64 %out_stride, i32 %relu")
_ENTRY = ("entry:\n  %has_residual = icmp ne ptr %residual, null\n  %do_relu = icmp ne i32 %relu, 0\n"
          "  %has_keep = icmp ne ptr %keep, null\n"
          "  %source.int = ptrtoint ptr %source to i64\n  %source.float = lshr i64 %source.int, 2\n"
          "  %nonempty_rows = icmp sgt i64 %rows, 0\n  %nonempty_tiles = icmp sgt i64 %tiles, 0\n"
          "  %nonempty = and i1 %nonempty_rows, %nonempty_tiles\n")


def ir(width: int, vectors: int, name: Optional[str] = None, chains: Optional[int] = None, **trial) -> str:
    """LLVM IR of the kernel: `vectors` accumulators of `width` floats, kept in SSA values
    (phi nodes), so the code generator holds them in registers across the kept-weight loop.

    void f(float *source, int64 *offsets, float *weights, int64 *starts, float *bias, float *out,
           float *residual (or null), float *keep (or null), int64 rows, int64 tiles, int64 out_stride,
           int32 relu)
    `keep` (one 0/1 value per position) zeroes the positions the caller needs zero: an output
    written straight into the next conv's padded input clears its margins this way.

    A count in `BLOCKED` takes one vector per tile and splits the `tiles` vectors into as few
    blocks of at most `vectors` vectors (12 below AVX-512) as can hold them, of two sizes one
    apart (21 vectors: 7, 7 and 7; 20: 7, 7 and 6), each size run by its own pass, an internal
    function shared by the blocked counts: every (block, row) keeps all its sums in registers
    and no lane past `tiles` is computed. `chains` (a power of two) overrides `_chains`;
    `trial` sets the options of `_weight_step` (`aligned`, `prefetch`, `rotate`, `distance`,
    `locality`) for the variants benchmarks/tiled_variants.py times."""
    assert chains is None or chains & (chains - 1) == 0, "the grouped loop needs a power of two"
    vec, fma, maxnum = _type(width), _intrinsic("fma", width), _intrinsic("maxnum", width)
    # The passes of the default build are shared by every blocked count (`_module` keeps one copy).
    passes = f"{name}." if name or chains or trial else "sparse_pass_"  # (before `trial` gets its default)
    name = name or function_name(vectors)
    lines = [f"declare {vec} {fma}({vec}, {vec}, {vec})\n", f"declare {vec} {maxnum}({vec}, {vec})\n",
             "declare void @llvm.prefetch.p0(ptr, i32, i32, i32)\n",
             "declare <16 x float> @llvm.x86.avx512.vpermi2var.ps.512(<16 x float>, <16 x i32>, <16 x float>)\n"]
    # A blocked kernel under AVX-512 reads whole cache lines (`_aligned_step`); trials may say otherwise.
    trial.setdefault("aligned", vectors in BLOCKED and width == 16)
    trial["aligned"] = trial["aligned"] and width == 16
    if vectors not in BLOCKED:
        return "".join(lines + [f"define void @{name}({_PARAMETERS}) nounwind {{\n", _ENTRY,
                                "  br i1 %nonempty, label %m.head, label %exit\n"]
                       + _pass("m", width, vectors, chains or 1, "0", "%tiles", "exit", trial)
                       + ["exit:\n  ret void\n}\n"])
    # As many accumulators as leave registers for the rest: 16 vector registers below AVX-512.
    largest = min(vectors, (32 if width == 16 else 16) - 4)
    # Full-size blocks come many in a row (large inputs): their pass prefetches (`_weight_step`).
    ahead = {} if "prefetch" in trial else PREFETCH
    pass_name = lambda size: f"@{passes}{size}" + ("p" if size == largest and ahead else "")  # noqa: E731
    for size in range(1, largest + 1):
        lines += [f"define internal void {pass_name(size)}({_PARAMETERS}, i64 %first, i64 %blocks) nounwind {{\n",
                  _ENTRY, "  br label %m.head\n"]
        options = dict(trial, **ahead) if size == largest else trial
        lines += _pass("m", width, size, chains or _chains(size, True), "%first", "%blocks", "exit", options)
        lines.append("exit:\n  ret void\n}\n")
    arguments = ("ptr %source, ptr %offsets, ptr %weights, ptr %starts, ptr %bias, ptr %out, ptr %residual, "
                 "ptr %keep, i64 %rows, i64 %tiles, i64 %out_stride, i32 %relu")
    lines += [f"define void @{name}({_PARAMETERS}) nounwind {{\n", _ENTRY,
              "  br i1 %nonempty, label %split, label %exit\n",
              f"split:\n  %more = add i64 %tiles, {largest - 1}\n  %count = udiv i64 %more, {largest}\n",
              "  %count.less = add i64 %count, -1\n  %spread = add i64 %tiles, %count.less\n",
              "  %size = udiv i64 %spread, %count\n  %size.less = add i64 %size, -1\n",
              "  %short = mul i64 %count, %size.less\n  %large = sub i64 %tiles, %short\n",
              "  %small = sub i64 %count, %large\n  %large.vectors = mul i64 %large, %size\n",
              f"  %small.first = mul i64 %large.vectors, {width}\n"]
    for which, wanted in (("large", "%size"), ("small", "%size.less")):
        previous = pass_name(1)
        for size in range(2, largest + 1):
            lines += [f"  %{which}.is{size} = icmp eq i64 {wanted}, {size}\n",
                      f"  %{which}.fn{size} = select i1 %{which}.is{size}, ptr {pass_name(size)}, ptr {previous}\n"]
            previous = f"%{which}.fn{size}"
        lines.append(f"  %{which}.fn = select i1 true, ptr {previous}, ptr {previous}\n")
    lines += [f"  call void %large.fn({arguments}, i64 0, i64 %large)\n",
              "  %any.small = icmp sgt i64 %small, 0\n  br i1 %any.small, label %run.small, label %exit\n",
              f"run.small:\n  call void %small.fn({arguments}, i64 %small.first, i64 %small)\n  br label %exit\n",
              "exit:\n  ret void\n}\n"]
    return "".join(lines)


def _weight_step(p: str, e: str, t0: str, width: int, vectors: int, sums, trial: dict):
    """Lines adding one kept weight (index `e`) times its run to the accumulators `sums`
    (names of the incoming values; the outgoing ones are named `sums[k].n`)."""
    vec, fma = _type(width), _intrinsic("fma", width)
    lines = [f"  {p}.o.at = getelementptr i64, ptr %offsets, i64 {e}\n  {p}.o = load i64, ptr {p}.o.at\n",
              f"  {p}.w.at = getelementptr float, ptr %weights, i64 {e}\n  {p}.w = load float, ptr {p}.w.at\n",
              _splat(f"{p}.wv", f"{p}.w", width),
              f"  {p}.at = add i64 {p}.o, {t0}\n  {p}.run = getelementptr float, ptr %source, i64 {p}.at\n"]
    # The run `distance` blocks on, into L2: its first `prefetch` lines, or (`rotate`) one line per kept
    # weight, which one turning with e, so a channel's many weights fetch all its lines between them.
    ahead, locality = 4 * width * vectors * trial.get("distance", 1), trial.get("locality", 2)
    lines_ahead = [f"{ahead + 64 * line}" for line in range(trial.get("prefetch", 0))]
    if trial.get("rotate"):
        count = max(1, 4 * width * vectors // 64)  # the lines a block's run spans
        turn = f"and i64 {e}, {count - 1}" if count & (count - 1) == 0 else f"urem i64 {e}, {count}"
        lines += [f"  {p}.turn = {turn}\n  {p}.turn.b = shl i64 {p}.turn, 6\n",
                  f"  {p}.turn.at = add i64 {p}.turn.b, {ahead}\n"]
        lines_ahead = [f"{p}.turn.at"]
    for line, at in enumerate(lines_ahead):
        lines += [f"  {p}.pf{line} = getelementptr i8, ptr {p}.run, i64 {at}\n",
                  f"  call void @llvm.prefetch.p0(ptr {p}.pf{line}, i32 0, i32 {locality}, i32 1)\n"]
    if trial.get("aligned"):
        return lines + _aligned_step(p, width, vectors, sums, trial.get("plain_share", 0.0))
    for k, total in enumerate(sums):
        lines += [f"  {p}.in{k}.at = getelementptr float, ptr {p}.run, i64 {k * width}\n",
                  f"  {p}.in{k} = load {vec}, ptr {p}.in{k}.at, align 4\n",
                  f"  {total}.n = call {vec} {fma}({vec} {p}.wv, {vec} {p}.in{k}, {vec} {total})\n"]
    return lines


def _aligned_step(p: str, width: int, vectors: int, sums, plain_share: float = 0.0):
    """The run's `vectors` vectors from `vectors` + 1 whole-line loads (the last: the line holding
    the run's last float, so no line past the run is read) shifted into place by two-source
    permutes: a load across two cache lines costs two. The permute's lane numbers are computed
    per kept weight (a broadcast and an add: loading them from a table was slower). The last
    `plain_share` of the vectors (a trial) are plain loads instead, to share the work between
    the load and the permute units."""
    vec, fma, last = _type(width), _intrinsic("fma", width), width * vectors - 1
    shifted = vectors - int(vectors * plain_share + 0.5)
    lines = [f"  {p}.abs = add i64 %source.float, {p}.at\n  {p}.m = and i64 {p}.abs, {width - 1}\n",
             f"  {p}.al = sub i64 {p}.at, {p}.m\n  {p}.end = add i64 {p}.abs, {last}\n",
             f"  {p}.end.m = and i64 {p}.end, {width - 1}\n  {p}.end.at = add i64 {p}.at, {last}\n",
             f"  {p}.end.al = sub i64 {p}.end.at, {p}.end.m\n"]
    iota = ", ".join(f"i32 {i}" for i in range(width))
    lines += [f"  {p}.m32 = trunc i64 {p}.m to i32\n", _splat(f"{p}.mv", f"{p}.m32", width).replace("float", "i32"),
              f"  {p}.idx = add <{width} x i32> {p}.mv, <{iota}>\n"]
    for j in range(shifted + 1 if shifted else 0):  # line `shifted` < `vectors` still holds run floats
        at = f"{p}.end.al" if j == vectors else f"{p}.al"
        lines += [f"  {p}.line{j}.at = getelementptr float, ptr %source, i64 {at}\n",
                  f"  {p}.line{j}.p = getelementptr float, ptr {p}.line{j}.at, i64 {j * width if j < vectors else 0}\n",
                  f"  {p}.line{j} = load {vec}, ptr {p}.line{j}.p, align 64\n"]
    for k, total in enumerate(sums):
        if k < shifted:
            lines.append(f"  {p}.in{k} = call {vec} @llvm.x86.avx512.vpermi2var.ps.512({vec} {p}.line{k}, "
                         f"<{width} x i32> {p}.idx, {vec} {p}.line{k + 1})\n")
        else:
            lines += [f"  {p}.in{k}.at = getelementptr float, ptr {p}.run, i64 {k * width}\n",
                      f"  {p}.in{k} = load {vec}, ptr {p}.in{k}.at, align 4\n"]
        lines.append(f"  {total}.n = call {vec} {fma}({vec} {p}.wv, {vec} {p}.in{k}, {vec} {total})\n")
    return lines


def _pass(p: str, width: int, vectors: int, chains: int, first: str, blocks: str, after: str, trial: dict):
    """One pass over `blocks` blocks of `vectors` vectors from position `first`, all rows per
    block: each (block, row) keeps its sums in `chains` x `vectors` accumulators across the row's
    kept weights and stores each output once. Ends by branching to `after`."""
    vec, maxnum = _type(width), _intrinsic("maxnum", width)
    span, ks, us = width * vectors, range(vectors), range(chains)
    zero = "zeroinitializer" if width > 1 else "0.0"
    q = "%" + p
    lines = [f"{p}.head:\n  {q}.any = icmp sgt i64 {blocks}, 0\n",
             f"  br i1 {q}.any, label {q}.tile, label %{after}\n",
             f"{p}.tile:\n  {q}.b = phi i64 [0, {q}.head], [{q}.b.next, {q}.tile_end]\n",
             f"  {q}.bt = mul i64 {q}.b, {span}\n  {q}.t0 = add i64 {q}.bt, {first}\n  br label {q}.row\n",
             f"{p}.row:\n  {q}.r = phi i64 [0, {q}.tile], [{q}.r.next, {q}.row_end]\n",
             f"  {q}.bias.at = getelementptr float, ptr %bias, i64 {q}.r\n  {q}.bias = load float, ptr {q}.bias.at\n",
             _splat(f"{q}.bv", f"{q}.bias", width),
             f"  {q}.lo.at = getelementptr i64, ptr %starts, i64 {q}.r\n  {q}.lo = load i64, ptr {q}.lo.at\n",
             f"  {q}.hi.at = getelementptr i64, ptr {q}.lo.at, i64 1\n  {q}.hi = load i64, ptr {q}.hi.at\n"]
    initial = lambda u: f"{q}.bv" if u == 0 else zero  # noqa: E731 - the bias starts the first chain
    if chains > 1:  # whole groups of `chains` weights, one accumulator set each
        lines += [f"  {q}.count = sub i64 {q}.hi, {q}.lo\n  {q}.whole = and i64 {q}.count, {-chains}\n",
                  f"  {q}.mid = add i64 {q}.lo, {q}.whole\n  {q}.grouped = icmp sgt i64 {q}.whole, 0\n",
                  f"  br i1 {q}.grouped, label {q}.wl, label {q}.wl_done\n", f"{p}.wl:\n",
                  f"  {q}.e = phi i64 [{q}.lo, {q}.row], [{q}.e.next, {q}.wl]\n"]
        lines += [f"  {q}.a{u}.{k} = phi {vec} [{initial(u)}, {q}.row], [{q}.a{u}.{k}.n, {q}.wl]\n"
                  for u in us for k in ks]
        for u in us:
            lines.append(f"  {q}.e{u} = add i64 {q}.e, {u}\n")
            lines += _weight_step(f"{q}.u{u}", f"{q}.e{u}", f"{q}.t0", width, vectors,
                                  [f"{q}.a{u}.{k}" for k in ks], trial)
        lines += [f"  {q}.e.next = add i64 {q}.e, {chains}\n  {q}.e.more = icmp slt i64 {q}.e.next, {q}.mid\n",
                  f"  br i1 {q}.e.more, label {q}.wl, label {q}.wl_done\n", f"{p}.wl_done:\n"]
        lines += [f"  {q}.z{u}.{k} = phi {vec} [{initial(u)}, {q}.row], [{q}.a{u}.{k}.n, {q}.wl]\n"
                  for k in ks for u in us]
        totals = []
        for k in ks:
            added, total = _sum_tree([f"{q}.z{u}.{k}" for u in us], vec)
            lines += added
            totals.append(total)
        source_block, start = f"{q}.wl_done", totals
    else:
        lines.append(f"  {q}.mid = add i64 {q}.lo, 0\n")
        source_block, start = f"{q}.row", [f"{q}.bv"] * vectors
    lines += [f"  {q}.rest = icmp slt i64 {q}.mid, {q}.hi\n",
              f"  br i1 {q}.rest, label {q}.rl, label {q}.rl_done\n", f"{p}.rl:\n",
              f"  {q}.f = phi i64 [{q}.mid, {source_block}], [{q}.f.next, {q}.rl]\n"]
    lines += [f"  {q}.c{k} = phi {vec} [{start[k]}, {source_block}], [{q}.c{k}.n, {q}.rl]\n" for k in ks]
    lines += _weight_step(f"{q}.one", f"{q}.f", f"{q}.t0", width, vectors, [f"{q}.c{k}" for k in ks], trial)
    lines += [f"  {q}.f.next = add i64 {q}.f, 1\n  {q}.f.more = icmp slt i64 {q}.f.next, {q}.hi\n",
              f"  br i1 {q}.f.more, label {q}.rl, label {q}.rl_done\n", f"{p}.rl_done:\n"]
    lines += [f"  {q}.sum{k} = phi {vec} [{start[k]}, {source_block}], [{q}.c{k}.n, {q}.rl]\n" for k in ks]
    # The epilogue: residual, ReLU, keep mask, one store per output vector.
    lines += [f"  {q}.out.row = mul i64 {q}.r, %out_stride\n  {q}.out.first = add i64 {q}.out.row, {q}.t0\n",
              f"  {q}.out.at = getelementptr float, ptr %out, i64 {q}.out.first\n",
              f"  br i1 %has_residual, label {q}.add_residual, label {q}.residual_done\n", f"{p}.add_residual:\n",
              f"  {q}.res.at = getelementptr float, ptr %residual, i64 {q}.out.first\n"]
    for k in ks:
        lines += [f"  {q}.res{k}.at = getelementptr float, ptr {q}.res.at, i64 {k * width}\n",
                  f"  {q}.res{k} = load {vec}, ptr {q}.res{k}.at, align 4\n",
                  f"  {q}.added{k} = fadd {vec} {q}.sum{k}, {q}.res{k}\n"]
    lines += [f"  br label {q}.residual_done\n", f"{p}.residual_done:\n"]
    lines += [f"  {q}.pre{k} = phi {vec} [{q}.sum{k}, {q}.rl_done], [{q}.added{k}, {q}.add_residual]\n" for k in ks]
    lines += [f"  br i1 %do_relu, label {q}.apply_relu, label {q}.relu_done\n", f"{p}.apply_relu:\n"]
    lines += [f"  {q}.rect{k} = call {vec} {maxnum}({vec} {q}.pre{k}, {vec} {zero})\n" for k in ks]
    lines += [f"  br label {q}.relu_done\n", f"{p}.relu_done:\n"]
    lines += [f"  {q}.post{k} = phi {vec} [{q}.pre{k}, {q}.residual_done], [{q}.rect{k}, {q}.apply_relu]\n"
              for k in ks]
    lines += [f"  br i1 %has_keep, label {q}.apply_keep, label {q}.store\n", f"{p}.apply_keep:\n",
              f"  {q}.keep.at = getelementptr float, ptr %keep, i64 {q}.t0\n"]
    mask = f"<{width} x i1>" if width > 1 else "i1"
    for k in ks:
        lines += [f"  {q}.keep{k}.at = getelementptr float, ptr {q}.keep.at, i64 {k * width}\n",
                  f"  {q}.keep{k} = load {vec}, ptr {q}.keep{k}.at, align 4\n",
                  f"  {q}.keep{k}.on = fcmp one {vec} {q}.keep{k}, {zero}\n",  # a select: 0 x NaN would be NaN
                  f"  {q}.kept{k} = select {mask} {q}.keep{k}.on, {vec} {q}.post{k}, {vec} {zero}\n"]
    lines += [f"  br label {q}.store\n", f"{p}.store:\n"]
    lines += [f"  {q}.final{k} = phi {vec} [{q}.post{k}, {q}.relu_done], [{q}.kept{k}, {q}.apply_keep]\n"
              for k in ks]
    for k in ks:
        lines += [f"  {q}.out{k}.at = getelementptr float, ptr {q}.out.at, i64 {k * width}\n",
                  f"  store {vec} {q}.final{k}, ptr {q}.out{k}.at, align 4\n"]
    lines += [f"  br label {q}.row_end\n", f"{p}.row_end:\n  {q}.r.next = add i64 {q}.r, 1\n",
              f"  {q}.r.more = icmp slt i64 {q}.r.next, %rows\n  {q}.b.next = add i64 {q}.b, 1\n",
              f"  br i1 {q}.r.more, label {q}.row, label {q}.tile_end\n",
              f"{p}.tile_end:\n  {q}.b.more = icmp slt i64 {q}.b.next, {blocks}\n",
              f"  br i1 {q}.b.more, label {q}.tile, label %{after}\n"]
    return lines


def _sum_tree(values, vec: str):
    """(lines, name of the total) adding `values` pairwise: a balanced tree, short dependency chains."""
    lines, level = [], list(values)
    while len(level) > 1:
        merged = []
        for i in range(0, len(level) - 1, 2):
            merged.append(f"{level[i]}.plus")
            lines.append(f"  {merged[-1]} = fadd {vec} {level[i]}, {level[i + 1]}\n")
        level = merged + level[len(level) - len(level) % 2:]
    return lines, level[0]


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
    # The counts' texts repeat the intrinsic declarations and the shared passes: keep one of each.
    seen, kept, skipping = set(), [], False
    for line in text.splitlines(keepends=True):
        if line.startswith(("declare", "define", "@")):
            skipping = line in seen
            seen.add(line)
        if not skipping:
            kept.append(line)
        if line.startswith(("declare", "@", "}")):
            skipping = False
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
    return (functions[vectors], tile_floats(ISAS[isa][0], vectors)) if functions else None
