"""CPU inference latency: the exported sparse network against eager PyTorch and ONNX Runtime.

Targets (trained ResNet-18 at 98%, random/ERK/SNIP): exported / ORT dense <= 0.40 at batch 1
and <= 0.60 at batch 64; exported file >= 10x smaller than the dense checkpoint.

For each model x mask x sparsity x state x batch size x thread count, five networks run on the
same input in one process, alternating call by call, so a busy moment on the shared machine
hits all of them: torch dense, torch masked-dense, the sparsekit export, and ONNX Runtime
(CPUExecutionProvider, intra-op threads = the row's threads) on the dense and on the
masked-dense ONNX files. Medians are printed (the exported network's fastest call beside).
`trained` networks were first trained `--train-steps` SGD steps on Fashion-MNIST at 32x32
(BN statistics and biases real); `untrained` ones are the labelled best case (BN at its
identity init: pruned channels are exactly 0 and removable). Per row, the multiply-adds of the
dense network and the kept (non-zero) multiply-adds of the exported one, and the GFLOP/s each
achieves (exported: kept FLOPs / time; the physical limit is the kept multiply-adds at the
machine's rate). The export is redone for each batch size and thread count, since it picks
each layer's kernel by timing at exactly those.

    python benchmarks/sparse_inference.py --models resnet18 --masks random,erk,snip --sparsities 0.98 \
        --batch-sizes 1,64 --threads 1
    python benchmarks/sparse_inference.py            # the full grid (long)
"""
import argparse
import os
import time

import torch

from sparsekit.export import export
from sparsekit.export.latency import masked_models, measure

INPUT_SIZE = 32


HEADER = ("| model | mask | sparsity | state | batch | threads | torch dense ms | exported ms (min) | ORT dense ms "
          "| ORT masked ms | exported/torch | exported/ORT | dense GMAC | kept GMAC | GFLOP/s torch, ORT, exported "
          "| sparse layers | dense ckpt | exported file | smaller | max diff |")


def row(r) -> str:
    seconds = {key: r[f"{key}_ms"] / 1e3 for key in ("dense", "ort_dense", "exported")}
    flops = (2 * r["dense_madds"] / seconds["dense"], 2 * r["dense_madds"] / seconds["ort_dense"],
             2 * r["exported_madds"] / seconds["exported"])
    state = f"trained {r['train_steps']} steps" if r["train_steps"] else "untrained (best case)"
    return (f"| {r['model']} | {r['mask']} | {r['sparsity']:.2f} | {state} | {r['batch']} | {r['threads']} "
            f"| {r['dense_ms']:.2f} | {r['exported_ms']:.2f} ({r['exported_min_ms']:.2f}) | {r['ort_dense_ms']:.2f} "
            f"| {r['ort_masked_ms']:.2f} | {r['ratio']:.2f} | {r['ort_ratio']:.2f} | {r['dense_madds'] / 1e9:.3f} "
            f"| {r['exported_madds'] / 1e9:.4f} | {', '.join(f'{f / 1e9:.1f}' for f in flops)} "
            f"| {r['sparse_layers']}/{r['layers']} | {r['dense_bytes'] / 1e6:.2f} MB | {r['file_bytes'] / 1e6:.3f} MB "
            f"| {r['dense_bytes'] / r['file_bytes']:.1f}x | {r['max_diff']:.1e} |")


def profile(name: str, method: str, sparsity: float, batch_size: int, train_steps: int, rounds: int) -> None:
    """Where the exported network's time goes: fastest-call time per kind of step (conv and
    linear by kernel and output plane), summed over the network's steps."""
    _, masked, mask, _ = masked_models(name, method, sparsity, input_size=INPUT_SIZE, train_steps=train_steps)
    net = export(masked, mask, batch_size=batch_size, input_shape=(3, INPUT_SIZE, INPUT_SIZE))
    sample = torch.randn(batch_size, 3, INPUT_SIZE, INPUT_SIZE, generator=torch.Generator().manual_seed(1))
    fastest = [float("inf")] * len(net.steps)
    kinds = [""] * len(net.steps)
    for _ in range(rounds):
        slots = [sample]
        torch.set_grad_enabled(False)
        for index, (step, inputs, spec) in enumerate(zip(net.steps, net.inputs, net.specs)):
            began = time.perf_counter()
            slots.append(step(*[slots[i] for i in inputs]))
            fastest[index] = min(fastest[index], time.perf_counter() - began)
            plane = "x".join(str(d) for d in slots[-1].shape[2:])
            kinds[index] = f"{spec['op']} {spec.get('kernel', '')} {plane}".strip()
    torch.set_grad_enabled(True)
    total = sum(fastest)
    print(f"\nprofile: {name} {method} {sparsity} batch {batch_size}, fastest of {rounds} calls per step, "
          f"{total * 1e3:.2f} ms in all")
    by_kind = {}
    for kind, seconds in zip(kinds, fastest):
        by_kind[kind] = by_kind.get(kind, 0.0) + seconds
    for kind, seconds in sorted(by_kind.items(), key=lambda item: -item[1]):
        print(f"  {kind:<26} {seconds * 1e3:9.2f} ms  {seconds / total:6.1%}")


def _list(text: str, kind):
    return [kind(item) for item in text.split(",") if item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet20,resnet18,vgg16")
    parser.add_argument("--masks", default="random,erk,snip")
    parser.add_argument("--sparsities", default="0.9,0.95,0.98,0.99")
    parser.add_argument("--states", default="trained,untrained")
    parser.add_argument("--train-steps", type=int, default=40, help="SGD steps of batch 16 for trained networks")
    parser.add_argument("--batch-sizes", default="1,64")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=15, help="timed calls per network (medians reported)")
    parser.add_argument("--profile", action="store_true", help="then, per row setting, where the export's time goes")
    args = parser.parse_args()
    print(f"torch {torch.__version__}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; "
          f"rounds={args.rounds}; input 3x{INPUT_SIZE}x{INPUT_SIZE}", flush=True)
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
                                              input_size=INPUT_SIZE, with_ort=True, train_steps=steps)), flush=True)
    if args.profile:
        torch.set_num_threads(_list(args.threads, int)[0])
        for batch_size in _list(args.batch_sizes, int):
            profile(_list(args.models, str)[0], _list(args.masks, str)[0], _list(args.sparsities, float)[0],
                    batch_size, args.train_steps if "trained" in _list(args.states, str) else 0, args.rounds)


if __name__ == "__main__":
    main()
