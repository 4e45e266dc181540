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


def balanced_examples(batches: Batches, per_class: int, num_classes: int) -> list:
    """One batch holding the first `per_class` examples of every class in epoch 0's training
    order (the references score SNIP and GraSP on 10 per class); a class with fewer examples
    gives all it has."""
    import torch  # here, like the rest of this module, kept free of heavy imports at load

    batches.set_epoch(0)
    chosen_x, chosen_y, counts = [], [], [0] * num_classes
    for x, y in batches:
        for row, label in enumerate(y.tolist()):
            if counts[label] < per_class:
                counts[label] += 1
                chosen_x.append(x[row])
                chosen_y.append(label)
        if all(count >= per_class for count in counts):
            break
    return [(torch.stack(chosen_x), torch.tensor(chosen_y, dtype=torch.long))]
