"""The two readings of the recipe, named for what they are, and what a run record says of them."""
import pytest
import torch

import sparsekit as sk
from sparsekit.recipe.settings import PRESETS

torch.set_num_threads(1)
QUICK = dict(dataset="digits", model="resnet20", width=0.25, epochs=2, max_batches=2, progress=False)


def test_the_release_keeps_both_ghosts_and_the_abstract_anneals_them():
    release, tost = sk.Recipe.release(), sk.Recipe.tost()
    assert (release.ghost_neurons_mode, release.ghost_skip_mode) == ("keep", "keep")
    assert (tost.ghost_neurons_mode, tost.ghost_skip_mode) == ("early", "early")
    for recipe in (release, tost):
        assert (recipe.ghost_neurons, recipe.ghost_neurons_beta, recipe.ghost_skip, recipe.ghost_skip_alpha) == \
            ("pswish", 2.0, True, 1.0)
        assert (recipe.init, recipe.init_iterations, recipe.init_lr, recipe.init_eta, recipe.init_gamma) == \
            ("gradinit", 180, 1e-2, 0.1, 1.0)
        assert recipe.label_smoothing == 0.1 and recipe.init_batch_size == 0
        assert (recipe.init_variant, recipe.init_order) == ("dense-then-mask", "before-ghosts")
    assert PRESETS == ("default", "tost", "tost-release")
    assert sk.Recipe.preset("tost-release") == release and release.preset_name() == "tost-release"
    assert tost.with_changes(label_smoothing=0.2).preset_name() == "custom"


def test_the_trainer_keeps_the_classifier_dense_by_default():
    assert sk.TrainConfig().prune_classifier is False
    result = sk.train(mask="random", sparsity=0.9, recipe=sk.Recipe.default(), **QUICK)
    assert not any(name.startswith("classifier") for name in result.mask)


@pytest.mark.parametrize("name", ["tost", "tost-release"])
def test_the_record_names_the_preset_and_counts_the_ghost_weights_apart(name):
    result = sk.train(mask="random", sparsity=0.9, recipe=sk.Recipe.preset(name).with_changes(init_iterations=2),
                      **QUICK)
    assert result["recipe_preset"] == "custom"  # init_iterations changed
    start, end = result["parameters_at_start"], result["parameters"]
    branches = sum(p.numel() for n, p in result.model.named_parameters() if ".ghosts." in n)
    assert start["ghost_branches"] > 0 and end["ghost_branches"] == branches
    assert (branches > 0) == (name == "tost-release")  # early mode removes them by the end
    assert end["masked_kept"] == round(0.1 * end["masked_total"])
    total = sum(p.numel() for p in result.model.parameters())
    assert end["masked_total"] + end["ghost_branches"] + end["other_dense"] == total
    assert end["in_use"] == end["masked_kept"] + end["ghost_branches"] + end["other_dense"]


def test_the_cli_offers_the_release_preset(tmp_path, capsys):
    from sparsekit.app.cli import main

    assert main(["train", "--recipe", "tost-release", "--init-iterations", "1", "--epochs", "1", "--max-batches", "1",
                 "--width", "0.25", "--no-progress", "--out", str(tmp_path / "run")]) == 0
    assert "ghost neurons pswish(beta=2) all run" in capsys.readouterr().out
