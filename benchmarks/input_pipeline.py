"""Images per second through the training input pipeline, CIFAR format: the real reading,
decoding, random crop, flip and normalisation of `sparsekit.data.load("cifar10")`, with 0 and
with N DataLoader workers. No network: the images are random pixels written in the official
CIFAR-10 file format (the test suite's writer), 10,000 of them.

    python benchmarks/input_pipeline.py [--workers 0,2 --batches 40 --batch-size 128]

No model runs: this is the rate the data can be fed at. On a GPU, a training step at batch
128 of ResNet-20 takes a few milliseconds, so the pipeline, not the GPU, sets the pace
unless it delivers tens of thousands of images per second (docs/scale-out.md).
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import fake_datasets  # noqa: E402  (tests/ is not a package)

from sparsekit import data  # noqa: E402


def images_per_second(root: str, workers: int, batches: int, batch_size: int, pin_memory: bool) -> float:
    bundle = data.load("cifar10", root=root, batch_size=batch_size, num_workers=workers, pin_memory=pin_memory,
                       persistent_workers=workers > 0)
    train = bundle.train
    iterator = iter(train)
    next(iterator)  # workers started and warm: their start-up is paid once per run, not per batch
    count, started = 0, time.perf_counter()
    for index, (images, _) in enumerate(iterator):
        count += len(images)
        if index + 1 >= batches:
            break
    return count / (time.perf_counter() - started)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="0,2", help="comma-separated worker counts (default: 0,2)")
    parser.add_argument("--batches", type=int, default=40, help="batches timed per setting (default: 40)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--pin-memory", action="store_true", help="pinned batches (takes effect with CUDA)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as root:
        fake_datasets.write_cifar10(root, per_batch=2000, test_count=100)
        for workers in [int(w) for w in args.workers.split(",")]:
            rate = images_per_second(root, workers, args.batches, args.batch_size, args.pin_memory)
            print(f"num_workers={workers}: {rate:,.0f} images/s (batch {args.batch_size}, {args.batches} batches)",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
