"""Faults survived: the output folder is checked and locked, a failed start leaves the disk as it
was, a full disk or a divergence is one error line with the last good checkpoint kept, and
every file is safe to share (weights-only loadable, written with the umask's mode)."""
import errno
import json
import os
import subprocess
import sys

import pytest
import torch

import sparsekit as sk
from helpers import QUICK_CLI, Interrupt
from sparsekit.core import atomic
from sparsekit.app.cli import main

TINY = dict(dataset="digits", model="resnet20", width=0.25, epochs=2, max_batches=1, progress=False, batch_size=64,
            sparsity=0.9)


def names(folder):
    return sorted(p.name for p in folder.iterdir())


# ---- the output location -------------------------------------------------------------
def test_out_that_is_a_file(tmp_path, capsys):
    (tmp_path / "taken").write_text("mine")
    assert main(["train", *QUICK_CLI, "--out", str(tmp_path / "taken")]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main(["train", *QUICK_CLI, "--out", str(tmp_path / "taken" / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "under a file" in err
    assert (tmp_path / "taken").read_text() == "mine"


def test_folder_with_foreign_files_is_not_a_run(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"someone else's model")
    with pytest.raises(sk.SparsekitError, match="not a sparsekit run"):
        sk.train(**TINY, out=str(tmp_path), overwrite=True)
    assert names(tmp_path) == ["model.pt"] and (tmp_path / "model.pt").read_bytes() == b"someone else's model"


def test_unwritable_out(tmp_path, monkeypatch):
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(tmp_path) else real_access(p, mode))
    with pytest.raises(sk.SparsekitError, match="cannot write"):
        sk.train(**TINY, out=str(tmp_path / "run"))
    assert names(tmp_path) == []


# ---- failure leaves the disk as it was --------------------------------------------------
def test_failed_start_removes_what_it_created(tmp_path):
    class Boom(sk.Callback):
        def on_run_start(self, state):
            raise sk.SparsekitError("refused late")

    with pytest.raises(sk.SparsekitError, match="refused late"):
        sk.train(**TINY, out=str(tmp_path / "run"), callbacks=[Boom()])
    assert not (tmp_path / "run").exists()


def test_lottery_state_is_not_left_by_a_refused_start(tmp_path):
    with pytest.raises(sk.SparsekitError):
        sk.train(**TINY, mask="lottery", mask_options="round_epochs=1", optimizer="adam", nesterov=True,
                 out=str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_overwrite_removes_the_previous_runs_files_first(tmp_path):
    sk.train(**TINY, out=str(tmp_path))
    assert "model.pt" in names(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        sk.train(**TINY, out=str(tmp_path), overwrite=True, callbacks=[Interrupt(1)])
    assert "model.pt" not in names(tmp_path)
    assert json.loads((tmp_path / "record.json").read_text())["finished"] is False


def test_partial_temporary_files_are_cleaned_on_the_next_run(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        sk.train(**TINY, out=str(tmp_path), callbacks=[Interrupt(1)])
    (tmp_path / ".checkpoint.pt.a1b2c3.tmp").write_bytes(b"half a checkpoint")
    sk.train(**TINY, out=str(tmp_path), resume=True)
    assert not [n for n in names(tmp_path) if n.endswith(".tmp")]


def test_refused_download_leaves_no_empty_folder(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    def offline(url, folder, **kwargs):
        os.makedirs(folder, exist_ok=True)
        raise OSError("network unreachable")

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", offline)
    with pytest.raises(sk.SparsekitError, match="could not download"):
        sk.data.load("cifar10", root=str(tmp_path / "data"), download=True)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("code,after", [(errno.ENOSPC, 1), (errno.EACCES, 2)])
def test_disk_full_or_permission_lost_mid_run(tmp_path, monkeypatch, capsys, code, after):
    """The writes of epoch 1 succeed; the next write fails as a full disk (or a lost permission)
    would: one error line, and epoch 1's checkpoint and record are intact."""
    real_fsync, calls = os.fsync, []

    def failing_fsync(fd):
        calls.append(fd)
        if len(calls) > 2 + after:  # checkpoint + record of epoch 1, then the disk is full
            raise OSError(code, os.strerror(code))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    out = tmp_path / "run"
    assert main(["train", *QUICK_CLI, "--epochs", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write") and err.count("\n") == 1, err
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] >= 1
    assert json.loads((out / "record.json").read_text())["finished"] is False
    assert not [n for n in names(out) if n.endswith(".tmp")]


# ---- one writer per run directory -------------------------------------------------------
def test_second_writer_is_refused_while_the_first_is_alive(tmp_path):
    class SecondWriter(sk.Callback):
        error = None

        def on_epoch_end(self, state):
            try:
                sk.train(**TINY, out=str(tmp_path), overwrite=True)
            except sk.SparsekitError as exc:
                SecondWriter.error = str(exc)

    sk.train(**TINY, out=str(tmp_path), callbacks=[SecondWriter()])
    assert "is in use by another run" in SecondWriter.error and str(os.getpid()) in SecondWriter.error
    assert json.loads((tmp_path / "record.json").read_text())["finished"] is True
    assert ".lock" not in "".join(names(tmp_path))  # released when the run ends


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".sparsekit.lock").write_text(f"{dead.pid}\n")
    sk.train(**TINY, out=str(tmp_path))
    assert "record.json" in names(tmp_path) and ".sparsekit.lock" not in names(tmp_path)


def test_a_run_killed_before_its_first_checkpoint_is_a_run_not_a_stranger(tmp_path):
    # A SIGKILL leaves the lock of a dead process beside the run files it had written: here mask.pt,
    # which versions before dynamic masks wrote before training (it is now the final mask).
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".sparsekit.lock").write_text(f"{dead.pid}\n")
    (tmp_path / "mask.pt").write_bytes(b"left by a killed run")
    with pytest.raises(sk.SparsekitError, match="already holds a run"):
        sk.train(**TINY, out=str(tmp_path))
    sk.train(**TINY, out=str(tmp_path), overwrite=True)
    assert json.loads((tmp_path / "record.json").read_text())["finished"] is True
    (tmp_path / "stranger.txt").write_text("mine")
    with pytest.raises(sk.SparsekitError, match="not a sparsekit run"):  # a user's file still stops it
        sk.train(**TINY, out=str(tmp_path), overwrite=True)


def test_live_lock_from_another_process(tmp_path, capsys):
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".sparsekit.lock").write_text(f"{alive.pid}\n")
        assert main(["train", *QUICK_CLI, "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"in use by another run (process {alive.pid})" in err
        assert names(tmp_path) == [".sparsekit.lock"]
    finally:
        alive.kill()
        alive.wait()


# ---- divergence --------------------------------------------------------------------------
def test_divergence_stops_the_run_and_marks_the_record(tmp_path, capsys):
    class Explode(sk.Callback):
        def on_epoch_start(self, state):
            if state.epoch == 1:  # as epoch 2 starts: scale every weight to infinity
                with torch.no_grad():
                    for p in state.model.parameters():
                        p.mul_(float("inf"))

    out = tmp_path / "run"
    with pytest.raises(sk.SparsekitError, match=r"diverged.*step 3 \(epoch 2\)"):
        sk.train(**{**TINY, "epochs": 3, "max_batches": 2}, out=str(out), callbacks=[Explode()])
    record = json.loads((out / "record.json").read_text())
    assert record["finished"] is False and record["diverged"]["step"] == 3 and record["diverged"]["epoch"] == 2
    assert len(record["epochs"]) == 1
    good = torch.load(out / "checkpoint.pt", weights_only=True)
    assert good["epoch"] == 1 and all(torch.isfinite(v).all() for v in good["model"].values() if v.is_floating_point())


def test_huge_learning_rate_exits_non_zero(tmp_path, capsys):
    assert main(["train", *QUICK_CLI, "--lr", "1e30", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: training diverged") and "step" in err and err.count("\n") == 1


def test_divergence_found_at_the_epoch_end_on_a_gpu_names_the_first_bad_step():
    """The GPU path (no per-step host read) exercised on the CPU: the first bad step is kept."""
    from types import SimpleNamespace

    from sparsekit.training.divergence import Diverged, DivergenceWatch

    watch = DivergenceWatch(torch.device("cpu"))
    watch.every_step = False
    state = SimpleNamespace(steps_per_epoch=4, lr=0.1, epoch=1)
    for step, loss in enumerate([1.0, 2.0, float("nan"), float("inf")], start=5):
        watch.observe(torch.tensor(loss), step, state)
    with pytest.raises(Diverged, match=r"loss became nan at step 7 \(epoch 2\)"):
        watch.check(state)


# ---- safe to share ---------------------------------------------------------------------
def test_files_are_weights_only_and_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        sk.train(**{**TINY, "sparsity": 0.3}, mask="lottery", mask_options="round_epochs=1", out=str(tmp_path))
    finally:
        os.umask(old)
    for path in [tmp_path / "checkpoint.pt", tmp_path / "mask.pt", tmp_path / "model.pt",
                 tmp_path / "lottery" / "state.pt"]:
        torch.load(path, weights_only=True)
        assert (path.stat().st_mode & 0o777) == 0o644, path
    assert ((tmp_path / "record.json").stat().st_mode & 0o777) == 0o644


def test_checkpoint_is_read_weights_only(tmp_path, monkeypatch):
    with pytest.raises(KeyboardInterrupt):
        sk.train(**TINY, out=str(tmp_path), callbacks=[Interrupt(1)])
    seen = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: seen.append(k.get("weights_only")) or real_load(*a, **k))
    sk.train(**TINY, out=str(tmp_path), resume=True)
    assert seen and all(flag is True for flag in seen)


def test_no_recipe_and_default_recipe_are_the_same_run(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        sk.train(**TINY, out=str(tmp_path), callbacks=[Interrupt(1)])
    assert main(["train", *QUICK_CLI, "--epochs", "2", "--max-batches", "1", "--sparsity", "0.9", "--batch-size", "64",
                 "--resume", "--out", str(tmp_path), "--recipe", "default"]) == 0
    assert json.loads((tmp_path / "record.json").read_text())["finished"] is True


def test_mask_load_of_a_non_path():
    with pytest.raises(sk.SparsekitError, match="must be a path"):
        sk.Mask.load(3)


def test_atomic_write_failure_removes_the_temporary(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left")))
    with pytest.raises(sk.SparsekitError, match="No space left"):
        atomic.write_json({"a": 1}, tmp_path / "x.json")
    assert names(tmp_path) == []
