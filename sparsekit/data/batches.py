"""Batch iterables for the three splits, with a training order that is a pure function of
(seed, epoch).

Why a pure function: a run interrupted after epoch e and resumed with `set_epoch(e + 1)`
must see exactly the batches the uninterrupted run would have seen, so no state may carry
over from one epoch to the next except the epoch number itself.

Two implementations share the same surface (`len()`, `num_examples`, `set_epoch`):
`TensorBatches` slices tensors already in memory (digits: no per-example Python work), and
`LoaderBatches` wraps a torch DataLoader (image datasets decoded and augmented per example).
"""
import math
from typing import Iterator, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

Batch = Tuple[torch.Tensor, torch.Tensor]

# Streams drawn from the same (seed, epoch): one for the example order, one for the seeds
# of DataLoader workers (their random crops and flips).
ORDER_STREAM = 0
WORKER_STREAM = 1


def epoch_seed(seed: int, epoch: int, stream: int = ORDER_STREAM) -> int:
    """A seed that depends only on (seed, epoch, stream).

    SeedSequence mixes its inputs, so neighbouring seeds or epochs give unrelated orders
    (seed + epoch would make seed 0 epoch 1 repeat seed 1 epoch 0).
    """
    state = np.random.SeedSequence([seed, epoch, stream]).generate_state(1, np.uint64)
    return int(state[0] >> 1)  # keep it within the range torch.Generator accepts


class EpochOrder:
    """The training order: which epoch comes next, and the permutation for it.

    Each pass advances to the next epoch by itself, so a trainer that never calls
    `set_epoch` still gets a fresh order every epoch; `set_epoch` is how a resumed run
    jumps back to the right place.
    """

    def __init__(self, seed: int):
        self.seed = seed
        self.next_epoch = 0

    def set_epoch(self, epoch: int) -> None:
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be an integer >= 0, got {epoch!r}")
        self.next_epoch = epoch

    def start_epoch(self, num_examples: int) -> torch.Tensor:
        """The permutation of range(num_examples) for the next epoch, then advance."""
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.next_epoch))
        self.next_epoch += 1
        return torch.randperm(num_examples, generator=generator)


class Batches:
    """What every split offers besides iteration: batch count, example count, set_epoch.

    `order` is None for validation and test: they are never shuffled, and `set_epoch` does
    nothing for them, so a trainer can call it on all three splits alike.
    """

    def __init__(self, num_examples: int, batch_size: int, order: Optional[EpochOrder]):
        self.num_examples = num_examples
        self.batch_size = batch_size
        self.order = order
        self.rank, self.world_size = 0, 1  # data-parallel: this process reads rows rank::world_size

    def shard(self, rank: int, world_size: int) -> None:
        """Read only rows rank, rank + world_size, ... of every batch (data-parallel training):
        the ranks together see exactly the batches, in the order, of one process."""
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        # The last partial batch is kept: no example is ever dropped.
        return math.ceil(self.num_examples / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        if self.order is not None:
            self.order.set_epoch(epoch)

    def __iter__(self) -> Iterator[Batch]:
        raise NotImplementedError


class TensorBatches(Batches):
    """Batches cut from tensors in memory: one permutation per epoch, then slices."""

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int,
                 order: Optional[EpochOrder] = None):
        if len(inputs) != len(labels):
            raise ValueError(f"{len(inputs)} inputs but {len(labels)} labels")
        super().__init__(len(labels), batch_size, order)
        self.inputs = inputs
        self.labels = labels

    def __iter__(self) -> Iterator[Batch]:
        # The permutation is drawn here, not inside the generator, so the epoch advances
        # when iteration starts rather than at the first `next()`.
        if self.order is None:
            return self._slices(None)
        return self._slices(self.order.start_epoch(self.num_examples))

    def _slices(self, permutation: Optional[torch.Tensor]) -> Iterator[Batch]:
        for start in range(0, self.num_examples, self.batch_size):
            if permutation is None:
                rows = slice(start, start + self.batch_size)
            else:
                rows = permutation[start:start + self.batch_size]
            x, y = self.inputs[rows], self.labels[rows]
            if self.world_size > 1:
                x, y = x[self.rank::self.world_size], y[self.rank::self.world_size]
            yield x, y


def _cuda() -> bool:
    """Pinning pays (and works) only with a GPU to copy to."""
    return torch.cuda.is_available()


class PresetBatches(Sampler):
    """A DataLoader batch sampler that replays the permutation `LoaderBatches` drew for the
    epoch, cut into batches, each reduced to this rank's rows when data-parallel."""

    def __init__(self, num_examples: int, batch_size: int):
        self.indices = list(range(num_examples))
        self.batch_size = batch_size
        self.rank, self.world_size = 0, 1

    def __iter__(self) -> Iterator[list]:
        for start in range(0, len(self.indices), self.batch_size):
            yield self.indices[start:start + self.batch_size][self.rank::self.world_size]

    def __len__(self) -> int:
        return math.ceil(len(self.indices) / self.batch_size)


class LoaderBatches(Batches):
    """Batches from a torch DataLoader over a map-style dataset of (image tensor, label).

    With worker processes, the workers' random augmentations are also seeded from
    (seed, epoch). With num_workers=0 they draw from torch's global generator, which the
    trainer seeds; only the order is then a function of (seed, epoch).
    """

    def __init__(self, dataset: Dataset, batch_size: int, num_workers: int,
                 order: Optional[EpochOrder] = None, pin_memory: bool = False, persistent_workers: bool = False):
        super().__init__(len(dataset), batch_size, order)
        self._worker_seeds = torch.Generator()
        self._sampler = PresetBatches(len(dataset), batch_size)
        # Workers that persist keep their seeds from the first epoch: the augmentation is then
        # seeded once per run, not per (seed, epoch), which is why it is an option.
        self.loader = DataLoader(dataset, batch_sampler=self._sampler, num_workers=num_workers,
                                 generator=self._worker_seeds, pin_memory=pin_memory and _cuda(),
                                 persistent_workers=persistent_workers and num_workers > 0)

    def shard(self, rank: int, world_size: int) -> None:
        super().shard(rank, world_size)
        self._sampler.rank, self._sampler.world_size = rank, world_size

    def __iter__(self) -> Iterator[Batch]:
        if self.order is not None:
            # Drawn here, as in TensorBatches, so both advance the epoch at iter().
            epoch = self.order.next_epoch
            self._worker_seeds.manual_seed(epoch_seed(self.order.seed, epoch, WORKER_STREAM))
            self._sampler.indices = self.order.start_epoch(self.num_examples).tolist()
        return iter(self.loader)
