"""Property-based checks (hypothesis) of the promise "one clear error or a finished run":
generated settings, mask files and interruption points never give a traceback, leave nothing
behind on error, keep exact counts and exact zeros, and resume bit-identically.

Kept small: ResNet-20 at width 0.25 on digits, one or two batches per epoch, few examples."""
import math
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings, strategies as st

import sparsekit as sk
from helpers import Interrupt
from sparsekit.core.topk import keep_count

BUNDLE = sk.data.load("digits", batch_size=64, seed=0)
BASE = dict(model="resnet20", width=0.25, epochs=1, max_batches=1, progress=False, batch_size=64)
FEW = settings(max_examples=10, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

odd_numbers = st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0, 1.5, True, "0.1", None])
bad_or_good = {
    "epochs": st.one_of(st.integers(-1, 2), st.sampled_from([1.5, True, "1"])),
    "lr": st.one_of(st.floats(1e-4, 0.5), odd_numbers),
    "sparsity": st.one_of(st.floats(-0.2, 1.2), st.sampled_from([0.0, 0.5, 0.99999, math.nan, "x"])),
    "weight_decay": st.one_of(st.floats(0, 1e-3), odd_numbers),
    "momentum": st.one_of(st.floats(0, 0.99), odd_numbers),
    "seed": st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([-1, 2**64, 2**80, 1.0])),
    "distribution": st.sampled_from(["global", "uniform", "even", "erk", "GLOBAL", 3]),
    "mask": st.sampled_from(["random", "magnitude", "erk", "bogus"]),
    "mask_options": st.sampled_from(["", "shuffle=true", "shuffle=maybe", "rounds=2", "invert=true", "x=="]),
    "warmup_epochs": st.one_of(st.floats(0, 2), odd_numbers),
    "lr_schedule": st.sampled_from(["cosine", "multistep", "constant", "linear"]),
    "lr_drop": st.one_of(st.floats(-1, 2), odd_numbers),
}


def _one_line_error(error: sk.SparsekitError) -> None:
    assert str(error) and "\n" not in str(error) and "Traceback" not in str(error)


def _check_finished(result, out: Path, sparsity: float) -> None:
    """Exact count (rounded half up) and exact zeros, independently of the record's figures."""
    assert result["finished"] is True and (out / "record.json").is_file()
    total = result.mask.num_total()
    assert result.mask.num_kept() == keep_count(total, 1.0 - sparsity) or result["config"]["distribution"] == "uniform"
    params = dict(result.model.named_parameters())
    for name, keep in result.mask.items():
        assert torch.count_nonzero(params[name].detach()[~keep]) == 0, name


@FEW
@example({})  # the defaults: a finished run, always among the examples
@example({"sparsity": 0.5, "distribution": "uniform", "mask": "magnitude", "seed": 2**64 - 1})
@given(st.fixed_dictionaries({}, optional=bad_or_good))
def test_any_settings_give_one_error_or_a_finished_run(chosen):
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        try:
            result = sk.train(**{**BASE, **chosen}, data=BUNDLE, out=str(out))
        except sk.SparsekitError as error:
            _one_line_error(error)
            assert not out.exists(), sorted(p.name for p in out.iterdir())
            return
        _check_finished(result, out, chosen.get("sparsity", 0.9))


def _model():
    torch.manual_seed(0)
    return sk.models.build("resnet20", 10, in_channels=1, width=0.25, input_size=8)


@st.composite
def mask_files(draw):
    """A mask file as someone might write it: one fault (or none) in dtype, values, names or shapes."""
    fault = draw(st.sampled_from(["none", "soft", "twos", "missing", "shape", "extra"]))
    kind = draw(st.sampled_from(["bool", "float01", "int01"]))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 99)))
    threshold = draw(st.floats(0.0, 1.0))
    entries = {}
    for name, keep in sk.Mask.dense(_model()).items():
        values = torch.rand(keep.shape, generator=generator)
        binary = values > threshold
        entries[name] = {"bool": binary, "float01": binary.float(), "int01": binary.int()}[kind]
    victim = draw(st.sampled_from(sorted(entries)))
    if fault == "soft":
        entries[victim] = torch.rand(entries[victim].shape, generator=generator)  # floats in (0, 1)
    elif fault == "twos":
        entries[victim] = entries[victim].long() * 2
    elif fault == "missing":
        del entries[victim]
    elif fault == "shape":
        entries[victim] = entries[victim].reshape(-1)
    elif fault == "extra":
        entries["not_a.weight"] = torch.ones(3, dtype=torch.bool)
    return entries


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(mask_files())
def test_any_mask_file_gives_one_error_or_exactly_that_mask(entries):
    with tempfile.TemporaryDirectory() as folder:
        path, out = Path(folder) / "mask.pt", Path(folder) / "run"
        torch.save({"format": "sparsekit.core.mask/1", "mask": entries}, path)
        try:
            result = sk.train(**BASE, data=BUNDLE, mask_file=str(path), out=str(out))
        except sk.SparsekitError as error:
            _one_line_error(error)
            assert not out.exists()
            return
        assert set(result.mask) == set(entries)
        for name, keep in entries.items():
            assert torch.equal(result.mask[name], keep.bool()), name
        params = dict(result.model.named_parameters())
        assert all(torch.count_nonzero(params[n].detach()[~k]) == 0 for n, k in result.mask.items())


class StopAtStep(sk.Callback):
    def __init__(self, step: int):
        self.step = step

    def on_step(self, state):
        if state.step == self.step:
            raise KeyboardInterrupt


RESUMABLE = {**BASE, "epochs": 2, "max_batches": 2, "sparsity": 0.8, "lr": 0.05}


@pytest.fixture(scope="module")
def whole_run():
    return sk.train(**RESUMABLE, data=BUNDLE).model.state_dict()


@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.integers(1, 4), st.booleans())
def test_interrupted_anywhere_resume_is_bit_identical(whole_run, stop_step, at_epoch_start):
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        stopper = Interrupt((stop_step - 1) // 2) if at_epoch_start else StopAtStep(stop_step)
        with pytest.raises(KeyboardInterrupt):
            sk.train(**RESUMABLE, data=BUNDLE, out=str(out), callbacks=[stopper])
        saved = (out / "checkpoint.pt").is_file()
        if not saved:
            assert not out.exists()  # nothing was saved: nothing is left behind
        result = sk.train(**RESUMABLE, data=BUNDLE, out=str(out), resume=saved)
        for name, value in whole_run.items():
            assert torch.equal(value, result.model.state_dict()[name]), name
        assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
