"""What a dataset builder receives: the run's data settings (`DataSettings`, declared and
checked once, in `settings.py`) and the three things a loader adds to them (the seed of the
training order, the evaluation batch size, augmentation), so every builder can trust them."""
from dataclasses import dataclass

from ..core.checks import boolean, whole_number
from ..core.errors import SparsekitError
from .settings import DataSettings


@dataclass(frozen=True)
class LoadOptions:
    data: DataSettings  # root, download, batch size, training subset, DataLoader options
    seed: int  # decides the training order, together with the epoch
    eval_batch_size: int = 512  # examples per validation/test batch
    augment: bool = True  # random crops and flips on training images (where the dataset has them)

    def __post_init__(self):
        if not isinstance(self.data, DataSettings):
            raise SparsekitError(f"LoadOptions needs a DataSettings, got {type(self.data).__name__}")
        whole_number("seed", self.seed, 0)  # numpy's SeedSequence takes only non-negative integers
        whole_number("eval_batch_size", self.eval_batch_size, 1)
        boolean("augment", self.augment)

    # The data section's fields, read as a builder names them.
    @property
    def root(self) -> str:
        return self.data.data_root

    def __getattr__(self, name: str):
        if name.startswith("__") or name == "data":  # copying and pickling look these up before data exists
            raise AttributeError(name)
        return getattr(self.data, name)

    def refuse_train_subset(self, title: str) -> None:
        """For datasets read through a DataLoader, which do not take a training subset."""
        if self.train_examples is not None:
            raise SparsekitError(f"train_examples is not supported for {title}; it works for the datasets "
                                 "held in memory (digits, fashion_mnist)")
