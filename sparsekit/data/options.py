"""The arguments of `sparsekit.data.load`, checked once so every builder can trust them."""
from dataclasses import dataclass

from ..errors import SparsekitError


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

    def __post_init__(self):
        _require_int("batch_size", self.batch_size, 1)
        _require_int("eval_batch_size", self.eval_batch_size, 1)
        _require_int("num_workers", self.num_workers, 0)
        # Seeds feed numpy's SeedSequence, which only takes non-negative integers.
        _require_int("seed", self.seed, 0)
