"""Tests of sparsekit.data: digits from scikit-learn, and CIFAR / Tiny ImageNet from tiny
fixtures written in the real on-disk formats (see fake_datasets.py)."""
import math
import os

import pytest
import torch

import sparsekit.data as data
from sparsekit.core.errors import SparsekitError

from fake_datasets import write_cifar10, write_cifar100, write_tinyimagenet

DIGITS_BATCH = 64
DIGITS_EVAL_BATCH = 100


def collect(batches):
    """All (inputs, labels) of one pass, concatenated."""
    inputs, labels = zip(*batches)
    return torch.cat(inputs), torch.cat(labels)


def row_hashes(inputs):
    return [row.numpy().tobytes() for row in inputs]


# ---- the public surface --------------------------------------------------------------

def test_available_lists_every_dataset():
    assert data.available() == ["cifar10", "cifar100", "digits", "fashion_mnist", "tinyimagenet"]


def test_unknown_dataset_lists_the_valid_names():
    with pytest.raises(SparsekitError) as error:
        data.load("mnist")
    assert "mnist" in str(error.value) and "cifar10, cifar100, digits, fashion_mnist, tinyimagenet" in str(
        error.value)


@pytest.mark.parametrize("setting", [{"batch_size": 0}, {"batch_size": -3},
                                     {"eval_batch_size": 0}, {"num_workers": -1}])
def test_bad_sizes_are_user_errors(setting):
    with pytest.raises(SparsekitError, match=next(iter(setting))):
        data.load("digits", **setting)


# ---- digits ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    return data.load("digits", batch_size=DIGITS_BATCH, eval_batch_size=DIGITS_EVAL_BATCH)


def splits_of(bundle):
    return {"train": bundle.train, "val": bundle.val, "test": bundle.test}


def test_digits_describes_itself(digits):
    assert (digits.name, digits.num_classes, digits.in_channels, digits.image_size) == (
        "digits", 10, 1, 8)
    assert digits.class_names == [str(digit) for digit in range(10)]


def test_digits_splits_are_fixed_sizes_and_stratified(digits):
    counts = [split.num_examples for split in splits_of(digits).values()]
    assert counts == [1258, 180, 359] and sum(counts) == 1797
    for split in splits_of(digits).values():
        _, labels = collect(split)
        assert set(labels.tolist()) == set(range(10))


def test_digits_splits_do_not_overlap(digits):
    # load_digits has no duplicate images, so equal rows would mean a shared example.
    hashes = {name: row_hashes(collect(split)[0]) for name, split in splits_of(digits).items()}
    sets = {name: set(rows) for name, rows in hashes.items()}
    assert all(len(sets[name]) == len(hashes[name]) for name in hashes)
    assert not sets["train"] & sets["val"]
    assert not sets["train"] & sets["test"]
    assert not sets["val"] & sets["test"]


def test_digits_split_does_not_depend_on_the_training_seed(digits):
    other = data.load("digits", seed=7)
    assert torch.equal(collect(other.test)[0], collect(digits.test)[0])
    assert set(row_hashes(collect(other.train)[0])) == set(row_hashes(collect(digits.train)[0]))


def test_digits_train_is_normalized_by_its_own_statistics(digits):
    inputs, _ = collect(digits.train)
    assert abs(inputs.mean().item()) < 1e-4
    assert abs(inputs.std().item() - 1) < 1e-3


def test_digits_batches_have_the_promised_shapes_and_counts(digits):
    for split in splits_of(digits).values():
        batches = list(split)
        assert len(batches) == len(split) == math.ceil(split.num_examples / split.batch_size)
        assert sum(len(labels) for _, labels in batches) == split.num_examples
        for inputs, labels in batches:
            assert inputs.dtype == torch.float32 and labels.dtype == torch.int64
            assert inputs.shape[1:] == (1, 8, 8) and inputs.shape[0] == labels.shape[0]
    # Train keeps its last, partial batch: 1258 = 19 * 64 + 42.
    assert [len(labels) for _, labels in digits.train][-1] == 1258 - 19 * DIGITS_BATCH


def test_digits_training_order_is_a_function_of_seed_and_epoch(digits):
    def epoch_labels(bundle, epoch):
        bundle.train.set_epoch(epoch)
        return collect(bundle.train)[1]

    assert torch.equal(epoch_labels(digits, 3), epoch_labels(digits, 3))
    assert not torch.equal(epoch_labels(digits, 3), epoch_labels(digits, 4))
    other_seed = data.load("digits", batch_size=DIGITS_BATCH, seed=1)
    assert not torch.equal(epoch_labels(digits, 3), epoch_labels(other_seed, 3))


def test_digits_resumed_run_sees_the_same_batches():
    uninterrupted = data.load("digits", batch_size=DIGITS_BATCH, seed=5)
    passes = [list(uninterrupted.train) for _ in range(3)]  # epochs advance by themselves
    resumed = data.load("digits", batch_size=DIGITS_BATCH, seed=5)
    resumed.train.set_epoch(2)
    for (inputs, labels), (resumed_inputs, resumed_labels) in zip(passes[2], resumed.train):
        assert torch.equal(inputs, resumed_inputs) and torch.equal(labels, resumed_labels)
    assert not torch.equal(collect(passes[0])[1], collect(passes[1])[1])


def test_digits_val_and_test_are_never_shuffled(digits):
    for split in (digits.val, digits.test):
        first = collect(split)
        split.set_epoch(9)
        second = collect(split)
        assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


# ---- CIFAR -----------------------------------------------------------------------------

# name, classes, official train size, official test size (the fixture sizes)
CIFAR_CASES = [("cifar10", 10, 100, 20), ("cifar100", 100, 200, 100)]


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    write_cifar10(str(root / "cifar10"))
    write_cifar100(str(root / "cifar100"))
    return str(root)


@pytest.mark.parametrize("name, num_classes, official_train, official_test", CIFAR_CASES)
def test_cifar_loads_the_official_files(cifar_root, name, num_classes, official_train,
                                        official_test):
    bundle = data.load(name, root=cifar_root, batch_size=32, eval_batch_size=64)
    assert (bundle.num_classes, bundle.in_channels, bundle.image_size) == (num_classes, 3, 32)
    assert len(bundle.class_names) == num_classes
    # Fixtures are smaller than 50,000, so the 45k/5k split shows as its 90%/10% proportion.
    assert bundle.train.num_examples == official_train * 9 // 10
    assert bundle.val.num_examples == official_train // 10
    assert bundle.test.num_examples == official_test
    for split in (bundle.train, bundle.val, bundle.test):
        inputs, labels = collect(split)
        assert inputs.shape == (split.num_examples, 3, 32, 32) and inputs.dtype == torch.float32
        assert labels.dtype == torch.int64
        assert 0 <= labels.min() and labels.max() < num_classes


def test_cifar_validation_is_held_out_of_training(cifar_root):
    bundle = data.load("cifar10", root=cifar_root, augment=False)
    train = set(row_hashes(collect(bundle.train)[0]))
    val = set(row_hashes(collect(bundle.val)[0]))
    assert len(train) == 90 and len(val) == 10 and not train & val


def test_cifar_augments_training_images_only(cifar_root):
    bundle = data.load("cifar10", root=cifar_root, batch_size=32)
    bundle.train.set_epoch(0)
    first_inputs, first_labels = collect(bundle.train)
    bundle.train.set_epoch(0)
    second_inputs, second_labels = collect(bundle.train)
    assert torch.equal(first_labels, second_labels)  # same order...
    assert not torch.equal(first_inputs, second_inputs)  # ...but new crops and flips
    for split in (bundle.val, bundle.test):
        assert torch.equal(collect(split)[0], collect(split)[0])


def test_cifar_worker_augmentation_follows_seed_and_epoch(cifar_root):
    def epoch_inputs():
        bundle = data.load("cifar10", root=cifar_root, batch_size=50, num_workers=2)
        bundle.train.set_epoch(1)
        return collect(bundle.train)[0]

    assert torch.equal(epoch_inputs(), epoch_inputs())


def test_cifar_root_may_hold_the_batches_folder_directly(cifar_root):
    bundle = data.load("cifar10", root=os.path.join(cifar_root, "cifar10"))
    assert bundle.test.num_examples == 20


def test_cifar_missing_folder_names_it_and_the_download_flag(tmp_path):
    with pytest.raises(SparsekitError) as error:
        data.load("cifar10", root=str(tmp_path))
    message = str(error.value)
    assert "CIFAR-10 not found in" in message and os.path.join(str(tmp_path), "cifar10") in message
    assert "cifar-10-batches-py/" in message
    assert "download=True" in message and "--download" in message


def test_cifar_missing_file_is_named(tmp_path):
    write_cifar10(str(tmp_path / "cifar10"))
    os.remove(tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch")
    with pytest.raises(SparsekitError, match="test_batch"):
        data.load("cifar10", root=str(tmp_path))


@pytest.mark.parametrize("name, writer, folder, damaged", [
    ("cifar10", write_cifar10, "cifar-10-batches-py", "data_batch_3"),
    ("cifar100", write_cifar100, "cifar-100-python", "train"),
])
def test_cifar_truncated_file_is_a_user_error_naming_it(tmp_path, name, writer, folder,
                                                        damaged):
    writer(str(tmp_path / name))
    path = tmp_path / name / folder / damaged
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(SparsekitError) as error:
        data.load(name, root=str(tmp_path))
    assert str(path) in str(error.value) and "\n" not in str(error.value)


# ---- Tiny ImageNet ---------------------------------------------------------------------

TINY_WNIDS = ("n01443537", "n01629819", "n01641577")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    val_labels = write_tinyimagenet(str(root), wnids=TINY_WNIDS, train_per_class=12)
    return str(root), val_labels


def test_tinyimagenet_reads_the_official_layout(tiny):
    root, val_labels = tiny
    bundle = data.load("tinyimagenet", root=root, batch_size=4, eval_batch_size=4)
    assert (bundle.num_classes, bundle.in_channels, bundle.image_size) == (3, 3, 64)
    assert bundle.class_names == list(TINY_WNIDS)
    # 10 of each class's 12 training images are held out for validation.
    assert [bundle.train.num_examples, bundle.val.num_examples] == [6, 30]
    assert torch.bincount(collect(bundle.val)[1]).tolist() == [10, 10, 10]
    for split in (bundle.train, bundle.val, bundle.test):
        for inputs, labels in split:
            assert inputs.shape[1:] == (3, 64, 64) and inputs.dtype == torch.float32
            assert labels.dtype == torch.int64
    # The official val folder is the test set, labelled by val_annotations.txt.
    assert collect(bundle.test)[1].tolist() == val_labels


def test_tinyimagenet_root_may_be_the_folder_itself(tiny):
    root, val_labels = tiny
    bundle = data.load("tinyimagenet", root=os.path.join(root, "tiny-imagenet-200"))
    assert bundle.test.num_examples == len(val_labels)


def test_tinyimagenet_missing_folder_names_it_and_the_download_flag(tmp_path):
    with pytest.raises(SparsekitError) as error:
        data.load("tinyimagenet", root=str(tmp_path))
    message = str(error.value)
    assert str(tmp_path) in message and "tiny-imagenet-200/" in message
    assert "--download" in message
