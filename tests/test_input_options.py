"""The GPU-ready input pipeline and step options, checked where a CPU can: DataLoader workers
(persistent or not) deliver the batches of the in-process loader, a data-parallel shard of a
loader is its rows rank::N, and --amp bf16/fp16 and --channels-last train with pruned weights
exactly zero."""
import pytest
import torch

import fake_datasets
import sparsekit as sk
from sparsekit import data

TINY = dict(dataset="digits", width=0.25, epochs=1, max_batches=2, batch_size=32, progress=False)


def batches(bundle, count=3):
    bundle.train.set_epoch(0)
    return [b for _, b in zip(range(count), bundle.train)]


def test_loader_workers_and_shards_give_the_in_process_batches(tmp_path):
    fake_datasets.write_cifar10(str(tmp_path), per_batch=40)
    options = dict(root=tmp_path, batch_size=16, seed=1, augment=False)
    reference = batches(data.load("cifar10", **options))
    workers = batches(data.load("cifar10", num_workers=2, persistent_workers=True, pin_memory=True, **options))
    for (x, y), (wx, wy) in zip(reference, workers):
        assert torch.equal(x, wx) and torch.equal(y, wy)
    halves = []
    for rank in (0, 1):
        bundle = data.load("cifar10", **options)
        bundle.train.shard(rank, 2)
        halves.append(batches(bundle))
    for (x, y), (x0, y0), (x1, y1) in zip(reference, *halves):
        assert torch.equal(x[0::2], x0) and torch.equal(x[1::2], x1) and torch.equal(y[1::2], y1)


# Width 0.5: at 0.25 the shortcut's strided 1x1 convolution has 4 input channels, which
# channels_last refuses on a CPU without AVX-512 (see the refusal's test below).
@pytest.mark.parametrize("options", [{"amp": "bf16"}, {"amp": "fp16"}, {"channels_last": True, "width": 0.5}])
def test_precision_and_layout_options_keep_pruned_weights_zero(tmp_path, options):
    record = sk.train(out=tmp_path, **{**TINY, **options})
    assert record["finished"] and record["config"][next(iter(options))] == next(iter(options.values()))
    params = dict(record.model.named_parameters())
    assert all(int((params[name][~keep] != 0).sum()) == 0 for name, keep in record.mask.items())
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert (saved["precision"] is not None) == (options.get("amp") == "fp16")  # the scaler's state resumes


def test_unknown_amp_is_one_error_line():
    with pytest.raises(sk.SparsekitError, match="amp must be one of: none, bf16, fp16"):
        sk.train(amp="fp8", **TINY)


def test_channels_last_is_refused_where_torchs_cpu_kernels_corrupt_memory(tmp_path, monkeypatch):
    """oneDNN held to AVX2 (as on a CPU without AVX-512): a strided 1x1 convolution with 4 input
    channels is refused before anything is written; with 8 it trains."""
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    with pytest.raises(sk.SparsekitError, match=r"channels_last is refused on this CPU: .*"
                                                r"\(stages\.1\.0\.shortcut\.conv: 4 input channels, stride 2\)"):
        sk.train(out=tmp_path / "narrow", **{**TINY, "channels_last": True})
    assert not (tmp_path / "narrow").exists()
    assert sk.train(**{**TINY, "channels_last": True, "width": 0.5})["finished"]
