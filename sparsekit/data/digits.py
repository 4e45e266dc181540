"""scikit-learn's 8x8 handwritten digits: the default dataset, shipped with scikit-learn, so
it needs no network and trains in seconds on a CPU.

Everything lives in memory as tensors and batches are tensor slices (`TensorBatches`),
because a Python call per example would dominate the training time of these tiny images.
There is no augmentation: at 8x8 even a one-pixel shift of a padded crop moves a stroke
off the image, and a mirrored 2, 3, 4, 7 or 9 is no longer that digit, so the standard
crop-and-flip would change what the label means.
"""
import numpy as np
import torch

from .batches import EpochOrder, TensorBatches
from .bundle import DataBundle
from .options import LoadOptions
from .registry import datasets
from .splits import SPLIT_SEED, balanced_subset

TEST_FRACTION = 0.2  # of all 1797 images
VALIDATION_FRACTION = 0.1  # of all 1797 images, not of what is left after the test split
PIXEL_MAX = 16.0  # load_digits pixels are counts 0..16 (4x4 blocks of a 32x32 bitmap)


def _stratified_split(labels: np.ndarray):
    """(train, validation, test) index arrays, each with every class in proportion."""
    from sklearn.model_selection import train_test_split

    everything = np.arange(len(labels))
    test_count = round(TEST_FRACTION * len(labels))
    validation_count = round(VALIDATION_FRACTION * len(labels))
    rest, test = train_test_split(everything, test_size=test_count, stratify=labels,
                                  random_state=SPLIT_SEED)
    train, validation = train_test_split(rest, test_size=validation_count,
                                         stratify=labels[rest], random_state=SPLIT_SEED)
    return np.sort(train), np.sort(validation), np.sort(test)


@datasets.register("digits")
def build_digits(options: LoadOptions) -> DataBundle:
    # Imported here so `import sparsekit.data` does not pay for scikit-learn.
    from sklearn import datasets as sklearn_datasets

    raw = sklearn_datasets.load_digits()
    images = torch.from_numpy(raw.images.astype(np.float32) / PIXEL_MAX).unsqueeze(1)
    labels = torch.from_numpy(raw.target.astype(np.int64))
    train, validation, test = _stratified_split(raw.target)
    if options.train_examples is not None:
        train = balanced_subset(train, raw.target[train], options.train_examples)

    # Statistics of the training split only, so nothing about validation/test leaks in.
    mean = images[train].mean()
    std = images[train].std()
    images = (images - mean) / std

    def split(indices, batch_size, order=None):
        rows = torch.from_numpy(indices)
        return TensorBatches(images[rows].contiguous(), labels[rows], batch_size, order)

    return DataBundle(
        name="digits",
        train=split(train, options.batch_size, EpochOrder(options.seed)),
        val=split(validation, options.eval_batch_size),
        test=split(test, options.eval_batch_size),
        num_classes=len(raw.target_names),
        in_channels=1,
        image_size=images.shape[-1],
        class_names=[str(name) for name in raw.target_names],
    )
