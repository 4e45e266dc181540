"""Every file an earlier sparsekit wrote still loads: one small fixture per earlier format.

tests/fixtures/formats/<commit>/ holds what the sparsekit of that commit wrote (README.md there
says how, and which format each commit introduced). The identifiers are constants
(`sparsekit.core.formats`); a file of a format this sparsekit does not know is one line naming
the format found and the ones it reads.
"""
import json
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

import sparsekit as sk
from sparsekit.core import formats
from sparsekit.export import runtime
from sparsekit.export.run_dir import read_record
from sparsekit.runs import lottery
from sparsekit.training import checkpoint
from sparsekit.training.config import TrainConfig

FIXTURES = Path(__file__).parent / "fixtures" / "formats"
REPO = Path(__file__).resolve().parents[1]
RUN_COMMITS = ["32a6a8e", "a29685a", "3275be9", "b83d5e8", "69bc343", "4b86472"]
LOTTERY_COMMITS = RUN_COMMITS[1:]  # the lottery ticket came after the first commit
EXPORT_COMMITS = ["59e0535", "4b86472"]


def tiny():
    """The fixtures' network (tests/fixtures/formats/write_run.py builds the same one)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 10))


def identifier(path: Path):
    data = json.loads(path.read_text()) if path.suffix == ".json" else torch.load(path, weights_only=False)
    return data.get("format")


def test_every_identifier_read_has_a_fixture_written_by_a_sparsekit(tmp_path):
    found = {identifier(path) for path in FIXTURES.rglob("*") if path.suffix in (".pt", ".json", ".skx")}
    readable = {name for kind, names in formats.READS.items() if kind != "notebook result" for name in names}
    assert readable == found  # a new identifier needs its fixture; a fixture's identifier stays readable
    # What today's writers write is in a fixture (a rename of module paths cannot change it unseen).
    sk.Mask({"w": torch.ones(2, dtype=torch.bool)}).save(tmp_path / "mask.pt")
    from study.addendum_answer import ADDENDUM_ANSWER_FORMAT
    from study.answer import ANSWER_FORMAT  # the study's writers, outside the package

    today = {identifier(tmp_path / "mask.pt"), checkpoint.FORMAT, sk.training.record.FORMAT, lottery.STATE_FORMAT,
             runtime.FILE_FORMAT, ANSWER_FORMAT, ADDENDUM_ANSWER_FORMAT}
    assert today <= found
    assert runtime.FILE_FORMAT == formats.EXPORTED and runtime.READS == formats.READS["exported network"]


@pytest.mark.parametrize("commit", RUN_COMMITS)
def test_mask_files_of_every_version_load(commit):
    path = FIXTURES / commit / "mask.pt"
    mask = sk.Mask.load(path)
    config = TrainConfig.from_record(json.loads((FIXTURES / commit / "record.json").read_text())["config"])
    # The first versions pruned the classifier too; random at 0.5 keeps half of the weights.
    assert list(mask) == ["0.weight", "4.weight"][:2 if config.prune_classifier else 1]
    assert mask.num_kept() == mask.num_total() // 2
    assert sk.Mask.from_file(path, tiny(), config.prune_first_layer, config.prune_classifier).same_as(mask)


@pytest.mark.parametrize("commit", RUN_COMMITS)
def test_checkpoints_of_every_version_load(commit, tmp_path):
    saved = checkpoint.load(FIXTURES / commit)
    assert saved["epoch"] == 1 and saved["step"] == 1
    checkpoint.restore_rng(saved["rng"])  # the older numpy / Python state tuples too
    assert TrainConfig.from_record(saved["config"]).max_batches == 1
    # A checkpoint's zeros are a mask: the one the run trained with.
    config = TrainConfig.from_record(saved["config"])
    from_zeros = sk.Mask.from_file(FIXTURES / commit / "checkpoint.pt", tiny(), config.prune_first_layer,
                                   config.prune_classifier)
    assert from_zeros.same_as(sk.Mask.load(FIXTURES / commit / "mask.pt"))
    # Resuming reads all of it (weights, optimizer, callbacks, generators): the run is complete.
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / commit, run, ignore=shutil.ignore_patterns("lottery_state.pt", "*.skx"))
    resumed = sk.train(config.with_changes(out=str(run), resume=True, progress=False), model=tiny())
    assert resumed["finished"] and len(resumed["epochs"]) == 1 and resumed.mask.same_as(from_zeros)


@pytest.mark.parametrize("commit", RUN_COMMITS)
def test_records_of_every_version_load(commit, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(FIXTURES / commit / "record.json", run)
    (run / "model.pt").touch()  # read_record asks for a final model beside a finished record
    record = read_record(run)
    config = TrainConfig.from_record(record["config"])
    assert record["finished"] and config.epochs == 1 and config.lr_schedule == "cosine"  # once "schedule"
    table = sk.results.load(tmp_path)
    assert list(table["status"]) == ["finished"] and list(table["mask"]) == ["random"]


@pytest.mark.parametrize("commit", LOTTERY_COMMITS)
def test_lottery_state_of_every_version_is_reused(commit, tmp_path):
    """A lottery ticket interrupted after its rounds continues from the saved state: with a
    state that says every round is done, no round trains again."""
    out = tmp_path / "run"
    (out / "lottery").mkdir(parents=True)
    shutil.copy(FIXTURES / commit / "lottery_state.pt", out / "lottery" / "state.pt")
    stored = torch.load(out / "lottery" / "state.pt", weights_only=True)
    saved = stored["state"]
    assert saved["rounds_done"] == 1
    # The first versions pruned the classifier (weight 4) by default: the same run asks for it.
    prune_classifier = len(stored["fingerprint"]["weights"]) == 2
    record = sk.train(model=tiny(), mask="lottery", sparsity=0.2, mask_options={"round_epochs": 1}, out=str(out),
                      dataset="digits", epochs=1, max_batches=1, seed=0, progress=False,
                      prune_classifier=prune_classifier)
    assert not (out / "lottery" / "round_1").exists()  # reused, not retrained
    assert record.mask.same_as(sk.Mask(saved["mask"]))


@pytest.mark.parametrize("commit", EXPORT_COMMITS)
def test_exported_networks_of_every_version_load_and_run(commit):
    net = sk.load_exported(FIXTURES / commit / "exported.skx")
    logits = net(torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0)))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    # The earlier file's additions have their own layout (what its runtime computed: checked
    # against that runtime when the fixture was written, see README.md).
    layouts = {type(step).__name__ for step in net.steps} & {"Add", "PlacedAdd"}
    assert layouts == ({"PlacedAdd"} if commit == "59e0535" else {"Add"})


def test_study_answer_files_of_every_version_load(tmp_path, capsys):
    from sparsekit.course import converged_answer
    from sparsekit.report.study_evidence import read_answer, study_evidence

    for path in FIXTURES.glob("*/answer.json"):
        answer = read_answer(path)
        assert answer["cells"] and answer["pooled"] and answer["sentence"].startswith("Pooled over masks")
        # what a notebook shows is read from such a file beside the report's rows
        shutil.copy(path, tmp_path / "answer.json")
        shutil.copy(REPO / "benchmarks" / "results" / "study-converged" / "rows.json", tmp_path / "rows.json")
        assert "Holm-corrected" in study_evidence(tmp_path, ["tost"])
    (tmp_path / "answer.json").write_text(json.dumps({"format": "sparsekit-study-answer/0", "cells": []}))
    with pytest.raises(sk.SparsekitError, match="not a sparsekit study answer file: .*sparsekit-study-answer/1"):
        read_answer(tmp_path / "answer.json")
    assert converged_answer()["format"] == "sparsekit-study-answer/1"  # the committed study's, for the course


def test_the_fashion_mnist_studys_masks_load():
    # A lottery ticket's pruning rounds (git-ignored, left on disk where the study ran) begin
    # from the dense round, whose mask keeps everything; the masks runs trained from are sparse.
    paths = sorted(
        path
        for path in (REPO / "benchmarks" / "results").rglob("mask.pt")
        if not path.parent.name.startswith("round_")
    )
    assert len(paths) >= 50
    for path in paths:
        assert 0 < sk.Mask.load(path).density() < 1


def _unknown(tmp_path, name, content):
    path = tmp_path / name
    if name.endswith(".json"):
        path.write_text(json.dumps(content))
    else:
        torch.save(content, path)
    return path


def test_a_mask_of_an_unknown_format_is_one_line_naming_both(tmp_path):
    path = _unknown(tmp_path, "mask.pt", {"format": "sparsekit.mask/7", "mask": {"0.weight": torch.ones(4, 1, 3, 3)}})
    for load in (lambda: sk.Mask.load(path), lambda: sk.Mask.from_file(path, tiny())):
        with pytest.raises(sk.SparsekitError) as caught:
            load()
        message = str(caught.value)
        assert "\n" not in message and "'sparsekit.mask/7'" in message
        assert all(name in message for name in formats.READS["mask"])


def test_other_files_of_an_unknown_format_are_one_line_naming_both(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    _unknown(run, "checkpoint.pt", {"format": "sparsekit.checkpoint/9"})
    with pytest.raises(sk.SparsekitError, match=r"'sparsekit.checkpoint/9'.*reads checkpoint formats "
                                                r"sparsekit.checkpoint/1"):
        checkpoint.load(run)
    _unknown(run, "record.json", {"format": "sparsekit.record/9", "config": {}, "finished": True})
    (run / "model.pt").touch()
    with pytest.raises(sk.SparsekitError, match=r"'sparsekit.record/9'.*sparsekit.record/1"):
        read_record(run)
    skx = _unknown(tmp_path, "net.skx", {"format": "sparsekit.exported/9"})
    with pytest.raises(sk.SparsekitError, match=r"'sparsekit.exported/9'.*sparsekit.exported/1"):
        sk.load_exported(skx)
    out = tmp_path / "lottery-run"
    (out / "lottery").mkdir(parents=True)
    _unknown(out / "lottery", "state.pt", {"format": "sparsekit.lottery/9"})
    with pytest.raises(sk.SparsekitError, match=r"'sparsekit.lottery/9'.*sparsekit.lottery/1"):
        sk.train(model=tiny(), mask="lottery", sparsity=0.2, mask_options={"round_epochs": 1}, out=str(out),
                 dataset="digits", epochs=1, max_batches=1, progress=False)


def test_study_addendum_answer_files_of_every_version_load(tmp_path):
    from sparsekit.report.addendum_answer import find_addendum_answer, load_addendum_answer

    paths = sorted(FIXTURES.glob("*/study-addendum-answer.json"))
    assert paths
    for path in paths:
        answer = load_addendum_answer(path)
        assert answer.items and answer.planned_after_cuts >= answer.finished > 0
        assert answer.progress_line().startswith("The study's addendum") and answer.cells_line()
        shutil.copy(path, tmp_path / "answer.json")
        assert find_addendum_answer(tmp_path).cells == answer.cells
