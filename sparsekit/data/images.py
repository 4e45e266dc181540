"""Pieces shared by the image datasets: the standard augmentation, a transformed subset, and
the three DataLoader-backed splits built from them."""
from typing import Callable, Sequence, Tuple

from torch.utils.data import Dataset

from .batches import Batches, EpochOrder, LoaderBatches
from .options import LoadOptions


def image_transforms(side: int, padding: int, mean: Sequence[float], std: Sequence[float],
                     augment: bool) -> Tuple[Callable, Callable]:
    """(train transform, eval transform) for square RGB images of `side` pixels.

    Training: random crop of the zero-padded image and a horizontal flip (the CIFAR recipe
    of the paper), then per-channel normalization. Evaluation: normalization only.
    """
    # Imported here so `import sparsekit.data` (and the digits path) skips torchvision.
    from torchvision import transforms

    normalize = [transforms.ToTensor(), transforms.Normalize(mean, std)]
    eval_transform = transforms.Compose(normalize)
    if not augment:
        return eval_transform, eval_transform
    train_transform = transforms.Compose([
        transforms.RandomCrop(side, padding=padding),
        transforms.RandomHorizontalFlip(),
        *normalize,
    ])
    return train_transform, eval_transform


class TransformedSubset(Dataset):
    """Some examples of `base` (which yields (PIL image, label)), passed through `transform`.

    Training and validation examples come from the same official file set but need
    different transforms; this lets both share one decoded copy of the data.
    """

    def __init__(self, base: Dataset, indices: Sequence[int], transform: Callable):
        self.base = base
        self.indices = [int(index) for index in indices]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int):
        image, label = self.base[self.indices[position]]
        return self.transform(image), int(label)


def image_splits(official_train: Dataset, train_indices: Sequence[int],
                 validation_indices: Sequence[int], official_test: Dataset,
                 transforms: Tuple[Callable, Callable],
                 options: LoadOptions) -> Tuple[Batches, Batches, Batches]:
    """(train, val, test) batches: train shuffled per (seed, epoch) with the train transform,
    validation (part of the official training files) and test with the eval transform."""
    train_transform, eval_transform = transforms

    def batches(dataset, indices, transform, batch_size, order=None):
        return LoaderBatches(TransformedSubset(dataset, indices, transform), batch_size,
                             options.num_workers, order, pin_memory=options.pin_memory,
                             persistent_workers=options.persistent_workers)

    return (
        batches(official_train, train_indices, train_transform, options.batch_size,
                EpochOrder(options.seed)),
        batches(official_train, validation_indices, eval_transform, options.eval_batch_size),
        batches(official_test, range(len(official_test)), eval_transform,
                options.eval_batch_size),
    )
