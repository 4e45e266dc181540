"""`sparsekit rerun RECORD --out DIR`: a recorded run trained again from its record alone, with
its mask file (found again after the study folder moved) and its thread count, gives the same
numbers in the same process; a record it cannot rerun is one error line."""
import json
import shutil

import pytest
import torch

import sparsekit as sk
from sparsekit.app.cli import main
from sparsekit.runs.rerun import rerun_settings

QUICK = dict(dataset="digits", model="resnet20", width=0.25, epochs=2, max_batches=2, sparsity=0.9, seed=1,
             progress=False)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A default run that computes its mask, and a recipe run that trains that mask from its
    file, laid out as a study's runs/ folder, then moved (the recorded mask path is gone)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("made")
    runs = root / "runs"
    sk.train(mask="snip", out=str(runs / "snip-0.9-seed1-default"), **QUICK)
    sk.train(mask="snip", mask_file=str(runs / "snip-0.9-seed1-default" / "mask.pt"),
             out=str(runs / "snip-0.9-seed1-ls"), recipe=sk.Recipe().with_changes(label_smoothing=0.1), **QUICK)
    moved = tmp_path_factory.mktemp("moved") / "study"
    shutil.move(str(root), str(moved))
    return moved


def numbers(record):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in record["epochs"]], record["best_val_test_acc"]


@pytest.mark.parametrize("run", ["snip-0.9-seed1-default", "snip-0.9-seed1-ls"])
def test_rerun_gives_the_recorded_numbers(study, run, tmp_path, capsys):
    torch.set_num_threads(2)  # the rerun takes the record's thread count (1), then puts this back
    recorded = json.loads((study / "runs" / run / "record.json").read_text())
    assert main(["rerun", str(study / "runs" / run / "record.json"), "--out", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "record.json").read_text())
    assert numbers(again) == numbers(recorded)
    assert again["environment"]["torch_threads"] == 1 and torch.get_num_threads() == 2
    assert again["recipe"] == recorded["recipe"]
    printed = capsys.readouterr().out
    assert "identical to the record" in printed and "best_val_test_acc" in printed
    torch.set_num_threads(1)


def test_the_mask_file_is_found_beside_a_moved_study(study):
    path = study / "runs" / "snip-0.9-seed1-ls" / "record.json"
    record = json.loads(path.read_text())
    assert not (study.parent / "nowhere").exists() and not __import__("os").path.exists(record["config"]["mask_file"])
    config, recipe = rerun_settings(record, path, out=None)
    assert config.mask_file == str(study / "runs" / "snip-0.9-seed1-default" / "mask.pt")
    assert recipe.label_smoothing == 0.1


def test_a_record_of_an_earlier_version_gives_the_same_settings(study):
    path = study / "runs" / "snip-0.9-seed1-ls" / "record.json"
    record = json.loads(path.read_text())
    old = dict(record, config={("schedule" if k == "lr_schedule" else k): v for k, v in record["config"].items()},
               recipe={k: v for k, v in record["recipe"].items() if k not in ("init_variant", "init_order")})
    old["recipe"]["init_masked"] = False
    assert rerun_settings(old, path, out=None) == rerun_settings(record, path, out=None)


def test_records_it_cannot_rerun_are_one_error_line(study, tmp_path, capsys):
    source = study / "runs" / "snip-0.9-seed1-ls" / "record.json"
    record = json.loads(source.read_text())
    cases = {"unfinished": dict(record, finished=False), "not-a-record": {"hello": 1},
             "mask-gone": dict(record, config=dict(record["config"], mask_file="/nowhere/x/mask.pt"),
                               mask_source={"method": "file", "path": "/nowhere/x/mask.pt"})}
    expected = {"unfinished": "did not finish", "not-a-record": "not a sparsekit run record",
                "mask-gone": "cannot rerun it"}
    for name, content in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "record.json").write_text(json.dumps(content))
        assert main(["rerun", str(folder / "record.json"), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and expected[name] in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()
