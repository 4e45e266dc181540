"""The recipe with every mask method and every model, through the real trainer: pruned
weights stay zero at every step, early mode ends with exactly the masked original network,
the default recipe changes nothing, and resuming reproduces the uninterrupted run."""
import pytest
import torch
from torch import nn

import sparsekit as sk
from helpers import Interrupt
from sparsekit import data as datasets, models
from sparsekit.runs import mask_sources
from sparsekit.core.prunable import prunable_parameters
from sparsekit.recipe.ghost_neurons import GhostActivation
from sparsekit.recipe.ghost_skip import GhostBranch

torch.set_num_threads(1)

TINY = dict(width=0.25, epochs=2, max_batches=2, progress=False)
# Every trick on, the ghosts' early phase ending after the first of the 2 x 2 steps' halves.
TOST_EARLY = sk.Recipe.tost().with_changes(init_iterations=2, early_phase=0.5)
TOST_KEEP = TOST_EARLY.with_changes(ghost_neurons_mode="keep", ghost_skip_mode="keep")


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits", batch_size=32)


class ZerosStayZero(sk.Callback):
    """Checks, after init and after every optimizer step, that every pruned weight is 0."""

    def __init__(self):
        self.checks = 0

    def _check(self, state):
        params = dict(state.model.named_parameters())
        for name, keep in state.mask.items():
            assert torch.all(params[name].detach()[~keep.to(params[name].device)] == 0), name
        self.checks += 1

    on_run_start = on_step = on_run_end = _check


def _layout(model: nn.Module):
    return ([(n, tuple(p.shape)) for n, p in model.named_parameters()],
            [(n, tuple(b.shape)) for n, b in model.named_buffers()],
            [(n, type(m)) for n, m in model.named_modules()])


def _fresh(name, bundle):
    return models.build(name, bundle.num_classes, in_channels=bundle.in_channels, width=TINY["width"],
                        input_size=bundle.image_size)


def _check_original_architecture(result, model_name, bundle):
    """After the early phase: the fresh model's parameters, buffers and module types, the
    mask's density, and no ghost left anywhere."""
    assert _layout(result.model) == _layout(_fresh(model_name, bundle))
    assert not any(isinstance(m, (GhostActivation, GhostBranch)) for m in result.model.modules())
    assert prunable_parameters(result.model).keys() == result.mask.keys()
    params = dict(result.model.named_parameters())
    nonzero = sum(int((params[n] != 0).sum()) for n in result.mask)
    assert nonzero <= result.mask.num_kept()


# lottery trains a dense net first (slow): its own test below.
METHODS = [m for m in mask_sources.available() if m != "lottery"]


@pytest.mark.parametrize("method", METHODS)
def test_every_mask_method_with_the_full_recipe(method, digits):
    guard = ZerosStayZero()
    result = sk.train(model="resnet20", mask=method, sparsity=0.9, recipe=TOST_EARLY, callbacks=[guard],
                      data=digits, **TINY)
    assert guard.checks == 2 * 2 + 2
    _check_original_architecture(result, "resnet20", digits)
    assert result["recipe"] == TOST_EARLY.to_dict() and result["init"]["iterations"] == 2


def test_lottery_ticket_with_the_full_recipe(digits):
    # Tiny IMP: sparsity 0.5 is 4 rounds of 1 epoch x 2 batches, then the ticket trains with the recipe.
    guard = ZerosStayZero()
    result = sk.train(model="resnet20", mask="lottery", sparsity=0.5, mask_options="round_epochs=1",
                      recipe=TOST_EARLY, callbacks=[guard], data=digits, **TINY)
    assert guard.checks == 6 and result.mask.num_kept() == int(0.5 * result.mask.num_total() + 0.5)
    _check_original_architecture(result, "resnet20", digits)


@pytest.mark.parametrize("model_name", models.available())
def test_every_model_with_the_full_recipe(model_name, digits):
    guard = ZerosStayZero()
    result = sk.train(model=model_name, mask="random", sparsity=0.9, recipe=TOST_EARLY, callbacks=[guard],
                      data=digits, **TINY)
    assert guard.checks == 6
    _check_original_architecture(result, model_name, digits)


@pytest.mark.parametrize("model_name", ["resnet20", "vgg16", "mobilenetv2"])
def test_keep_mode_keeps_ghosts_and_the_mask_density(model_name, digits):
    guard = ZerosStayZero()
    result = sk.train(model=model_name, mask="random", sparsity=0.9, recipe=TOST_KEEP, callbacks=[guard],
                      data=digits, **TINY)
    assert guard.checks == 6
    modules = list(result.model.modules())
    assert any(isinstance(m, GhostBranch) for m in modules) and any(isinstance(m, GhostActivation) for m in modules)
    assert not any(isinstance(m, (nn.ReLU, nn.ReLU6)) for m in modules)
    assert prunable_parameters(result.model).keys() == result.mask.keys()
    assert result["density"] == pytest.approx(0.1, abs=0.01)


@pytest.fixture(scope="module")
def plain_snip(digits):
    """The same run without any trick, trained once for every trick's comparison."""
    return sk.train(model="resnet20", mask="snip", sparsity=0.95, data=digits, **TINY)


@pytest.mark.parametrize("recipe", [
    sk.Recipe(ghost_neurons="mish"), sk.Recipe(ghost_skip=True), sk.Recipe(init="scaled"),
    sk.Recipe(init="gradinit", init_iterations=2), sk.Recipe(label_smoothing=0.1)],
    ids=["ghost_neurons", "ghost_skip", "scaled_init", "gradinit", "label_smoothing"])
def test_each_trick_alone(recipe, digits, plain_snip):
    guard = ZerosStayZero()
    result = sk.train(model="resnet20", mask="snip", sparsity=0.95, recipe=recipe, callbacks=[guard],
                      data=digits, **TINY)
    assert guard.checks == 6 and result["finished"]
    plain = plain_snip
    assert not torch.equal(result.model.classifier.weight, plain.model.classifier.weight)  # it did something


TIMING = {"seconds"}


def _comparable(record):
    return {k: ([{f: v for f, v in e.items() if f not in TIMING} for e in value] if k == "epochs" else value)
            for k, value in record.items() if k not in TIMING | {"environment", "recipe"}}


def test_default_recipe_equals_no_recipe(digits):
    with_default = sk.train(model="resnet20", mask="random", sparsity=0.9, recipe=sk.Recipe.default(),
                            data=digits, **TINY)
    without = sk.train(model="resnet20", mask="random", sparsity=0.9, data=digits, **TINY)
    assert _comparable(with_default) == _comparable(without)
    # No recipe IS the default recipe (one run for resume): both records say so.
    assert with_default["recipe"] == without["recipe"] == sk.Recipe.default().to_dict()
    a, b = with_default.model.state_dict(), without.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("after_epochs", [1, 3], ids=["during-early-phase", "after-early-phase"])
def test_resume_reproduces_the_uninterrupted_run(after_epochs, digits, tmp_path):
    # 4 epochs x 2 steps; early phase 0.5 = the first 4 steps, so epoch 1 is inside it, epoch 3 after
    settings = dict(TINY, epochs=4, model="resnet20", mask="snip", sparsity=0.9, recipe=TOST_EARLY, data=digits)
    whole = sk.train(out=str(tmp_path / "whole"), **settings)
    with pytest.raises(KeyboardInterrupt):
        sk.train(out=str(tmp_path / "cut"), callbacks=[Interrupt(after_epochs)], **settings)
    resumed = sk.train(out=str(tmp_path / "cut"), resume=True, **settings)
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    same_but_where = {k: v for k, v in _comparable(resumed).items() if k != "config"}
    assert same_but_where == {k: v for k, v in _comparable(whole).items() if k != "config"}  # incl. gradinit log
    _check_original_architecture(resumed, "resnet20", digits)
