"""CPU inference latency: the exported sparse network against ONNX Runtime on the dense network.

Targets (issue 53; trained ResNet-18 at 98%, one thread): exported / ORT dense <= 0.25 at batch 1
with a random mask and <= 0.45 with ERK and SNIP; <= 0.45 at batch 64 for all three.

For each model x mask x sparsity x state x batch size x thread count, the sparsekit export and
ONNX Runtime (CPUExecutionProvider, intra-op threads = the row's threads, every graph
optimisation) on the dense and on the masked-dense ONNX files run on the same input in one
process, alternating call by call, so a busy moment on the shared machine hits all of them;
medians are printed, and the ratio of the fastest calls beside (on a machine shared by many
processes, a median also measures the scheduler's share). `trained` networks were first
trained `--train-steps` SGD steps on Fashion-MNIST at 32x32 (BN statistics and biases real); `untrained` ones are the labelled best
case (BN at its identity init: pruned channels are exactly 0 and removable). Per row: the
exported network's GFLOP/s on its kept (non-zero) multiply-adds, ORT's on the dense ones, and
the kept-MAC floor: the kept multiply-adds as a share of the dense ones, i.e. the ratio an
export running them at ORT's dense rate would reach (the physical limit of skipping zeros).
The export is redone for each batch size and thread count, since it picks each layer's kernel
by timing at exactly those. `--torch` adds eager PyTorch's dense network to the alternation.

    python benchmarks/sparse_inference.py                      # the issue-53 grid (long)
    python benchmarks/sparse_inference.py --models resnet18 --sparsities 0.98 --profile

`--blocked-trial` times, per stride-1 3x3 conv of the first row setting, the register-blocked
kernel that was tried and not kept (four output channels per pass sharing each input load,
on the union of their kept (input channel, tap) pairs, zero-filled) against the runtime's
direct kernel and dense, fastest of `--rounds` calls alternating: the measurement behind
benchmarks/README.md's note on why the runtime does not use it.
"""
import argparse
import os
import time

import numba
import torch
from torch.nn import functional as F

from sparsekit.export import export, runtime
from sparsekit.export.latency import masked_models, measure

INPUT_SIZE = 32


HEADER = ("| model | mask | sparsity | state | batch | threads | exported ms | ORT dense ms | ORT masked ms "
          "| **exported / ORT dense** | same, fastest calls | GFLOP/s exported (kept MACs) | GFLOP/s ORT (dense MACs) "
          "| kept-MAC floor "
          "| tiled / sparse / all layers | runner | file smaller | max diff |")


def row(r, with_torch: bool) -> str:
    exported_flops = 2 * r["exported_madds"] / (r["exported_ms"] / 1e3)
    ort_flops = 2 * r["dense_madds"] / (r["ort_dense_ms"] / 1e3)
    state = f"trained {r['train_steps']} steps" if r["train_steps"] else "untrained (best case)"
    torch_part = f" (torch dense {r['dense_ms']:.2f} ms, exported/torch {r['ratio']:.2f})" if with_torch else ""
    return (f"| {r['model']} | {r['mask']} | {r['sparsity']:.2f} | {state} | {r['batch']} | {r['threads']} "
            f"| {r['exported_ms']:.2f}{torch_part} | {r['ort_dense_ms']:.2f} | {r['ort_masked_ms']:.2f} "
            f"| **{r['ort_ratio']:.2f}** | {r['exported_min_ms'] / r['ort_dense_min_ms']:.2f} "
            f"| {exported_flops / 1e9:.1f} | {ort_flops / 1e9:.1f} "
            f"| {r['exported_madds'] / r['dense_madds']:.3f} "
            f"| {r['tiled_layers']} / {r['sparse_layers']} / {r['layers']} | {r['runner']} "
            f"| {r['dense_bytes'] / r['file_bytes']:.1f}x | {r['max_diff']:.1e} |")


def profile(name: str, method: str, sparsity: float, batch_size: int, train_steps: int, rounds: int) -> None:
    """Where the exported network's time goes: fastest-call time per kind of step (conv and
    linear by kernel and output plane), summed over the network's steps."""
    _, masked, mask, _ = masked_models(name, method, sparsity, input_size=INPUT_SIZE, train_steps=train_steps)
    net = export(masked, mask, batch_size=batch_size, input_shape=(3, INPUT_SIZE, INPUT_SIZE))
    sample = torch.randn(batch_size, 3, INPUT_SIZE, INPUT_SIZE, generator=torch.Generator().manual_seed(1))
    if net.runner == "plan":
        plan_profile(net, sample, f"{name} {method} {sparsity} batch {batch_size}", rounds)
        return
    fastest = [float("inf")] * len(net.steps)
    kinds = [""] * len(net.steps)
    for _ in range(rounds):
        slots = [sample]
        torch.set_grad_enabled(False)
        for index, (step, inputs, spec) in enumerate(zip(net.steps, net.inputs, net.specs)):
            began = time.perf_counter()
            operands = [slots[i] for i in inputs]
            if not isinstance(step, net.passes_staged):  # as `ExportedNet.forward` does
                operands = [runtime.plain(operand) for operand in operands]
            slots.append(step(*operands))
            fastest[index] = min(fastest[index], time.perf_counter() - began)
            if slots[-1] is None:  # a conv whose work the residual addition after it does
                kinds[index] = "(fused into the next add)"
                continue
            plane = "x".join(str(d) for d in slots[-1].shape[2:])
            kernel = f"{spec.get('kernel', '')}{spec.get('vectors', '')}"
            fused = "+residual" if runtime.tiled and isinstance(step, runtime.tiled.WithResidual) else ""
            kinds[index] = f"{spec['op']}{fused} {kernel} {plane}".strip()
    torch.set_grad_enabled(True)
    total = sum(fastest)
    print(f"\nprofile: {name} {method} {sparsity} batch {batch_size}, fastest of {rounds} calls per step, "
          f"{total * 1e3:.2f} ms in all")
    by_kind = {}
    for kind, seconds in zip(kinds, fastest):
        by_kind[kind] = by_kind.get(kind, 0.0) + seconds
    for kind, seconds in sorted(by_kind.items(), key=lambda item: -item[1]):
        print(f"  {kind:<26} {seconds * 1e3:9.2f} ms  {seconds / total:6.1%}")


def plan_profile(net, sample, title: str, rounds: int) -> None:
    """Where a native plan's time goes: fastest time of each of its native calls (kernels and
    layout copies) and torch calls, alone, summed by kind (the whole call also pays for its
    input copy, the output's clone and the caches the calls share)."""
    with torch.no_grad():
        net(sample)
        spent = net.plan_for(sample).profile(rounds)
    total = sum(spent.values())
    print(f"\nprofile: {title}, native plan, fastest of {rounds} calls per record, {total:.2f} ms in all")
    by_kind = {}
    for label, ms in spent.items():
        by_kind[label] = by_kind.get(label, 0.0) + ms
    for kind, ms in sorted(by_kind.items(), key=lambda item: -item[1]):
        print(f"  {kind:<34} {ms:9.2f} ms  {ms / total:6.1%}")


BLOCK = 4  # output channels per pass of the tried kernel


@numba.njit(nogil=True, cache=True)
def _blocked_loop(padded, starts, channels, offsets, weights, bias, out, tile):
    """The tried kernel, stride 1 over all images' padded planes back to back (the layout of
    the runtime's "sparse_flat" route): per block of BLOCK output rows and tile of positions,
    each union entry's input run is loaded once and added into the BLOCK rows with their
    weights (zero where a row does not keep that entry)."""
    outputs, length = out.shape
    for block in range(outputs // BLOCK):
        r = block * BLOCK
        for t0 in range(0, length, tile):
            n = min(tile, length - t0)
            o0, o1, o2, o3 = out[r, t0:t0 + n], out[r + 1, t0:t0 + n], out[r + 2, t0:t0 + n], out[r + 3, t0:t0 + n]
            for t in range(n):
                o0[t], o1[t], o2[t], o3[t] = bias[r], bias[r + 1], bias[r + 2], bias[r + 3]
            for e in range(starts[block], starts[block + 1]):
                source = padded[channels[e], offsets[e] + t0:offsets[e] + t0 + n]
                w0, w1, w2, w3 = weights[e, 0], weights[e, 1], weights[e, 2], weights[e, 3]
                for t in range(n):
                    x = source[t]
                    o0[t] += w0 * x
                    o1[t] += w1 * x
                    o2[t] += w2 * x
                    o3[t] += w3 * x


def _blocked_conv(weight, bias, padding: int, tile: int = 512):
    """conv2d(x, weight, bias, 1, padding) by `_blocked_loop`, with the weights reordered by
    block and (input channel, tap); returns (function of x, zero-filled share of the block weights)."""
    outputs, channels, k, _ = weight.shape
    by_block = weight.reshape(outputs // BLOCK, BLOCK, channels * k * k)
    union = (by_block != 0).any(1)
    starts = torch.cat([torch.zeros(1, dtype=torch.long), union.sum(1).cumsum(0)])
    block, column = union.nonzero(as_tuple=True)
    weights = by_block[block, :, column].contiguous()

    def conv(x):
        batch, _, height, width = x.shape
        tall, wide = height + 2 * padding, width + 2 * padding
        length = batch * tall * wide
        padded = torch.zeros(channels, length + (k - 1) * (wide + 1))
        padded[:, :length].view(channels, batch, tall, wide)[:, :, padding:padding + height,
                                                             padding:padding + width] = x.transpose(0, 1)
        offsets = column % (k * k) // k * wide + column % k
        out = torch.empty(outputs, length)
        _blocked_loop(padded.numpy(), starts.numpy(), (column // (k * k)).numpy(), offsets.numpy(), weights.numpy(),
                      bias.numpy(), out.numpy(), tile)
        return out.view(outputs, batch, tall, wide)[:, :, :height, :width].transpose(0, 1)
    return conv, float((weights == 0).float().mean())


def blocked_trial(name: str, method: str, sparsity: float, batch_size: int, train_steps: int, rounds: int) -> None:
    """Per stride-1 3x3 conv of the masked network: dense, the runtime's direct kernel (its
    all-images route, the same layout) and the tried blocked kernel, fastest calls alternating."""
    _, masked, _, _ = masked_models(name, method, sparsity, input_size=INPUT_SIZE, train_steps=train_steps)
    layers = []
    hooks = [m.register_forward_hook(lambda m, i, o: layers.append((m, i[0].shape)))
             for m in masked.modules() if isinstance(m, torch.nn.Conv2d)]
    torch.set_grad_enabled(False)  # after the (cached) training above
    masked(torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE))
    for hook in hooks:
        hook.remove()
    print(f"\nblocked trial: {name} {method} {sparsity} batch {batch_size}, fastest of {rounds} calls, ms "
          f"(GFLOP/s on kept multiply-adds)")
    generator = torch.Generator().manual_seed(1)
    for conv, shape in layers:
        weight, padding = conv.weight.detach(), conv.padding[0]
        if conv.stride[0] != 1 or weight.shape[-1] != 3 or weight.shape[0] % BLOCK or shape[1] == 3:
            continue
        bias = torch.randn(weight.shape[0], generator=generator)
        x = torch.randn((batch_size,) + tuple(shape[1:]), generator=generator)
        blocked, zero_filled = _blocked_conv(weight, bias, padding)
        direct = runtime.DirectSparseConv(weight, bias, 1, padding, flat=True)
        kernels = {"dense": lambda x: F.conv2d(x, weight, bias, 1, padding), "direct": direct, "blocked": blocked}
        expected = kernels["dense"](x)
        assert all((fn(x) - expected).abs().max() <= 1e-4 for fn in kernels.values())
        fastest = dict.fromkeys(kernels, float("inf"))
        for _ in range(rounds):
            for key, fn in kernels.items():
                began = time.perf_counter()
                fn(x)
                fastest[key] = min(fastest[key], time.perf_counter() - began)
        flops = 2 * int((weight != 0).sum()) * batch_size * shape[2] * shape[3]
        print(f"  {tuple(weight.shape)} on {shape[2]}x{shape[3]}, density {float((weight != 0).float().mean()):.3f}, "
              f"zero-filled {zero_filled:.0%}: " + ", ".join(f"{key} {seconds * 1e3:.3f} ({flops / seconds / 1e9:.1f})"
                                                             for key, seconds in fastest.items()))
    torch.set_grad_enabled(True)


def _list(text: str, kind):
    return [kind(item) for item in text.split(",") if item]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet18,vgg16")
    parser.add_argument("--masks", default="random,erk,snip")
    parser.add_argument("--sparsities", default="0.98,0.99")
    parser.add_argument("--states", default="trained")
    parser.add_argument("--train-steps", type=int, default=40, help="SGD steps of batch 16 for trained networks")
    parser.add_argument("--batch-sizes", default="1,64")
    parser.add_argument("--threads", default="1")
    parser.add_argument("--torch", action="store_true", help="also time eager PyTorch on the dense network")
    parser.add_argument("--rounds", type=int, default=15, help="timed calls per network (medians reported)")
    parser.add_argument("--profile", action="store_true", help="then, per row setting, where the export's time goes")
    parser.add_argument("--blocked-trial", action="store_true",
                        help="then the tried register-blocked kernel against the direct one, per layer")
    parser.add_argument("--no-table", action="store_true", help="only --profile and --blocked-trial")
    return parser.parse_args()


def table(args) -> None:
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1), flush=True)
    for name in _list(args.models, str):
        for method in _list(args.masks, str):
            for sparsity in _list(args.sparsities, float):
                for state in _list(args.states, str):
                    steps = args.train_steps if state == "trained" else 0
                    for batch_size in _list(args.batch_sizes, int):
                        for threads in _list(args.threads, int):
                            print(row(measure(name, method, sparsity, batch_size, threads, args.rounds,
                                              input_size=INPUT_SIZE, with_ort=True, train_steps=steps,
                                              with_torch=args.torch), args.torch), flush=True)


def main() -> None:
    args = arguments()
    print(f"torch {torch.__version__}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; "
          f"rounds={args.rounds}; input 3x{INPUT_SIZE}x{INPUT_SIZE}", flush=True)
    if not args.no_table:
        table(args)
    # The extras run on the first model, mask and sparsity, at the first thread count.
    torch.set_num_threads(_list(args.threads, int)[0])
    first = (_list(args.models, str)[0], _list(args.masks, str)[0], _list(args.sparsities, float)[0])
    steps = args.train_steps if "trained" in _list(args.states, str) else 0
    for batch_size in _list(args.batch_sizes, int) if args.blocked_trial else []:
        blocked_trial(*first, batch_size, steps, args.rounds)
    for batch_size in _list(args.batch_sizes, int) if args.profile else []:
        profile(*first, batch_size, steps, args.rounds)


if __name__ == "__main__":
    main()
