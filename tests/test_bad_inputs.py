"""Every bad input is refused before any work or write, with one `SparsekitError` line that is
the same from Python and from the command line, and the output folder is left as it was."""
import math

import pytest
import torch

import sparsekit as sk
from helpers import QUICK_CLI
from sparsekit.app.cli import main

TINY = dict(dataset="digits", model="resnet20", width=0.25, epochs=1, max_batches=2, progress=False, batch_size=64)


def snapshot(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else None


@pytest.mark.parametrize("settings,expected", [
    (dict(epochs=1.5), "epochs must be a whole number"),
    (dict(epochs=True), "epochs must be a whole number"),
    (dict(batch_size="64"), "batch_size must be a whole number"),
    (dict(lr=math.nan), "lr must be a finite number"),
    (dict(lr=math.inf), "lr must be a finite number"),
    (dict(weight_decay=math.nan), "weight_decay must be a finite number"),
    (dict(warmup_epochs=math.inf), "warmup_epochs must be a finite number"),
    (dict(momentum=1.5), "momentum must be in [0, 1)"),
    (dict(lr_schedule="multistep", lr_drop=-0.1), "lr_drop must be in (0, 1]"),
    (dict(lr_drop=math.nan), "lr_drop must be a finite number"),
    (dict(seed=2 ** 64), "seed must be a whole number in [0, 2**64)"),
    (dict(seed=-1), "seed must be a whole number in [0, 2**64)"),
    (dict(sparsity="lots"), "sparsity must be a number"),
    (dict(sparsity=math.nan), "sparsity must be"),
    (dict(download="yes"), "download must be True or False"),
    (dict(progress=1), "progress must be True or False"),
    (dict(dataset=3), "dataset must be text"),
    (dict(optimizer="adam", nesterov=True), "nesterov applies to optimizer 'sgd' only"),
    (dict(nesterov=True, momentum=0.0), "nesterov needs momentum > 0"),
    (dict(sparsity=0.99999), "keeps no weight at all"),
    (dict(mask="lottery", mask_options="round_epochs=soon"), "round_epochs must be a whole number"),
    (dict(mask="random", mask_options="shuffle=maybe"), "shuffle must be True or False"),
    (dict(mask="synflow", mask_options="float64=1"), "float64 must be True or False"),
    (dict(mask="synflow", mask_options="rounds=2.5"), "rounds must be a whole number"),
    (dict(device="tpu"), "unknown device"),
])
def test_bad_setting_is_refused_before_anything_is_written(tmp_path, settings, expected):
    out = tmp_path / "run"
    with pytest.raises(sk.SparsekitError, match=_literal(expected)):
        sk.train(**{**TINY, **settings}, out=str(out))
    assert not out.exists()


def _literal(text):
    import re

    return re.escape(text)


@pytest.mark.parametrize("args,expected", [
    (["--lr", "nan"], "lr must be a finite number"),
    (["--warmup-epochs", "inf"], "warmup_epochs must be a finite number"),
    (["--seed", str(2 ** 70)], "seed must be a whole number in [0, 2**64)"),
    (["--lr-drop=-0.5", "--lr-schedule", "multistep"], "lr_drop must be in (0, 1]"),
    (["--mask", "lottery", "--mask-options", "rewind_steps=abc"], "rewind_steps must be a whole number"),
    (["--weight-decay=-inf"], "weight_decay must be a finite number"),
    (["--recipe", "tost", "--ghost-skip-alpha", "inf"], "ghost_skip_alpha must be a finite"),
    (["--sparsity", "0.999999"], "keeps no weight at all"),
])
def test_cli_bad_setting_is_one_line_and_nothing_written(tmp_path, capsys, args, expected):
    out = tmp_path / "run"
    assert main(["train", *QUICK_CLI, "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err, err
    assert not out.exists()


def test_api_and_cli_print_the_same_message(capsys):
    with pytest.raises(sk.SparsekitError) as raised:
        sk.train(**TINY, lr=math.inf)
    assert main(["train", *QUICK_CLI, "--lr", "inf"]) == 2
    assert capsys.readouterr().err == f"error: {raised.value}\n"


def test_demo_refuses_zero_epochs(tmp_path, capsys):
    assert main(["demo", "--epochs", "0", "--out", str(tmp_path / "demo")]) == 2
    assert "epochs must be a whole number >= 1" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


@pytest.mark.parametrize("call,expected", [
    (lambda: sk.train(**TINY, recipe=42), "recipe must be"),
    (lambda: sk.train(**TINY, recipe="nonsense"), "unknown recipe 'nonsense'"),
    (lambda: sk.train(**TINY, callbacks=[object()]), "callbacks must be"),
    (lambda: sk.train(**{**TINY, "model": 3}), "model must be"),
    (lambda: sk.train(**TINY, data="digits"), "data must be"),
    (lambda: sk.masks.compute("random", "resnet20", 0.5), "model must be a torch nn.Module"),
    (lambda: sk.masks.compute("random", torch.nn.Linear(4, 4), 0.5, shuffle="maybe"), "shuffle must be"),
    (lambda: sk.Mask({"w": "x"}), "mask entry 'w'"),
    (lambda: sk.Mask({"w": torch.tensor([0.5, 1.0])}), "only 0 and 1"),
    (lambda: sk.Recipe(ghost_skip_alpha=math.inf), "ghost_skip_alpha must be a finite"),
    (lambda: sk.Recipe(ghost_neurons_beta=math.nan), "ghost_neurons_beta must be a finite"),
    (lambda: sk.Recipe(init_iterations=2.5), "init_iterations must be a whole number"),
    (lambda: sk.Recipe(ghost_neurons_mode=["keep"]), "ghost_neurons_mode must be one of"),
    (lambda: sk.data.load("digits", batch_size="big"), "batch_size must be a whole number >= 1"),
    (lambda: sk.models.build(3, 10), "unknown model"),
])
def test_wrong_types_raise_sparsekit_error(call, expected):
    with pytest.raises(sk.SparsekitError, match=_literal(expected)):
        call()


def test_recipe_by_name_goes_through_the_presets(monkeypatch):
    from sparsekit.runs.inputs import resolve_recipe

    assert resolve_recipe("tost") == sk.Recipe.tost() and resolve_recipe(None) == sk.Recipe.default()
    # A preset added later (e.g. "tost-release") is accepted by name without touching the trainer.
    names = []
    monkeypatch.setattr(sk.Recipe, "preset", classmethod(lambda cls, name: names.append(name) or cls.default()))
    result = sk.train(**TINY, recipe="tost-release", sparsity=0.5)
    assert names[0] == "tost-release" and result["recipe"] == sk.Recipe.default().to_dict()


def test_float_mask_file_is_refused(tmp_path):
    model = sk.models.build("resnet20", 10, in_channels=1, width=0.25, input_size=8)
    mask = sk.Mask.dense(model)
    torch.save({"format": "sparsekit.core.mask/1", "mask": {n: torch.full(k.shape, 0.3) for n, k in mask.items()}},
               tmp_path / "soft.pt")
    with pytest.raises(sk.SparsekitError, match="only 0 and 1"):
        sk.train(**TINY, mask_file=str(tmp_path / "soft.pt"), out=str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_mask_file_missing_a_layer_is_refused(tmp_path):
    model = sk.models.build("resnet20", 10, in_channels=1, width=0.25, input_size=8)
    mask = sk.Mask.dense(model, prune_classifier=False)  # the trainer's default set
    first = list(mask)[0]
    del mask[first]
    mask.save(tmp_path / "partial.pt")
    with pytest.raises(sk.SparsekitError, match=f"lacks '{first}'"):
        sk.train(**TINY, mask_file=str(tmp_path / "partial.pt"))
    with pytest.raises(sk.SparsekitError, match="also covers"):  # a mask made with the classifier pruned
        sk.Mask.dense(model, prune_classifier=True).save(tmp_path / "full.pt")
        sk.train(**TINY, mask_file=str(tmp_path / "full.pt"))


def test_checkpoint_of_a_larger_model_is_refused(tmp_path):
    bigger = sk.models.build("resnet32", 10, in_channels=1, width=0.25, input_size=8)
    torch.save(bigger.state_dict(), tmp_path / "resnet32.pt")
    with pytest.raises(sk.SparsekitError, match="larger or different model"):
        sk.train(**TINY, mask_file=str(tmp_path / "resnet32.pt"), out=str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_model_that_does_not_fit_the_data():
    three_channels = sk.models.build("resnet20", 10, in_channels=3, width=0.25, input_size=8)
    with pytest.raises(sk.SparsekitError, match="input channels"):
        sk.train(**{**TINY, "model": three_channels})
    five_classes = sk.models.build("resnet20", 5, in_channels=1, width=0.25, input_size=8)
    with pytest.raises(sk.SparsekitError, match="classes"):
        sk.train(**{**TINY, "model": five_classes})
