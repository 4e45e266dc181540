"""Settings are declared once: sections, roles, and recipe tricks that are one file each."""
import textwrap
from dataclasses import fields

import pytest

import sparsekit as sk
from sparsekit.app.cli import build_parser
from sparsekit.app.experiments import COURSE_DEFAULTS, ExperimentSettings
from sparsekit.recipe.settings import TRICK_LIST, recipe_class
from sparsekit.recipe.trick import discover
from sparsekit.training.config import NAMED_SECTIONS, SECTIONS, names_with, setting_fields


def test_every_setting_has_one_section_and_a_unique_name_unlike_any_section():
    names = [f.name for _, f in setting_fields()]
    assert len(names) == len(set(names))
    assert not set(names) & set(SECTIONS)
    config = sk.TrainConfig(lr=0.05, mask="snip", dataset="digits")
    assert config.optimization.lr == config.lr == 0.05 and config.masking.mask == "snip"
    assert list(config.to_dict()) == names


def test_the_command_line_has_one_flag_per_setting_and_per_recipe_field():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    dests = {action.dest for action in train._actions}
    assert {f.name for _, f in setting_fields()} <= dests
    assert {f.name for f in fields(sk.Recipe)} <= dests


def test_roles_replace_the_hand_lists():
    resumable, mask = set(names_with("resumable")), set(names_with("shapes_mask"))
    assert {"progress", "device", "out", "data_root"} <= resumable
    assert {"seed", "sparsity", "mask_options", "dataset", "width", "batch_size"} <= mask
    assert not {"lr", "epochs", "seed", "mask"} & resumable


def test_resume_accepts_a_resumable_change_and_refuses_any_other(tmp_path):
    from helpers import Interrupt

    quick = dict(dataset="digits", width=0.25, epochs=2, max_batches=2, out=tmp_path / "run", seed=1)
    with pytest.raises(KeyboardInterrupt):
        sk.train(**quick, progress=False, callbacks=[Interrupt(at_epoch=1)])
    with pytest.raises(sk.SparsekitError, match="setting 'lr' was 0.1 in the interrupted run, now 0.05"):
        sk.train(**quick, lr=0.05, resume=True, progress=False)
    assert sk.train(**quick, resume=True, progress=True)["finished"]  # progress may change


def test_experiment_settings_come_from_the_declaration():
    declared = {f.name: f for _, f in setting_fields()}
    by_name = {f.name: f for f in fields(ExperimentSettings)}
    for name in COURSE_DEFAULTS:
        field = by_name[name]
        assert field.type == declared[name].type and field.metadata["help"] == declared[name].metadata["help"]
    with pytest.raises(sk.SparsekitError, match="epochs must be"):
        ExperimentSettings(epochs=0)  # checked as TrainConfig checks it
    with pytest.raises(sk.SparsekitError, match="the mask method is the setting 'mask'"):
        ExperimentSettings(method="snip")  # the same names as TrainConfig
    settings = ExperimentSettings(mask="snip", tricks=["label_smoothing"], recipe_options={"label_smoothing": 0.2})
    config = settings.to_config()
    assert (config.mask, config.width, config.recipe.label_smoothing) == ("snip", 0.25, 0.2)


def test_a_new_trick_file_is_found_and_joins_the_recipe(tmp_path):
    package = tmp_path / "more_tricks"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "brightness.py").write_text(textwrap.dedent('''
        from dataclasses import dataclass
        from sparsekit.core.callbacks import Callback
        from sparsekit.core.fields import setting
        from sparsekit.recipe.trick import Trick

        class Brighten(Callback):
            pass

        @dataclass(frozen=True)
        class BrightnessSettings:
            brightness: float = setting(0.0, "a made-up trick", positive=False)

        TRICK = Trick(name="brightness", label="brightness", order=50, settings=BrightnessSettings,
                      switch="brightness", on={"brightness": 0.5}, callbacks=lambda r: [Brighten()],
                      describe=lambda r: f"brightness {r.brightness:g}" if r.brightness else None)
    '''))
    import sys
    sys.path.insert(0, str(tmp_path))
    try:
        found = discover("more_tricks", [str(package)])
    finally:
        sys.path.remove(str(tmp_path))
    assert [t.name for t in found] == ["brightness"]
    recipe = recipe_class(TRICK_LIST + found)
    tost = recipe.tost()
    assert tost.brightness == 0.5 and "brightness 0.5" in tost.describe()
    assert type(tost.callbacks()[-1]).__name__ == "Brighten"
    assert recipe.default().with_tricks(["brightness"]).tricks_on() == ["brightness"]


def test_the_tricks_are_named_one_way_everywhere():
    assert list(sk.recipe.TRICKS) == [t.name for t in TRICK_LIST] == \
        ["ghost_neurons", "ghost_skip", "init", "label_smoothing"]
    assert sk.Recipe.tost().tricks_on() == list(sk.recipe.TRICKS)
    assert set(NAMED_SECTIONS) | {"recipe"} == set(SECTIONS)
