"""The arguments of `sparsekit.data.load`, checked once so every builder can trust them."""
from dataclasses import dataclass
from typing import Optional

from ..core.errors import SparsekitError


def _require_int(name: str, value, minimum: int) -> None:
    # bool is an int subclass; `batch_size=True` is a mistake, not a batch of one.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SparsekitError(f"{name} must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class LoadOptions:
    root: str  # folder that holds (or will receive) the dataset files
    download: bool  # fetch missing files from the official source
    batch_size: int  # examples per training batch
    eval_batch_size: int  # examples per validation/test batch
    seed: int  # decides the training order, together with the epoch
    augment: bool  # random crops and flips on training images (where the dataset has them)
    num_workers: int  # DataLoader worker processes for the image datasets
    train_examples: Optional[int] = None  # a class-balanced subset of the training split (None: all)
    pin_memory: bool = False  # page-locked batches, for non-blocking copies to a GPU
    persistent_workers: bool = False  # DataLoader workers survive from one epoch to the next

    def __post_init__(self):
        _require_int("batch_size", self.batch_size, 1)
        _require_int("eval_batch_size", self.eval_batch_size, 1)
        _require_int("num_workers", self.num_workers, 0)
        # Seeds feed numpy's SeedSequence, which only takes non-negative integers.
        _require_int("seed", self.seed, 0)
        if self.train_examples is not None:
            _require_int("train_examples", self.train_examples, 1)

    def refuse_train_subset(self, title: str) -> None:
        """For datasets read through a DataLoader, which do not take a training subset."""
        if self.train_examples is not None:
            raise SparsekitError(f"train_examples is not supported for {title}; it works for the datasets "
                                 "held in memory (digits, fashion_mnist)")
