"""Fashion-MNIST: the real IDX reader on small files written in the format, and on the
real files where Debian's dataset-fashion-mnist package installed them (CI installs it)."""
import os

import numpy as np
import pytest
import torch

import sparsekit as sk
from fake_datasets import write_fashion_mnist
from sparsekit.data import fashion_mnist
from sparsekit.core.errors import SparsekitError

torch.set_num_threads(1)


@pytest.mark.parametrize("gzipped", [True, False])
def test_reads_idx_files_from_the_data_root(tmp_path, monkeypatch, gzipped):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_FOLDER", str(tmp_path / "nowhere"))
    write_fashion_mnist(str(tmp_path / "fashion_mnist"), gzipped=gzipped)
    bundle = sk.data.load("fashion_mnist", root=tmp_path, batch_size=32)
    assert (bundle.num_classes, bundle.in_channels, bundle.image_size) == (10, 1, 28)
    assert (bundle.train.num_examples, bundle.val.num_examples, bundle.test.num_examples) == (180, 20, 50)
    x, y = next(iter(bundle.train))
    assert x.shape == (32, 1, 28, 28) and y.dtype == torch.long
    # standardised with the training rows' statistics
    assert abs(float(bundle.train.inputs.mean())) < 1e-4 and abs(float(bundle.train.inputs.std()) - 1) < 1e-3


def test_torchvision_layout_and_a_balanced_training_subset(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_FOLDER", str(tmp_path / "nowhere"))
    write_fashion_mnist(str(tmp_path / "FashionMNIST" / "raw"))
    bundle = sk.data.load("fashion_mnist", root=tmp_path, train_examples=50)
    counts = np.bincount(bundle.train.labels.numpy(), minlength=10)
    assert counts.tolist() == [5] * 10
    again = sk.data.load("fashion_mnist", root=tmp_path, train_examples=50, seed=3)
    assert torch.equal(bundle.train.labels.sort().values, again.train.labels.sort().values)  # same subset


def test_missing_files_name_all_three_ways(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_FOLDER", str(tmp_path / "nowhere"))
    with pytest.raises(SparsekitError) as error:
        sk.data.load("fashion_mnist", root=tmp_path)
    message = str(error.value)
    assert "\n" not in message and "--data-root" in message and "dataset-fashion-mnist" in message
    assert "--download" in message


def test_damaged_files_are_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_FOLDER", str(tmp_path / "nowhere"))
    folder = write_fashion_mnist(str(tmp_path / "fashion_mnist"), gzipped=False)
    path = os.path.join(folder, "train-labels-idx1-ubyte")
    content = open(path, "rb").read()
    open(path, "wb").write(content[:-7])
    with pytest.raises(SparsekitError, match="truncated"):
        sk.data.load("fashion_mnist", root=tmp_path)
    open(path, "wb").write(b"\x00\x00\x08\x03" + content[4:])
    with pytest.raises(SparsekitError, match="magic number"):
        sk.data.load("fashion_mnist", root=tmp_path)


@pytest.mark.skipif(not os.path.isdir(fashion_mnist.DEBIAN_FOLDER),
                    reason="Debian's dataset-fashion-mnist is not installed (`.ci/run` installs it)")
def test_the_real_files_from_debian(tmp_path):
    bundle = sk.data.load("fashion_mnist", root=tmp_path)
    assert (bundle.train.num_examples, bundle.val.num_examples, bundle.test.num_examples) == (55000, 5000, 10000)
    assert np.bincount(bundle.test.labels.numpy()).tolist() == [1000] * 10
    assert bundle.class_names[0] == "T-shirt/top" and bundle.class_names[9] == "Ankle boot"


def test_other_file_datasets_refuse_a_training_subset(tmp_path):
    with pytest.raises(SparsekitError, match="train_examples is not supported for CIFAR-10"):
        sk.data.load("cifar10", root=tmp_path, train_examples=100)


def test_scoring_data_is_class_balanced():
    bundle = sk.data.load("digits", batch_size=64)
    (x, y), = sk.data.balanced_examples(bundle.train, 10, bundle.num_classes)
    assert x.shape[0] == 100 and np.bincount(y.numpy()).tolist() == [10] * 10
    (x2, y2), = sk.data.balanced_examples(bundle.train, 10, bundle.num_classes)
    assert torch.equal(x, x2) and torch.equal(y, y2)


def test_synflow_takes_its_input_shape_from_the_data_or_the_model():
    torch.manual_seed(0)
    model = sk.models.build("resnet20", 10, in_channels=1, width=0.25, input_size=8)
    batches = [(torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,)))]
    explicit = sk.masks.compute("synflow", model, 0.9, rounds=3, input_shape=(1, 8, 8))
    for data in (batches, None):
        mask = sk.masks.compute("synflow", model, 0.9, data=data, rounds=3)
        assert all(torch.equal(mask[n], explicit[n]) for n in explicit)
    assert model.input_shape == (1, 8, 8)
