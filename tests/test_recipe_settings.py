"""Recipe: presets, validation, serialisation, callback order, and the CLI flags."""
import json

import pytest

import sparsekit as sk
from sparsekit.app import cli
from sparsekit.core.errors import SparsekitError
from sparsekit.recipe.ghost_neurons import GhostNeurons
from sparsekit.recipe.ghost_skip import GhostSkip
from sparsekit.recipe.gradinit import GradInit
from sparsekit.recipe.label_smoothing import LabelSmoothing
from sparsekit.recipe.scaled_init import ScaledInit


def test_default_is_all_off_and_adds_no_callbacks():
    recipe = sk.Recipe.default()
    assert recipe.ghost_neurons == "off" and recipe.ghost_skip is False
    assert recipe.init == "none" and recipe.label_smoothing == 0.0
    assert recipe.callbacks() == []
    assert "no recipe tricks" in recipe.describe()


def test_tost_turns_on_all_four_with_the_paper_values():
    recipe = sk.Recipe.tost()
    assert (recipe.ghost_neurons, recipe.ghost_neurons_beta) == ("pswish", 2.0)
    assert (recipe.ghost_skip, recipe.ghost_skip_alpha) == (True, 1.0)
    assert (recipe.init, recipe.init_iterations, recipe.init_lr, recipe.init_eta, recipe.init_gamma) == \
        ("gradinit", 180, 1e-2, 0.1, 1.0)
    assert recipe.label_smoothing == 0.1
    # the init first, on the original architecture (see init.py), then the ghosts, then the loss
    assert [type(c) for c in recipe.callbacks()] == [GradInit, GhostNeurons, GhostSkip, LabelSmoothing]
    line = recipe.describe()
    assert "\n" not in line and "pswish" in line and "gradinit" in line and "0.1" in line


def test_round_trip_through_json():
    recipe = sk.Recipe.tost().with_changes(ghost_skip_mode="keep", init="scaled", early_phase=0.5)
    again = sk.Recipe.from_dict(json.loads(json.dumps(recipe.to_dict())))
    assert again == recipe
    assert [type(c) for c in again.callbacks()] == [ScaledInit, GhostNeurons, GhostSkip, LabelSmoothing]


def test_none_means_off():
    assert sk.Recipe(init=None).init == "none"
    assert sk.Recipe(ghost_neurons=None).ghost_neurons == "off"


@pytest.mark.parametrize("changes, words", [
    ({"ghost_neurons": "relu"}, "swish"),
    ({"ghost_neurons_mode": "late"}, "early"),
    ({"init": "kaiming"}, "gradinit"),
    ({"label_smoothing": 1.0}, "[0, 1)"),
    ({"label_smoothing": -0.1}, "[0, 1)"),
    ({"early_phase": 0.0}, "(0, 1]"),
    ({"early_phase": "half"}, "(0, 1]"),
    ({"ghost_skip_alpha": 0}, "positive"),
    ({"init_iterations": 2.5}, "whole"),
    ({"ghost_skip": "yes"}, "True or False"),
    ({"colour": "red"}, "settings are"),
])
def test_bad_settings_fail_with_one_line(changes, words):
    with pytest.raises(SparsekitError) as info:
        sk.Recipe.default().with_changes(**changes)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_unknown_preset():
    with pytest.raises(SparsekitError, match="default, tost"):
        sk.Recipe.preset("best")


def _args(*extra):
    return cli.build_parser().parse_args(["train", *extra])


def test_cli_flags_override_the_preset():
    recipe = cli._recipe_from_args(_args("--recipe", "tost", "--no-ghost-skip", "--ghost-neurons", "mish",
                                         "--init-iterations", "7", "--early-phase", "0.5"))
    assert recipe == sk.Recipe.tost().with_changes(ghost_skip=False, ghost_neurons="mish", init_iterations=7,
                                                    early_phase=0.5)
    assert cli._recipe_from_args(_args()) == sk.Recipe.default()
    assert cli._recipe_from_args(_args("--label-smoothing", "0.2")) == sk.Recipe(label_smoothing=0.2)


def test_cli_bad_recipe_values_exit_2(capsys):
    assert cli.main(["train", "--recipe", "fancy"]) == 2
    assert cli.main(["train", "--label-smoothing", "1.5", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 2 and "label_smoothing" in err


def test_cli_train_records_the_recipe(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(["train", "--model", "resnet20", "--width", "0.25", "--epochs", "1", "--max-batches", "1",
                     "--recipe", "tost", "--init-iterations", "1", "--ghost-skip-mode", "keep",
                     "--out", str(out), "--no-progress"])
    assert code == 0
    record = json.loads((out / "record.json").read_text())
    assert record["recipe"] == sk.Recipe.tost().with_changes(init_iterations=1, ghost_skip_mode="keep").to_dict()
    assert record["init"]["iterations"] == 1
    assert "recipe: ghost neurons pswish" in capsys.readouterr().out


def test_the_init_trick_has_one_name_and_reads_its_older_ones():
    """`init` is the trick, its field, its flag prefix and its record section; `modified_init`
    (older notebooks and sweep files) and the `gradinit`/`scaled_init` sections of older
    records still read."""
    from sparsekit.app.experiments import ExperimentSettings
    from sparsekit.recipe import TRICK_FIELDS, init_log

    assert TRICK_FIELDS["init"] == "init"
    assert sk.Recipe.default().with_tricks(["modified_init"]) == sk.Recipe.default().with_tricks(["init"])
    assert ExperimentSettings(tricks=["modified_init"]).tricks == ("init",)
    assert init_log({"gradinit": {"iterations": 3}}) == {"iterations": 3, "kind": "gradinit"}
    assert init_log({"scaled_init": {"conv1": 2.0}}) == {"kind": "scaled", "factors": {"conv1": 2.0}}
    assert init_log({"init": {"kind": "scaled", "factors": {}}})["kind"] == "scaled"
    assert init_log({}) is None


def test_the_recipe_is_one_setting_read_in_one_place():
    from sparsekit.training.config import make_config

    assert sk.TrainConfig(recipe="tost").recipe == sk.Recipe.tost() == sk.Recipe.read("tost")
    assert sk.TrainConfig(recipe={"label_smoothing": 0.1}).recipe == sk.Recipe(label_smoothing=0.1)
    # The keyword replaces the config's section, as any setting given by name does.
    assert make_config(sk.TrainConfig(recipe="tost"), recipe="default").recipe == sk.Recipe.default()
    with pytest.raises(sk.SparsekitError, match="recipe must be a sparsekit.Recipe, a preset name"):
        sk.TrainConfig(recipe=42)
