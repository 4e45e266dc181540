"""CPU inference latency: dense vs masked-dense vs exported (targets: ResNet-18 at 98%, batch 1:
exported <= 0.4x dense; exported file >= 10x smaller than the dense checkpoint at 98%).

For each model x mask x sparsity x batch size x thread count, the three networks run on the
same input in one process, alternating call by call, so a busy moment on the shared machine
hits all three; the medians and their ratios are printed, one table row per setting. The
export is redone for each batch size and thread count, since it picks each layer's kernel by
timing at exactly those. Networks and masks come from `sparsekit.export.latency` (seeded
initialisations; see there for why BN's init makes dead-unit removal its most effective).

    python benchmarks/sparse_inference.py --models resnet18 --masks erk --sparsities 0.98 --batch-sizes 1
    python benchmarks/sparse_inference.py            # the full grid (long)
"""
import argparse
import os

import torch

from sparsekit.export.latency import measure

INPUT_SIZE = 32


HEADER = ("| model | mask | sparsity | batch | threads | dense ms | masked ms | exported ms | exported/dense "
          "| sparse layers | dense ckpt | exported file | smaller | max diff |")


def row(r) -> str:
    return (f"| {r['model']} | {r['mask']} | {r['sparsity']:.2f} | {r['batch']} | {r['threads']} "
            f"| {r['dense_ms']:.2f} | {r['masked_ms']:.2f} | {r['exported_ms']:.2f} | {r['ratio']:.2f}x "
            f"| {r['sparse_layers']}/{r['layers']} | {r['dense_bytes'] / 1e6:.2f} MB | {r['file_bytes'] / 1e6:.3f} MB "
            f"| {r['dense_bytes'] / r['file_bytes']:.1f}x | {r['max_diff']:.1e} |")


def _list(text: str, kind):
    return [kind(item) for item in text.split(",") if item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet20,resnet18,vgg16")
    parser.add_argument("--masks", default="random,erk,snip")
    parser.add_argument("--sparsities", default="0.9,0.95,0.98,0.99")
    parser.add_argument("--batch-sizes", default="1,64")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=15, help="timed calls per network (medians reported)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; "
          f"rounds={args.rounds}; input 3x{INPUT_SIZE}x{INPUT_SIZE}", flush=True)
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1), flush=True)
    for name in _list(args.models, str):
        for method in _list(args.masks, str):
            for sparsity in _list(args.sparsities, float):
                for batch_size in _list(args.batch_sizes, int):
                    for threads in _list(args.threads, int):
                        print(row(measure(name, method, sparsity, batch_size, threads, args.rounds,
                                                  input_size=INPUT_SIZE)), flush=True)


if __name__ == "__main__":
    main()
