"""The data section of a run's settings: which dataset, and how batches reach the model."""
from dataclasses import dataclass
from typing import Optional

from ..core.checks import whole_number
from ..core.fields import check_declared, setting


@dataclass(frozen=True)
class DataSettings:
    dataset: str = setting("digits", "dataset name (see `sparsekit list`)", shapes_mask=True)
    data_root: str = setting("data", "directory holding downloaded datasets", shapes_mask=True, resumable=True)
    download: bool = setting(False, "download the dataset if it is missing", shapes_mask=True, resumable=True)
    train_examples: Optional[int] = setting(None, "train on a fixed class-balanced subset of this many training "
                                                  "examples (datasets held in memory: digits, fashion_mnist)",
                                            shapes_mask=True)
    batch_size: int = setting(128, "training batch size", shapes_mask=True)
    # input pipeline on a GPU (see docs/scale-out.md)
    num_workers: int = setting(0, "DataLoader worker processes decoding and augmenting images (cifar10/100, "
                                  "tinyimagenet; datasets held in memory need none)")
    pin_memory: bool = setting(False, "page-locked host batches, copied to the GPU without blocking", resumable=True)
    persistent_workers: bool = setting(False, "keep DataLoader workers alive between epochs (with --num-workers)",
                                       resumable=True)

    def __post_init__(self):
        whole_number("batch_size", self.batch_size, 1)
        whole_number("num_workers", self.num_workers, 0)
        if self.train_examples is not None:
            whole_number("train_examples", self.train_examples, 1)
        check_declared(self)
