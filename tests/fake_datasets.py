"""Write tiny datasets in the real on-disk formats, so tests run the real reading code
(torchvision's CIFAR pickle parsing, our Tiny ImageNet folder reader) without downloads.

Pixels are random so that a random crop or flip visibly changes an image.
"""
import os
import pickle
from typing import List

import numpy as np
from PIL import Image

CIFAR_PIXELS = 3 * 32 * 32


def _write_pickle(path: str, entry: dict) -> None:
    # The official files are Python 2 pickles whose keys are Python 2 str; torchvision
    # loads them with encoding="latin1", which turns those keys into str ('data', not
    # b'data' as encoding="bytes" would show). Python 3 str keys load the same way.
    # Protocol 2 is the newest protocol Python 2 could read, as in the real files.
    with open(path, "wb") as handle:
        pickle.dump(entry, handle, protocol=2)


def _cifar_images(rng: np.random.Generator, count: int) -> np.ndarray:
    # Row layout of the real files: 1024 red, then 1024 green, then 1024 blue, row-major.
    return rng.integers(0, 256, size=(count, CIFAR_PIXELS), dtype=np.uint8)


def _cycling_labels(start: int, count: int, num_classes: int) -> List[int]:
    # Every class appears as soon as count >= num_classes.
    return [(start + index) % num_classes for index in range(count)]


def write_cifar10(root: str, per_batch: int = 20, test_count: int = 20, seed: int = 0) -> str:
    """`root/cifar-10-batches-py/` with data_batch_1..5, test_batch and batches.meta."""
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for number in range(1, 6):
        name = f"data_batch_{number}"
        _write_pickle(os.path.join(folder, name), {
            "batch_label": f"training batch {number} of 5",
            "labels": _cycling_labels(number, per_batch, 10),
            "data": _cifar_images(rng, per_batch),
            "filenames": [f"{name}_{index}.png" for index in range(per_batch)],
        })
    _write_pickle(os.path.join(folder, "test_batch"), {
        "batch_label": "testing batch 1 of 1",
        "labels": _cycling_labels(0, test_count, 10),
        "data": _cifar_images(rng, test_count),
        "filenames": [f"test_{index}.png" for index in range(test_count)],
    })
    _write_pickle(os.path.join(folder, "batches.meta"), {
        "num_cases_per_batch": per_batch,
        "label_names": ["airplane", "automobile", "bird", "cat", "deer",
                        "dog", "frog", "horse", "ship", "truck"],
        "num_vis": CIFAR_PIXELS,
    })
    return folder


def write_cifar100(root: str, train_count: int = 200, test_count: int = 100,
                   seed: int = 0) -> str:
    """`root/cifar-100-python/` with train, test and meta (fine and coarse labels)."""
    folder = os.path.join(root, "cifar-100-python")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name, count in (("train", train_count), ("test", test_count)):
        fine = _cycling_labels(0, count, 100)
        _write_pickle(os.path.join(folder, name), {
            "filenames": [f"{name}_{index}.png" for index in range(count)],
            "batch_label": f"{name}ing batch 1 of 1",
            "fine_labels": fine,
            "coarse_labels": [label // 5 for label in fine],
            "data": _cifar_images(rng, count),
        })
    _write_pickle(os.path.join(folder, "meta"), {
        "fine_label_names": [f"fine_{index}" for index in range(100)],
        "coarse_label_names": [f"coarse_{index}" for index in range(20)],
    })
    return folder


def _write_jpeg(path: str, rng: np.random.Generator, greyscale: bool = False) -> None:
    shape = (64, 64) if greyscale else (64, 64, 3)
    Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8)).save(path)


def write_tinyimagenet(root: str, wnids=("n01443537", "n01629819", "n01641577"),
                       train_per_class: int = 12, val_per_class: int = 2,
                       seed: int = 0) -> List[int]:
    """`root/tiny-imagenet-200/` in the official layout; returns the val labels in
    annotation-file order (the label of a wnid is its line number in wnids.txt)."""
    folder = os.path.join(root, "tiny-imagenet-200")
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(folder, "test", "images"), exist_ok=True)  # unlabelled, unused
    with open(os.path.join(folder, "wnids.txt"), "w") as handle:
        handle.write("".join(f"{wnid}\n" for wnid in wnids))
    for wnid in wnids:
        images = os.path.join(folder, "train", wnid, "images")
        os.makedirs(images)
        for index in range(train_per_class):
            _write_jpeg(os.path.join(images, f"{wnid}_{index}.JPEG"), rng)
    # Interleave classes in the annotations, as the real file does, so that label order
    # cannot come from sorting or grouping; one greyscale image, as the real set has some.
    os.makedirs(os.path.join(folder, "val", "images"))
    labels, lines = [], []
    for index in range(val_per_class * len(wnids)):
        label = (index * 2 + 1) % len(wnids)
        name = f"val_{index}.JPEG"
        _write_jpeg(os.path.join(folder, "val", "images", name), rng, greyscale=index == 0)
        lines.append(f"{name}\t{wnids[label]}\t0\t0\t63\t63\n")
        labels.append(label)
    with open(os.path.join(folder, "val", "val_annotations.txt"), "w") as handle:
        handle.write("".join(lines))
    return labels


def _write_idx(path: str, array: np.ndarray, magic: int) -> None:
    """An IDX file as Fashion-MNIST publishes them: big-endian magic, sizes, then bytes."""
    import gzip

    header = magic.to_bytes(4, "big") + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def write_fashion_mnist(folder: str, train_count: int = 200, test_count: int = 50, gzipped: bool = True,
                        seed: int = 0) -> str:
    """The four Fashion-MNIST IDX files (28x28, 10 classes cycling) in `folder`."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    suffix = ".gz" if gzipped else ""
    for split, count in (("train", train_count), ("t10k", test_count)):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = np.array(_cycling_labels(0, count, 10), dtype=np.uint8)
        _write_idx(os.path.join(folder, f"{split}-images-idx3-ubyte{suffix}"), images, 2051)
        _write_idx(os.path.join(folder, f"{split}-labels-idx1-ubyte{suffix}"), labels, 2049)
    return folder
