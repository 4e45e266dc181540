"""What `sparsekit.data.load` returns: the three splits plus what a model needs to know."""
from dataclasses import dataclass
from itertools import islice
from typing import List, Optional

from .batches import Batches


@dataclass
class DataBundle:
    name: str  # registry name, e.g. "digits"
    train: Batches  # shuffled per (seed, epoch), augmented if asked
    val: Batches  # held out from the official training set; never shuffled or augmented
    test: Batches  # the official test set (Tiny ImageNet: its labelled val folder)
    num_classes: int
    in_channels: int
    image_size: int  # side of the square input images, in pixels
    class_names: Optional[List[str]]  # index -> readable name, where the dataset has names


def is_bundle(data) -> bool:
    """Whether `data` is a bundle of splits (a DataBundle, or anything shaped like one)
    rather than plain batches: the trainer accepts either kind of object."""
    return hasattr(data, "train") and hasattr(data, "val")


def first_batches(batches: Batches, count: int) -> list:
    """The first `count` training batches of epoch 0 (what data-driven mask methods see)."""
    batches.set_epoch(0)
    return list(islice(batches, count))
