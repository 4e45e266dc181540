"""Sweeps: a grid checked before anything runs, and a real Ray sweep in which one run was
killed mid-way, one fails, and a rerun completes only what is missing."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

import sparsekit as sk
from sparsekit.app.cli import main
from sparsekit.app.sweeps import expand

TINY = dict(dataset="digits", width=0.25, epochs=2, max_batches=2, batch_size=64)

# Trains one run like the sweep's point seed=1, and kills its own process (SIGKILL: no clean-up
# at all) as epoch 2 starts, after the checkpoint of epoch 1.
KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    import sparsekit as sk

    class Kill(sk.Callback):
        def on_epoch_start(self, state):
            if state.epoch == 1:
                os.kill(os.getpid(), signal.SIGKILL)

    sk.train(out=sys.argv[1], seed=1, progress=False, callbacks=[Kill()], **{TINY!r})
""").replace("{TINY!r}", repr(TINY))


def test_grid_crosses_values_into_named_points():
    points = expand({"mask": ["random", "snip"], "sparsity": [0.9, 0.98], "recipe": ["default", "tost"]},
                    {"epochs": 1, "label-smoothing": 0.1}, name="{mask}-{sparsity:g}-{recipe}")
    assert len(points) == 8 and points[0].name == "random-0.9-default"
    assert points[0].settings == {"epochs": 1, "mask": "random", "sparsity": 0.9}
    assert points[0].recipe["label_smoothing"] == 0.1 and points[-1].recipe["ghost_skip"]
    assert expand({"seed": [0, 1]})[1].name == "seed=1"


def test_a_point_is_checked_by_the_rules_train_applies():
    """The sweep checks a point's mask plan with `train`'s own check, so it accepts what a run
    accepts (GMP timing options beside a score method) and refuses what a run refuses."""
    gmp = expand([{"mask": "magnitude", "schedule": "gmp", "mask_options": "start_at=0.2, end_at=0.6"}])
    assert gmp[0].settings["schedule"] == "gmp"
    with pytest.raises(sk.SparsekitError, match="pattern 2:4 is kept by one-shot masks only"):
        expand([{"mask": "rigl", "pattern": "2:4", "sparsity": 0.5}])


@pytest.mark.parametrize("spec,expected", [
    ("[grid]\nmask = [\"snip\"\n", "is not valid TOML"),
    ("[grid]\nmask = \"snip\"\n", "'mask' must be a list of values"),
    ("[grid]\nsparsty = [0.9]\n", "unknown setting 'sparsty'"),
    ("[grid]\nsparsity = [1.5]\n", "sparsity must be in [0, 1)"),
    ("[grid]\nseed = [0]\n[fixed]\nout = \"x\"\n", "'out' is set by the sweep itself"),
    ("[grid]\nseed = [0]\n[fixed]\nseed = 1\n", "both in the grid and fixed"),
    ("[grdi]\nseed = [0]\n", "unknown table or key 'grdi'"),
    ("[grid]\nmask = [\"snip\"]\nmask-options = [\"bogus=1\"]\n", "has no option 'bogus'"),
])
def test_bad_spec_is_one_error_line_and_nothing_written(tmp_path, capsys, spec, expected):
    (tmp_path / "spec.toml").write_text(spec)
    assert main(["sweep", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_ray_sweep_resumes_a_killed_run_keeps_a_failure_and_reruns_only_what_is_missing(tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "runs"
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, str(out / "dataset=digits,seed=1")], timeout=300)
    assert killed.returncode == -signal.SIGKILL
    assert (out / "dataset=digits,seed=1" / "checkpoint.pt").is_file()
    assert not json.loads((out / "dataset=digits,seed=1" / "record.json").read_text())["finished"]
    # A CIFAR-10 point with no data: it fails when it loads its data, and must not stop the others.
    points = [{"seed": 0}, {"seed": 1}, {"seed": 2}, {"seed": 0, "dataset": "cifar10", "model": "vgg16",
                                                     "data_root": str(tmp_path / "no-data")}]
    fixed = {k: v for k, v in TINY.items() if k != "dataset"}
    grid = [{"dataset": "digits", **p} if "dataset" not in p else p for p in points]
    first = sk.sweep(grid, fixed, out, backend="ray", workers=2, progress=False)
    status = {o["name"]: o["status"] for o in first.outcomes}
    assert status["dataset=digits,seed=1"] == "resumed", status
    assert sorted(status.values()) == ["failed", "resumed", "trained", "trained"]
    failed = first.failures[0]
    assert "cifar" in failed["name"] and "download" in failed["error"]
    assert "Traceback" in (out / failed["name"] / "error.txt").read_text()
    assert "FAILED" in first.summary()
    for name in status:
        if name != failed["name"]:
            record = json.loads((out / name / "record.json").read_text())
            assert record["finished"] and len(record["epochs"]) == 2 and record["sweep"]["name"] == name
    again = sk.sweep(grid, fixed, out, backend="inline", progress=False)
    assert sorted(o["status"] for o in again.outcomes) == ["failed", "skipped", "skipped", "skipped"]
    assert not [p for p in os.listdir(out) if p.startswith(".")]


def test_a_folder_holding_a_run_of_other_settings_is_refused_and_left_as_it_was(tmp_path):
    out = tmp_path / "runs"
    first = sk.sweep([{"seed": 0}], TINY, out, backend="inline", progress=False)
    assert [o["status"] for o in first.outcomes] == ["trained"]
    folder = out / "seed=0"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    other = sk.sweep([{"seed": 0}], dict(TINY, lr=0.05), out, backend="inline", progress=False)
    assert [o["status"] for o in other.outcomes] == ["failed"]
    assert "other settings" in other.failures[0]["error"]
    # nothing was written, so the summary points at no traceback file
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert "traceback:" not in other.summary()


# ---- the sweep file's axes: seeds and [recipes], as `sk.sweep`'s seeds= and recipes= ----------
AXES_SPEC = """
[sweep]
name = "{mask}"
seeds = [0, 1]

[grid]
mask = ["snip"]

[recipes]
default = "default"
smoothed = { label_smoothing = 0.1 }

[fixed]
dataset = "digits"
width = 0.25
epochs = 1
max_batches = 1
"""


def _runs(out):
    """name -> what a run was asked to be: its settings (paths relative to `out`), recipe and labels."""
    runs = {}
    for record_file in sorted(out.glob("*/record.json")):
        record = json.loads(record_file.read_text())
        config = dict(record["config"], out=None)
        if config["mask_file"]:
            config["mask_file"] = os.path.relpath(config["mask_file"], out)
        runs[record_file.parent.name] = (config, record["recipe"], record["sweep"], record["mask_digest"])
    return runs


def test_a_sweep_file_with_seeds_and_recipes_runs_what_sk_sweep_runs(tmp_path, capsys):
    spec = tmp_path / "axes.toml"
    spec.write_text(AXES_SPEC)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "file"), "--dry-run"]) == 0
    listed = capsys.readouterr().out.splitlines()
    names = ["snip-seed0-default", "snip-seed0-smoothed", "snip-seed1-default", "snip-seed1-smoothed"]
    assert listed[0] == str(tmp_path / "file" / names[0])
    assert listed[1] == f"{tmp_path / 'file' / names[1]}  (trains the mask of {names[0]})"
    assert not (tmp_path / "file").exists()
    # The local backend (worker processes), as the file's default is.
    assert main(["sweep", str(spec), "--out", str(tmp_path / "file"), "--workers", "1", "--no-progress"]) == 0
    assert "4 runs" in capsys.readouterr().out
    fixed = dict(dataset="digits", width=0.25, epochs=1, max_batches=1)
    sk.sweep({"mask": ["snip"]}, fixed, tmp_path / "api", name="{mask}", seeds=[0, 1],
             recipes={"default": "default", "smoothed": {"label_smoothing": 0.1}}, backend="inline", progress=False)
    from_file, from_api = _runs(tmp_path / "file"), _runs(tmp_path / "api")
    assert list(from_file) == names
    # The same runs: names, settings, recipes and labels (the masks were computed by other threads: not compared).
    assert {name: run[:3] for name, run in from_file.items()} == {name: run[:3] for name, run in from_api.items()}
    for seed in (0, 1):  # each (point, seed): one mask, computed by its first recipe and trained by the other
        default, smoothed = from_file[f"snip-seed{seed}-default"], from_file[f"snip-seed{seed}-smoothed"]
        assert default[0]["mask_file"] is None and default[1]["label_smoothing"] == 0.0
        assert smoothed[0]["mask_file"] == f"snip-seed{seed}-default/mask.pt" and smoothed[1]["label_smoothing"] == 0.1
        assert smoothed[3] == default[3] and smoothed[2]["labels"] == {"mask": "snip", "seed": str(seed),
                                                                       "recipe": "smoothed"}


def test_an_interrupted_cli_sweep_prints_the_grids_one_line_and_continues(tmp_path, capsys, monkeypatch):
    from sparsekit.app.sweeps import progress as grid_progress

    def on_epoch_end(self, state):  # Ctrl-C as the second run ends its second epoch (after its first checkpoint)
        if self.name == "seed=1" and state.epoch == 2:
            raise KeyboardInterrupt
        self.progress.at(self.name, state.epoch)

    spec = tmp_path / "seeds.toml"
    spec.write_text("[grid]\nseed = [0, 1]\n[fixed]\n" + "".join(f"{k} = {v!r}\n" for k, v in TINY.items()))
    argv = ["sweep", str(spec), "--out", str(tmp_path / "runs"), "--backend", "inline", "--no-progress"]
    monkeypatch.setattr(grid_progress.EpochTicker, "on_epoch_end", on_epoch_end)
    assert main(argv) == 130
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"interrupted: 1 of 2 runs finished, kept in {tmp_path / 'runs'}; run `sparsekit sweep "
                            f"{spec}` with the same options again to continue (finished runs are skipped, an "
                            f"interrupted one resumes from its last checkpoint)\n")
    monkeypatch.undo()
    assert main(argv) == 0  # what the line promised
    assert ": 1 resumed, 1 skipped" in capsys.readouterr().out


def test_a_local_worker_stops_its_run_on_ctrl_c_and_ignores_it_while_idle(monkeypatch):
    """A terminal's Ctrl-C reaches every worker: a running run stops (KeyboardInterrupt, its
    folder keeps the last checkpoint), an idle worker stays quiet (no traceback of its own on
    stderr) and ends when the pool shuts down."""
    from sparsekit.app.sweeps import backends

    def interrupted_run(**task):
        assert task["threads"] == 1
        os.kill(os.getpid(), signal.SIGINT)  # delivered here, in the main thread
        pytest.fail("Ctrl-C did not stop the run")

    before = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(backends, "run_point", interrupted_run)
    try:
        backends._idle_ignores_ctrl_c()
        os.kill(os.getpid(), signal.SIGINT)  # idle: ignored
        with pytest.raises(KeyboardInterrupt):
            backends._run_in_worker({"name": "a", "threads": 1})
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # idle again
    finally:
        signal.signal(signal.SIGINT, before)


def test_the_interrupt_line_keeps_its_parts_through_pickle_and_says_why_nothing_continues():
    import pickle

    from sparsekit.app.sweeps import GridInterrupted

    kept = pickle.loads(pickle.dumps(GridInterrupted("1 of 2 runs finished", "runs/x")))
    assert isinstance(kept, KeyboardInterrupt) and kept.line() == str(kept)
    assert kept.line(again="run it again").startswith("interrupted: 1 of 2 runs finished, kept in runs/x; run it "
                                                       "again to continue")
    fresh = GridInterrupted("0 of 2 runs finished", None, "overwrite trains every run anew")
    assert str(fresh) == ("interrupted: 0 of 2 runs finished, none kept (overwrite trains every run anew); "
                          "run the cell again to restart")
