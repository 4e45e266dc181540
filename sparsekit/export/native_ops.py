"""The native pieces of a whole-network run (`native_plan.py`): a strided map over 4-D windows
(copies between layouts, additions, ReLU, average and max pooling) and a plan runner that calls
a list of kernels in one go, generated as LLVM IR and compiled by llvmlite at load time.

Imports llvmlite only (no torch, no sparsekit, no numba), like `tiled_kernel.py`: `runtime.py`
loads this file beside it. Where llvmlite is absent or compiling fails, `functions()` returns
None and the network runs step by step, with the same results.

Why native: at batch 1 a sparse network's kept multiply-adds take about a millisecond, and the
forty-odd Python-level steps around them (each a few torch calls of 5-20 us) cost as much
again. A plan does the layout work of those steps with `map_op` and runs every kernel of a
stretch of the network from one call of `run_plan`.

map_op(int64 *args), args (pointers and strides in floats, as int64):
    0 dst, 1 src, 2 src2 (0: none), 3-6 outer sizes n0..n3, 7-10 src strides, 11-14 dst strides,
    15-18 src2 strides, 19-20 reduced sizes m0 m1, 21-22 their src strides, 23 mode (0 sum, 1 max),
    24 scale (float32 bits), 25 relu
  for every outer index i:  acc = sum or max over the reduced index j of src[i.s + j.r]
                            dst[i.d] = relu?(acc * scale + (src2 ? src2[i.t] : 0))
  (a copy: reduced sizes 1 and 1, scale 1.)

run_plan(int64 *records, int64 count), each record three int64: function address, kind, args
address; kind 0 calls a tiled kernel (`tiled_kernel.ir`) with its twelve arguments read from
args, kind 1 calls a function taking the args address (map_op).
"""
import ctypes
from typing import Dict, List, Optional

try:
    import llvmlite.binding as llvm
except ImportError:  # pragma: no cover - llvmlite absent: networks run step by step
    llvm = None

MAP_ARGUMENTS = 26
TILED_KIND, ARGS_KIND = 0, 1
_BUILT: Dict[str, object] = {}  # "engine", "map_op", "run_plan": the engine must outlive every call


def _argument(index: int, name: str) -> str:
    return (f"  %{name}.at = getelementptr i64, ptr %a, i64 {index}\n"
            f"  %{name} = load i64, ptr %{name}.at\n")


ARGUMENT_NAMES = (["dst", "src", "src2"] + [f"n{k}" for k in range(4)] + [f"s{k}" for k in range(4)]
                  + [f"d{k}" for k in range(4)] + [f"t{k}" for k in range(4)]
                  + ["m0", "m1", "r0", "r1", "mode", "scale", "relu"])


def _prologue(name: str) -> List[str]:
    """A map function's entry: its arguments loaded, its three pointers, its two flags."""
    lines = [f"define void @{name}(ptr noalias nocapture readonly %a) nounwind {{\nentry:\n"]
    lines += [_argument(index, argument) for index, argument in enumerate(ARGUMENT_NAMES)]
    return lines + ["  %dst.p = inttoptr i64 %dst to ptr\n  %src.p = inttoptr i64 %src to ptr\n",
                    "  %src2.p = inttoptr i64 %src2 to ptr\n  %has_src2 = icmp ne i64 %src2, 0\n",
                    "  %do_relu = icmp ne i64 %relu, 0\n"]


def _outer_loops(levels: int, inner: str) -> List[str]:
    """Loop heads over i0..i<levels-1>, each level carrying the src, dst and src2 offsets of the
    levels above it (%so<k>, %do<k>, %to<k>); the innermost head branches to `inner`. Their
    latches are `_latches`."""
    lines, previous = [], {"block": "entry", "so": "0", "do": "0", "to": "0"}
    for k in range(levels):
        lines += [f"outer{k}.head:\n",
                  f"  %i{k} = phi i64 [0, %{previous['block']}], [%i{k}.next, %outer{k}.latch]\n",
                  f"  %so{k}.step = mul i64 %i{k}, %s{k}\n  %so{k} = add i64 {_value(previous['so'])}, %so{k}.step\n",
                  f"  %do{k}.step = mul i64 %i{k}, %d{k}\n  %do{k} = add i64 {_value(previous['do'])}, %do{k}.step\n",
                  f"  %to{k}.step = mul i64 %i{k}, %t{k}\n  %to{k} = add i64 {_value(previous['to'])}, %to{k}.step\n",
                  f"  br label %{'outer%d.head' % (k + 1) if k < levels - 1 else inner}\n"]
        previous = {"block": f"outer{k}.head", "so": f"so{k}", "do": f"do{k}", "to": f"to{k}"}
    return lines


def _latches(levels: int) -> List[str]:
    lines = []
    for k in reversed(range(levels)):
        after = f"outer{k - 1}.latch" if k > 0 else "exit"
        lines += [f"outer{k}.latch:\n  %i{k}.next = add i64 %i{k}, 1\n",
                  f"  %i{k}.more = icmp slt i64 %i{k}.next, %n{k}\n",
                  f"  br i1 %i{k}.more, label %outer{k}.head, label %{after}\n"]
    return lines + ["exit:\n  ret void\n}\n"]


def _map_ir() -> str:
    """`map_op`: four nested outer loops, two nested reduction loops, offsets carried per level."""
    lines = ["declare float @llvm.maxnum.f32(float, float)\n"] + _prologue("map_op")
    lines += ["  %is_max = icmp ne i64 %mode, 0\n",
              "  %scale.bits = trunc i64 %scale to i32\n  %scale.f = bitcast i32 %scale.bits to float\n",
              "  %init = select i1 %is_max, float 0xFFF0000000000000, float 0.0\n"]
    # Any empty size: nothing to do.
    sizes = [f"n{k}" for k in range(4)] + ["m0", "m1"]
    lines += [f"  %empty{k} = icmp slt i64 %{size}, 1\n" for k, size in enumerate(sizes)]
    lines += ["  %e01 = or i1 %empty0, %empty1\n  %e23 = or i1 %empty2, %empty3\n  %e45 = or i1 %empty4, %empty5\n",
              "  %e03 = or i1 %e01, %e23\n  %empty = or i1 %e03, %e45\n",
              "  br i1 %empty, label %exit, label %outer0.head\n"]
    lines += _outer_loops(4, "reduce0.head")
    # Reduction loops over j0, j1 with the accumulator in a phi.
    lines += ["reduce0.head:\n",
              "  %j0 = phi i64 [0, %outer3.head], [%j0.next, %reduce0.latch]\n",
              "  %acc0 = phi float [%init, %outer3.head], [%acc1.out, %reduce0.latch]\n",
              "  %ro0.step = mul i64 %j0, %r0\n  %ro0 = add i64 %so3, %ro0.step\n",
              "  br label %reduce1.head\n",
              "reduce1.head:\n",
              "  %j1 = phi i64 [0, %reduce0.head], [%j1.next, %reduce1.head]\n",
              "  %acc1 = phi float [%acc0, %reduce0.head], [%acc1.next, %reduce1.head]\n",
              "  %ro1.step = mul i64 %j1, %r1\n  %ro1 = add i64 %ro0, %ro1.step\n",
              "  %v.at = getelementptr float, ptr %src.p, i64 %ro1\n  %v = load float, ptr %v.at\n",
              "  %summed = fadd float %acc1, %v\n  %maxed = call float @llvm.maxnum.f32(float %acc1, float %v)\n",
              "  %acc1.next = select i1 %is_max, float %maxed, float %summed\n",
              "  %j1.next = add i64 %j1, 1\n  %j1.more = icmp slt i64 %j1.next, %m1\n",
              "  br i1 %j1.more, label %reduce1.head, label %reduce0.latch\n",
              "reduce0.latch:\n  %acc1.out = phi float [%acc1.next, %reduce1.head]\n",
              "  %j0.next = add i64 %j0, 1\n  %j0.more = icmp slt i64 %j0.next, %m0\n",
              "  br i1 %j0.more, label %reduce0.head, label %store\n",
              "store:\n  %scaled = fmul float %acc1.out, %scale.f\n",
              "  br i1 %has_src2, label %add_src2, label %added\n",
              "add_src2:\n  %w.at = getelementptr float, ptr %src2.p, i64 %to3\n  %w = load float, ptr %w.at\n",
              "  %with_src2 = fadd float %scaled, %w\n  br label %added\n",
              "added:\n  %sum = phi float [%scaled, %store], [%with_src2, %add_src2]\n",
              "  %rectified = call float @llvm.maxnum.f32(float %sum, float 0.0)\n",
              "  %result = select i1 %do_relu, float %rectified, float %sum\n",
              "  %out.at = getelementptr float, ptr %dst.p, i64 %do3\n  store float %result, ptr %out.at\n",
              "  br label %outer3.latch\n"]
    return "".join(lines + _latches(4))


VECTOR = 16  # floats per vector of the row copies (LLVM splits it where the CPU's registers are narrower)


def _rows_ir(step: int) -> str:
    """`rows_op_<step>`: `map_op` without reduction and scale, for rows the innermost index runs
    along: dst and src2 at stride 1, src at stride `step` (1, or 2 for the polyphase copies of
    stride-2 convs); VECTOR floats at a time, then one by one. Same arguments as `map_op`. With
    step 2 the vector loads read one float past a row's last: the source buffer must have room."""
    vec, wide = f"<{VECTOR} x float>", f"<{VECTOR * step} x float>"
    pick = ", ".join(f"i32 {step * k}" for k in range(VECTOR))
    lines = _prologue(f"rows_op_{step}")
    lines += [  # The vector part reads VECTOR x step floats from its first: up to step - 1 past the
              # row's last, which the caller's buffers leave room for.
              f"  %vector_end = sub i64 %n3, {VECTOR}\n"]
    lines += [f"  %empty{k} = icmp slt i64 %n{k}, 1\n" for k in range(4)]
    lines += ["  %e01 = or i1 %empty0, %empty1\n  %e23 = or i1 %empty2, %empty3\n  %empty = or i1 %e01, %e23\n",
              "  br i1 %empty, label %exit, label %outer0.head\n"]
    lines += _outer_loops(3, "row")
    lines += ["row:\n  %row.src = getelementptr float, ptr %src.p, i64 %so2\n",
              "  %row.dst = getelementptr float, ptr %dst.p, i64 %do2\n",
              "  %row.src2 = getelementptr float, ptr %src2.p, i64 %to2\n",
              "  %any_vector = icmp sge i64 %vector_end, 0\n",
              "  br i1 %any_vector, label %vector, label %scalar.entry\n",
              "vector:\n  %v.i = phi i64 [0, %row], [%v.next, %vector.join]\n",
              f"  %v.src.index = mul i64 %v.i, {step}\n",
              "  %v.src.at = getelementptr float, ptr %row.src, i64 %v.src.index\n",
              f"  %v.wide = load {wide}, ptr %v.src.at, align 4\n"]
    if step > 1:
        lines.append(f"  %v.x = shufflevector {wide} %v.wide, {wide} poison, <{VECTOR} x i32> <{pick}>\n")
    else:
        lines.append(f"  %v.x = fadd {vec} %v.wide, zeroinitializer\n")
    lines += ["  br i1 %has_src2, label %vector.add, label %vector.join\n",
              "vector.add:\n  %v.src2.at = getelementptr float, ptr %row.src2, i64 %v.i\n",
              f"  %v.y = load {vec}, ptr %v.src2.at, align 4\n  %v.sum = fadd {vec} %v.x, %v.y\n",
              "  br label %vector.join\n",
              f"vector.join:\n  %v.value = phi {vec} [%v.x, %vector], [%v.sum, %vector.add]\n",
              f"  %v.rect = call {vec} @llvm.maxnum.v{VECTOR}f32({vec} %v.value, {vec} zeroinitializer)\n",
              f"  %v.out = select i1 %do_relu, {vec} %v.rect, {vec} %v.value\n",
              "  %v.dst.at = getelementptr float, ptr %row.dst, i64 %v.i\n",
              f"  store {vec} %v.out, ptr %v.dst.at, align 4\n",
              f"  %v.next = add i64 %v.i, {VECTOR}\n  %v.more = icmp sle i64 %v.next, %vector_end\n",
              "  br i1 %v.more, label %vector, label %scalar.entry\n",
              "scalar.entry:\n  %first = phi i64 [0, %row], [%v.next, %vector.join]\n",
              "  %any_scalar = icmp slt i64 %first, %n3\n",
              "  br i1 %any_scalar, label %scalar, label %outer2.latch\n",
              "scalar:\n  %c.i = phi i64 [%first, %scalar.entry], [%c.next, %scalar.join]\n",
              f"  %c.src.index = mul i64 %c.i, {step}\n",
              "  %c.src.at = getelementptr float, ptr %row.src, i64 %c.src.index\n",
              "  %c.x = load float, ptr %c.src.at\n",
              "  br i1 %has_src2, label %scalar.add, label %scalar.join\n",
              "scalar.add:\n  %c.src2.at = getelementptr float, ptr %row.src2, i64 %c.i\n",
              "  %c.y = load float, ptr %c.src2.at\n  %c.sum = fadd float %c.x, %c.y\n  br label %scalar.join\n",
              "scalar.join:\n  %c.value = phi float [%c.x, %scalar], [%c.sum, %scalar.add]\n",
              "  %c.rect = call float @llvm.maxnum.f32(float %c.value, float 0.0)\n",
              "  %c.out = select i1 %do_relu, float %c.rect, float %c.value\n",
              "  %c.dst.at = getelementptr float, ptr %row.dst, i64 %c.i\n  store float %c.out, ptr %c.dst.at\n",
              "  %c.next = add i64 %c.i, 1\n  %c.more = icmp slt i64 %c.next, %n3\n",
              "  br i1 %c.more, label %scalar, label %outer2.latch\n"]
    return "".join(lines + _latches(3))


def _value(name: str) -> str:
    return name if name == "0" else f"%{name}"


def _runner_ir() -> str:
    """`run_plan`: call each record's function in turn, with the arguments its kind takes."""
    tiled_types = ["ptr"] * 8 + ["i64"] * 3 + ["i32"]
    lines = ["define void @run_plan(ptr nocapture readonly %records, i64 %count) {\n",
             "entry:\n  %any = icmp sgt i64 %count, 0\n  br i1 %any, label %next, label %exit\n",
             "next:\n  %k = phi i64 [0, %entry], [%k.next, %done]\n",
             "  %rec.index = mul i64 %k, 3\n  %rec = getelementptr i64, ptr %records, i64 %rec.index\n",
             "  %fn.i = load i64, ptr %rec\n  %fn = inttoptr i64 %fn.i to ptr\n",
             "  %kind.at = getelementptr i64, ptr %rec, i64 1\n  %kind = load i64, ptr %kind.at\n",
             "  %a.at = getelementptr i64, ptr %rec, i64 2\n  %a.i = load i64, ptr %a.at\n",
             "  %a = inttoptr i64 %a.i to ptr\n",
             f"  %is_tiled = icmp eq i64 %kind, {TILED_KIND}\n",
             "  br i1 %is_tiled, label %tiled, label %plain\n", "tiled:\n"]
    values = []
    for index, kind in enumerate(tiled_types):
        lines.append(_argument(index, f"x{index}"))
        if kind == "ptr":
            lines.append(f"  %p{index} = inttoptr i64 %x{index} to ptr\n")
            values.append(f"ptr %p{index}")
        elif kind == "i32":
            lines.append(f"  %p{index} = trunc i64 %x{index} to i32\n")
            values.append(f"i32 %p{index}")
        else:
            values.append(f"i64 %x{index}")
    lines += [f"  call void %fn({', '.join(values)})\n  br label %done\n",
              "plain:\n  call void %fn(ptr %a)\n  br label %done\n",
              "done:\n  %k.next = add i64 %k, 1\n  %more = icmp slt i64 %k.next, %count\n",
              "  br i1 %more, label %next, label %exit\n", "exit:\n  ret void\n}\n"]
    return "".join(lines)


ROW_STEPS = (1, 2)  # the source strides `rows_op_<step>` reads along a row


def ir() -> str:
    return (_map_ir() + f"declare <{VECTOR} x float> @llvm.maxnum.v{VECTOR}f32(<{VECTOR} x float>, <{VECTOR} x float>)\n"
            + "".join(_rows_ir(step) for step in ROW_STEPS) + _runner_ir())


def functions() -> Optional[Dict[str, object]]:
    """{"map_op": address, "rows_op": {source step: address}, "run_plan": ctypes function}, compiled once per process; None where
    llvmlite is absent or LLVM refuses the build (the network then runs step by step)."""
    if llvm is None:
        return None
    if "run_plan" not in _BUILT:
        try:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            module = llvm.parse_assembly(ir())
            module.verify()
            target = llvm.Target.from_triple(llvm.get_process_triple())
            machine = target.create_target_machine(opt=3, codemodel="jitdefault")
            engine = llvm.create_mcjit_compiler(module, machine)
            engine.finalize_object()
            runner = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(engine.get_function_address("run_plan"))
            rows = {step: engine.get_function_address(f"rows_op_{step}") for step in ROW_STEPS}
            _BUILT.update(engine=engine, map_op=engine.get_function_address("map_op"), rows_op=rows, run_plan=runner)
        except RuntimeError:  # pragma: no cover - LLVM refused this build
            _BUILT.update(engine=None, run_plan=None)
    if _BUILT["run_plan"] is None:
        return None
    return {name: _BUILT[name] for name in ("map_op", "rows_op", "run_plan")}
