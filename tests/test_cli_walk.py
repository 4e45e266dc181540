"""Every option of every command line, one bad value each: the promise holds everywhere.

The commands and their options are read from the parsers themselves (`sparsekit`'s and the
notebook runner's), so an option added later is walked without editing this file. Each bad
value comes from the option's kind: a number out of every range (-3, nan), a choice that is not
one, a value given to a switch, and for text a path under a regular file (wrong as a path, and
as a name: no dataset, model or method is called that). The promise: exit status 2, one line on
stderr starting with `error:`, no traceback, and nothing written or removed anywhere (the
working directory, the output paths, the inputs).
"""
import argparse
import os

import pytest

import sparsekit as sk
from helpers import QUICK_CLI
from sparsekit.app import notebook_runner
from sparsekit.app.cli import build_parser, main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(dataset="digits", model="resnet20", width=0.25, epochs=1, max_batches=1, progress=False, seed=0)
SWEEP_SPEC = '[grid]\nseed = [0]\n[fixed]\ndataset = "digits"\nwidth = 0.25\nepochs = 1\nmax_batches = 1\n'


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A finished run, a folder of runs, a sweep file, a regular file to put paths under."""
    root = tmp_path_factory.mktemp("walk")
    sk.train(**TINY, out=str(root / "runs" / "run"))
    (root / "sweep.toml").write_text(SWEEP_SPEC)
    (root / "a-file").write_text("not a folder\n")
    (root / "cwd").mkdir()
    return root


def bases(root):
    """command -> the arguments of a good call (a bad option is added to these)."""
    out = str(root / "out")
    return {
        "train": [*QUICK_CLI, "--out", f"{out}/train"],
        "list": [],
        "demo": ["--out", f"{out}/demo", "--epochs", "1", "--no-progress"],
        "mask": ["--width", "0.25", "--out", f"{out}/mask.pt"],
        "export": [str(root / "runs" / "run"), "--out", f"{out}/net.skx"],
        "sweep": [str(root / "sweep.toml"), "--out", f"{out}/sweep", "--backend", "inline", "--no-progress"],
        "report": [str(root / "runs"), "--out", f"{out}/report"],
        "rerun": [str(root / "runs" / "run" / "record.json"), "--out", f"{out}/rerun", "--no-progress"],
        "notebooks": ["--notebooks", os.path.join(REPO, "notebooks"), "--only", "01", "--out", f"{out}/notebooks"],
    }


def bad_values(action: argparse.Action, under_a_file: str):
    """(flag or None for a positional, the bad value or None for a switch given a value)."""
    if not action.option_strings:
        return None, under_a_file
    flag = action.option_strings[0]
    if action.nargs == 0:  # a switch: giving it a value is the one way to get it wrong
        return flag, None
    if action.choices is not None:
        return flag, "no-such-choice"
    if action.type is int:
        return flag, "-3"
    if action.type is float:
        return flag, "nan"
    return flag, under_a_file


def options(parser: argparse.ArgumentParser):
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


def subcommands():
    """command -> its parser; `notebooks` passes its arguments whole to the runner's own parser."""
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    return {name: notebook_runner.build_parser() if name == "notebooks" else parser
            for name, parser in commands.items()}


def name_of(action: argparse.Action) -> str:
    return action.option_strings[0] if action.option_strings else action.dest


def walk():
    """(command, option) for every option of every command, and an option no command has."""
    return [(command, name_of(action)) for command, parser in subcommands().items() for action in options(parser)] + \
        [(command, "--no-such-option") for command in subcommands()]


def argv_for(command: str, option: str, root) -> list:
    under_a_file = str(root / "a-file" / "x")
    base = bases(root)[command]
    if option == "--no-such-option":
        return [command, *base, "--no-such-option"]
    action = next(a for a in options(subcommands()[command]) if name_of(a) == option)
    flag, value = bad_values(action, under_a_file)
    if flag is None:  # a positional: it replaces the base's first argument
        return [command, value, *base[1:]]
    return [command, *base, f"{flag}=x" if value is None else flag, *([] if value is None else [value])]


def tree(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*"))


def test_the_walk_covers_every_command_and_option():
    walked = walk()
    assert {command for command, _ in walked} == set(subcommands()) and len(set(walked)) == len(walked)
    assert ("train", "--lr") in walked and ("notebooks", "--param") in walked  # the runner's options too


@pytest.mark.parametrize("command,option", walk())
def test_one_bad_value_per_option_is_one_error_line_and_nothing_written(world, capsys, monkeypatch, command, option):
    monkeypatch.chdir(world / "cwd")
    argv = argv_for(command, option, world)
    before = tree(world)
    status = main(argv)
    captured = capsys.readouterr()
    assert status == 2, (argv, captured.err)
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, (argv, captured.err)
    assert "Traceback" not in captured.err and captured.out == "", (argv, captured.out)  # refused, not started
    assert tree(world) == before, argv
