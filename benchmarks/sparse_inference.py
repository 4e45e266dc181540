"""CPU inference latency: dense vs masked-dense vs exported (targets: ResNet-18 at 98%, batch 1:
exported <= 0.4x dense; exported file >= 10x smaller than the dense checkpoint at 98%).

For each model x mask x sparsity x batch size x thread count, the three networks run on the
same input in one process, alternating call by call, so a busy moment on the shared machine
hits all three; the medians and their ratios are printed, one table row per setting. The
export is redone for each batch size and thread count, since it picks each layer's kernel by
timing at exactly those. Weights are the seeded initialisation (BN at its identity init, so a
fully pruned channel outputs 0 and dead-unit removal is at its most effective); the mask
decides the sparsity pattern, which is all latency depends on. SNIP scores one random
CIFAR-shaped batch (seeded).

    python benchmarks/sparse_inference.py --models resnet18 --masks erk --sparsities 0.98 --batch-sizes 1
    python benchmarks/sparse_inference.py            # the full grid (long)
"""
import argparse
import io
import os
import statistics
import tempfile
import time

import torch

import sparsekit as sk
from sparsekit.models import build

INPUT_SHAPE = (3, 32, 32)


def masked_model(name: str, method: str, sparsity: float):
    torch.manual_seed(0)
    model = build(name, 10, width=1.0, input_size=INPUT_SHAPE[1]).eval()
    generator = torch.Generator().manual_seed(0)
    batch = (torch.randn((32,) + INPUT_SHAPE, generator=generator), torch.randint(0, 10, (32,), generator=generator))
    mask = sk.masks.compute(method, model, sparsity, data=[batch], seed=0)
    dense = build(name, 10, width=1.0, input_size=INPUT_SHAPE[1]).eval()
    dense.load_state_dict(model.state_dict())  # the same weights, unpruned
    return dense, mask.apply(model).eval(), mask


@torch.no_grad()
def alternating_medians(functions, sample, rounds: int):
    """Median milliseconds of each function, called in turn `rounds` times after a warm-up."""
    for fn in functions:
        fn(sample)
    samples = [[] for _ in functions]
    for _ in range(rounds):
        for fn, bucket in zip(functions, samples):
            began = time.perf_counter()
            fn(sample)
            bucket.append(time.perf_counter() - began)
    return [statistics.median(bucket) * 1e3 for bucket in samples]


def checkpoint_bytes(model) -> int:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def measure(name, method, sparsity, batch_size, threads, rounds):
    torch.set_num_threads(threads)
    dense, masked, mask = masked_model(name, method, sparsity)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "net.skx")
        exported = sk.export(masked, mask, batch_size=batch_size, path=path, input_shape=INPUT_SHAPE)
        file_bytes = os.path.getsize(path)
    sample = torch.randn((batch_size,) + INPUT_SHAPE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        difference = (exported(sample) - masked(sample)).abs().max().item()
    dense_ms, masked_ms, exported_ms = alternating_medians([dense, masked, exported], sample, rounds)
    kernels = exported.report["kernels"].values()
    return {"model": name, "mask": method, "sparsity": sparsity, "batch": batch_size, "threads": threads,
            "dense_ms": dense_ms, "masked_ms": masked_ms, "exported_ms": exported_ms,
            "ratio": exported_ms / dense_ms, "sparse_layers": sum(k["kernel"] == "sparse" for k in kernels),
            "layers": len(kernels), "dense_bytes": checkpoint_bytes(dense), "file_bytes": file_bytes,
            "max_diff": difference}


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
          f"rounds={args.rounds}; input {INPUT_SHAPE}", flush=True)
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1), flush=True)
    for name in _list(args.models, str):
        for method in _list(args.masks, str):
            for sparsity in _list(args.sparsities, float):
                for batch_size in _list(args.batch_sizes, int):
                    for threads in _list(args.threads, int):
                        print(row(measure(name, method, sparsity, batch_size, threads, args.rounds)), flush=True)


if __name__ == "__main__":
    main()
