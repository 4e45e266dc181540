"""What `sparsekit.data.load` returns: the three splits plus what a model needs to know."""
from dataclasses import dataclass
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
