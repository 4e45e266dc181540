"""The command line: a real run, and one `error:` line with exit status 2 for bad input."""
import json
import subprocess
import sys

import pytest
import torch

from helpers import QUICK_CLI
from sparsekit.app.cli import main

QUICK = QUICK_CLI


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "sparsekit", *args], capture_output=True, text=True, timeout=300)


def test_train_writes_record_and_prints_summary(tmp_path):
    done = run_cli("train", "--dataset", "digits", "--model", "resnet20", "--mask", "random",
                   "--sparsity", "0.9", "--seed", "0", "--out", str(tmp_path), *QUICK)
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["config"]["sparsity"] == 0.9 and record["density"] == pytest.approx(0.1, abs=1e-6)
    assert "test acc at best validation epoch" in done.stdout


@pytest.mark.parametrize("args,expected", [
    (["train", "--sparsity", "1.0"], "sparsity must be in [0, 1)"),
    (["train", "--sparsity", "-0.5"], "sparsity must be in [0, 1)"),
    (["train", "--dataset", "mnist"], "unknown dataset 'mnist'; choose one of: cifar10, cifar100, digits"),
    (["train", "--model", "resnet7"], "unknown model 'resnet7'; choose one of:"),
    (["train", "--mask", "psychic"], "unknown mask method 'psychic'; choose one of:"),
    (["train", "--dataset", "cifar10", "--data-root", "/nonexistent/dir"], "pass download=True (CLI: --download)"),
    (["train", "--epochs", "0"], "epochs must be a whole number >= 1, got 0"),
    (["train", "--sparsity", "lots"], "invalid float value"),
    (["train", "--resume"], "resume needs the run's directory"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_error_line_and_status_2(capsys, args, expected):
    assert main(args[:1] + QUICK + args[1:] if args[0] == "train" else args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert expected in err
    assert "Traceback" not in err


def test_mask_that_does_not_fit_the_model(tmp_path, capsys):
    torch.save({"conv.weight": torch.ones(3, 3)}, tmp_path / "other.pt")
    out = tmp_path / "run"
    assert main(["train", "--mask-file", str(tmp_path / "other.pt"), "--out", str(out), *QUICK]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "lacks weight" in err
    assert not out.exists()  # nothing half-written


def test_corrupted_checkpoint_on_resume(tmp_path, capsys):
    (tmp_path / "checkpoint.pt").write_bytes(b"\x00garbage")
    assert main(["train", "--resume", "--out", str(tmp_path), *QUICK]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "corrupted checkpoint" in err and err.count("\n") == 1


def test_every_subcommand_has_help(capsys):
    done = run_cli("--help")  # the installed entry point, once; each subcommand in this process
    assert done.returncode == 0 and "usage:" in done.stdout
    for command in (["train", "--help"], ["list", "--help"], ["demo", "--help"], ["rerun", "--help"],
                    ["report", "--help"], ["mask", "--help"], ["export", "--help"], ["sweep", "--help"],
                    ["notebooks", "--help"]):
        with pytest.raises(SystemExit) as stopped:
            main(command)
        assert stopped.value.code == 0 and "usage:" in capsys.readouterr().out, command


def test_list_names_everything():
    done = run_cli("list")
    assert done.returncode == 0
    assert "digits" in done.stdout and "resnet20" in done.stdout and "random" in done.stdout


def test_a_reader_that_stops_reading_gets_no_traceback():
    """`sparsekit list | head -1`: the pipe closes before the command has written; it stops
    quietly with the status a shell gives a command ended by SIGPIPE."""
    from sparsekit.app.cli import READER_GONE

    proc = subprocess.Popen([sys.executable, "-m", "sparsekit", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # long before the interpreter has imported torch and printed
    stderr = proc.stderr.read()
    assert proc.wait(timeout=300) == READER_GONE, stderr
    assert stderr == ""
