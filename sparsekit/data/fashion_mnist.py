"""Fashion-MNIST (Xiao et al. 2017): 70,000 28x28 grey images of clothes in 10 classes, read
from the original IDX files. It is the kit's real offline benchmark: big enough that sparse
training effects are larger than seed noise (dense small ResNets reach about 93%), small
enough to train on a CPU.

Where the files come from, in order:
1. `root/fashion_mnist/`, `root/FashionMNIST/raw/` (torchvision's layout) or `root` itself;
2. Debian's `dataset-fashion-mnist` package, which installs them under
   `/usr/share/datasets/fashion-mnist/`;
3. with `download=True`, torchvision fetches them into `root/FashionMNIST/raw/`.
Each file may be gzipped (`*.gz`, as published) or not.

Splits: validation is a fixed 5,000 of the official 60,000 training images (a tenth of a
smaller set), test the official 10,000. Everything is held in memory as tensors, like digits.
"""
import gzip
import os
from typing import List, Optional

import numpy as np
import torch

from ..core.errors import SparsekitError
from .batches import EpochOrder, TensorBatches
from .bundle import DataBundle
from .fetch import downloading
from .options import LoadOptions
from .registry import datasets
from .splits import balanced_subset, random_holdout

DEBIAN_FOLDER = "/usr/share/datasets/fashion-mnist"
FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
VALIDATION_EXAMPLES = 5000
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]


def read_idx(path: str, magic: int) -> np.ndarray:
    """The array an IDX file holds (unsigned bytes), checking its magic number and size."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            content = handle.read()
    except (OSError, EOFError) as error:
        raise SparsekitError(f"Fashion-MNIST file {path!r} cannot be read: {error}") from None
    dimensions = magic - 0x800
    header = 4 + 4 * dimensions
    if len(content) < header or int.from_bytes(content[:4], "big") != magic:
        raise SparsekitError(f"Fashion-MNIST file {path!r} is not an IDX file of the expected kind "
                             f"(magic number {magic})")
    shape = [int.from_bytes(content[4 + 4 * i: 8 + 4 * i], "big") for i in range(dimensions)]
    if len(content) - header != int(np.prod(shape)):
        raise SparsekitError(f"Fashion-MNIST file {path!r} is truncated or damaged: header says "
                             f"{shape}, file holds {len(content) - header} bytes of data")
    return np.frombuffer(content, dtype=np.uint8, offset=header).reshape(shape)


def candidate_folders(root: str) -> List[str]:
    return [os.path.join(root, "fashion_mnist"), os.path.join(root, "FashionMNIST", "raw"), root, DEBIAN_FOLDER]


def _file_in(folder: str, stem: str) -> Optional[str]:
    for name in (stem + ".gz", stem):
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return None


def find_folder(root: str) -> Optional[str]:
    """The first candidate folder holding all four files, or None."""
    for folder in candidate_folders(root):
        if all(_file_in(folder, stem) for stem in FILES.values()):
            return folder
    return None


def _download(root: str) -> None:
    from torchvision.datasets import FashionMNIST  # here: only a download needs torchvision

    with downloading("Fashion-MNIST", FashionMNIST.mirrors[0]):
        FashionMNIST(root, train=True, download=True)


@datasets.register("fashion_mnist")
def build_fashion_mnist(options: LoadOptions) -> DataBundle:
    folder = find_folder(options.root)
    if folder is None and options.download:
        _download(options.root)
        folder = find_folder(options.root)
    if folder is None:
        raise SparsekitError(
            f"Fashion-MNIST not found in {os.path.join(options.root, 'fashion_mnist')!r} or {DEBIAN_FOLDER!r}; "
            f"put the four IDX files in --data-root, or install Debian's package (apt-get install "
            f"dataset-fashion-mnist), or pass download=True (CLI: --download)")
    arrays = {key: read_idx(_file_in(folder, stem), LABEL_MAGIC if key.endswith("labels") else IMAGE_MAGIC)
              for key, stem in FILES.items()}
    for split in ("train", "test"):
        if len(arrays[f"{split}_images"]) != len(arrays[f"{split}_labels"]):
            raise SparsekitError(f"Fashion-MNIST in {folder!r}: {split} images and labels differ in number")
    train_all = torch.from_numpy(arrays["train_images"].astype(np.float32) / 255.0).unsqueeze(1)
    train_labels = torch.from_numpy(arrays["train_labels"].astype(np.int64))
    holdout = min(VALIDATION_EXAMPLES, len(train_labels) // 10)
    train_rows, val_rows = random_holdout(len(train_labels), holdout)
    if options.train_examples is not None:
        train_rows = balanced_subset(train_rows, arrays["train_labels"][train_rows], options.train_examples)
    # Statistics of the training rows only, so nothing about validation/test leaks in.
    mean, std = train_all[train_rows].mean(), train_all[train_rows].std()
    test_images = (torch.from_numpy(arrays["test_images"].astype(np.float32) / 255.0).unsqueeze(1) - mean) / std
    train_all = (train_all - mean) / std

    def rows(indices):
        return torch.from_numpy(np.asarray(indices))

    return DataBundle(
        name="fashion_mnist",
        train=TensorBatches(train_all[rows(train_rows)].contiguous(), train_labels[rows(train_rows)],
                            options.batch_size, EpochOrder(options.seed)),
        val=TensorBatches(train_all[rows(val_rows)].contiguous(), train_labels[rows(val_rows)],
                          options.eval_batch_size),
        test=TensorBatches(test_images.contiguous(), torch.from_numpy(arrays["test_labels"].astype(np.int64)),
                           options.eval_batch_size),
        num_classes=len(CLASS_NAMES), in_channels=1, image_size=train_all.shape[-1], class_names=CLASS_NAMES)
