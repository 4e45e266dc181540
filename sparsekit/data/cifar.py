"""CIFAR-10 and CIFAR-100 through torchvision, from the official python pickles.

Files live in `root/cifar10/cifar-10-batches-py/` (`root/cifar100/cifar-100-python/`); a
`root` that directly holds the `cifar-*` folder (as torchvision lays it out) works too.

Splits: validation is a fixed random tenth of the official training set, which is the
usual 45,000/5,000 for the real 50,000 images (smaller sets, such as test fixtures, keep
the same 90%/10% proportion); test is the official test set.
"""
import os
import pickle
from dataclasses import dataclass
from typing import Optional, Tuple

from ..core.errors import SparsekitError
from .bundle import DataBundle
from .fetch import DOWNLOAD_HINT, downloading, not_found
from .images import image_splits, image_transforms
from .options import LoadOptions
from .registry import datasets
from .splits import random_holdout

VALIDATION_FRACTION = 0.1
SIDE = 32
PADDING = 4
PIXELS_PER_IMAGE = 3 * SIDE * SIDE


@dataclass(frozen=True)
class CifarSpec:
    name: str  # registry name, and the folder under root
    title: str  # for messages
    torchvision_class: str  # attribute of torchvision.datasets
    # Per-channel mean and standard deviation of all training pixels, in [0, 1] units.
    # (The (0.2023, 0.1994, 0.2010) often copied for CIFAR-10 is not the std of the
    # training pixels; these are.)
    mean: Tuple[float, float, float]
    std: Tuple[float, float, float]


CIFAR10 = CifarSpec("cifar10", "CIFAR-10", "CIFAR10",
                    (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
CIFAR100 = CifarSpec("cifar100", "CIFAR-100", "CIFAR100",
                     (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))


def _without_checksums(dataset_class):
    """A subclass of torchvision's CIFAR class that checks the files exist but not their md5.

    torchvision hashes all ~170 MB on every construction and rejects any file that is not
    byte-identical to the official release, which also rules out the tiny fixtures the
    tests write in the same format. What the hash would catch (a truncated or damaged
    file) makes the pickle unreadable, and `_read` reports that naming the file; the
    downloaded archive is still md5-checked by `download_and_extract_archive`.
    With md5 None, torchvision's `check_integrity` only tests that the file exists.
    """
    return type(dataset_class.__name__ + "Files", (dataset_class,), {
        "train_list": [[name, None] for name, _ in dataset_class.train_list],
        "test_list": [[name, None] for name, _ in dataset_class.test_list],
        "meta": {**dataset_class.meta, "md5": None},
    })


def _file_names(dataset_class):
    names = [name for name, _ in dataset_class.train_list + dataset_class.test_list]
    return names + [dataset_class.meta["filename"]]


def _problem_with(path: str, meta_key: Optional[str]) -> Optional[str]:
    """Why the pickle at `path` is not a usable CIFAR file, or None if it is."""
    try:
        with open(path, "rb") as handle:
            entry = pickle.load(handle, encoding="latin1")
    except Exception as error:  # any unpickling failure means the file is damaged
        return f"cannot be unpickled ({type(error).__name__}: {error})"
    if not isinstance(entry, dict):
        return "does not hold a dict"
    if meta_key is not None:
        return None if meta_key in entry else f"has no {meta_key!r} entry"
    data = entry.get("data")
    labels = entry.get("labels", entry.get("fine_labels"))
    if getattr(data, "ndim", 0) != 2 or data.shape[1] != PIXELS_PER_IMAGE:
        return f"'data' is not an N x {PIXELS_PER_IMAGE} array"
    if labels is None or len(labels) != len(data):
        return "labels are missing or do not match the images"
    return None


def _read(dataset_class, folder: str, train: bool, title: str):
    """Construct the torchvision dataset; a damaged file becomes a SparsekitError naming it."""
    try:
        return dataset_class(folder, train=train, transform=None)
    except Exception:
        directory = os.path.join(folder, dataset_class.base_folder)
        meta = dataset_class.meta
        for name in _file_names(dataset_class):
            meta_key = meta["key"] if name == meta["filename"] else None
            problem = _problem_with(os.path.join(directory, name), meta_key)
            if problem is not None:
                raise SparsekitError(
                    f"{title} file {os.path.join(directory, name)!r} is damaged: {problem}; "
                    f"delete it and {DOWNLOAD_HINT} again") from None
        raise  # every file reads fine on its own: not a data problem, keep the traceback


def _dataset_folder(root: str, spec: CifarSpec, base_folder: str) -> str:
    if os.path.isdir(os.path.join(root, base_folder)):
        return root
    return os.path.join(root, spec.name)


def load_cifar(spec: CifarSpec, options: LoadOptions) -> DataBundle:
    options.refuse_train_subset(spec.title)
    # Imported here so `import sparsekit.data` (and the digits path) skips torchvision.
    from torchvision import datasets as torchvision_datasets
    from torchvision.datasets.utils import download_and_extract_archive

    dataset_class = _without_checksums(getattr(torchvision_datasets, spec.torchvision_class))
    folder = _dataset_folder(options.root, spec, dataset_class.base_folder)
    directory = os.path.join(folder, dataset_class.base_folder)

    def missing():
        return [name for name in _file_names(dataset_class)
                if not os.path.isfile(os.path.join(directory, name))]

    if missing() and options.download:
        with downloading(spec.title, dataset_class.url, folder):
            download_and_extract_archive(dataset_class.url, folder,
                                         filename=dataset_class.filename,
                                         md5=dataset_class.tgz_md5)
    if missing():
        expected = f"{dataset_class.base_folder}/"
        if os.path.isdir(directory):
            expected += f" with {', '.join(missing())}"
        raise not_found(spec.title, folder, expected)

    official_train = _read(dataset_class, folder, True, spec.title)
    official_test = _read(dataset_class, folder, False, spec.title)
    train_indices, validation_indices = random_holdout(
        len(official_train), round(VALIDATION_FRACTION * len(official_train)))
    transforms = image_transforms(SIDE, PADDING, spec.mean, spec.std, options.augment)
    train, val, test = image_splits(official_train, train_indices, validation_indices,
                                    official_test, transforms, options)
    return DataBundle(
        name=spec.name, train=train, val=val, test=test,
        num_classes=len(official_train.classes),
        in_channels=3,
        image_size=SIDE,
        class_names=[str(name) for name in official_train.classes],
    )


@datasets.register("cifar10")
def build_cifar10(options: LoadOptions) -> DataBundle:
    return load_cifar(CIFAR10, options)


@datasets.register("cifar100")
def build_cifar100(options: LoadOptions) -> DataBundle:
    return load_cifar(CIFAR100, options)
