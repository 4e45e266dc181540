"""What a learner meets around the runs: the epoch table as CSV and the optional TensorBoard
log in a run, the thread count in the record, the resume hint, collapse advice that fits the
method, `summarize` as a table, one-line warnings, the measured verdicts, and Binder badges
that all agree with one setting."""
import csv
from pathlib import Path
import warnings

import pytest
import torch

import sparsekit as sk
from sparsekit.app import cli
from sparsekit.app import badges
from sparsekit.analysis.masks import collapse_advice
from sparsekit.core.errors import SparsekitError
from sparsekit.report.verdict import paired_verdict, verdict_against

SMALL = dict(dataset="digits", model="resnet20", width=0.25, sparsity=0.9, epochs=2, max_batches=2,
             progress=False, batch_size=64)


# ---- run directory: CSV, TensorBoard, threads ---------------------------------------------------------
def test_run_directory_holds_the_epoch_table_as_csv(tmp_path):
    record = sk.train(out=str(tmp_path / "run"), **SMALL)
    rows = list(csv.DictReader(open(tmp_path / "run" / "epochs.csv")))
    assert [int(row["epoch"]) for row in rows] == [1, 2]
    assert [float(row["test_acc"]) for row in rows] == [row["test_acc"] for row in record["epochs"]]
    assert record["environment"]["torch_threads"] == torch.get_num_threads()


def test_tensorboard_log_has_every_epoch(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    sk.train(tensorboard=str(tmp_path / "tb"), **SMALL)
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [event.step for event in events.Scalars("test_acc")] == [1, 2]
    assert {"train_loss", "val_acc", "lr"} <= set(events.Tags()["scalars"])


def test_tensorboard_flag_on_the_command_line(tmp_path):
    pytest.importorskip("tensorboard")
    status = cli.main(["train", "--epochs", "1", "--max-batches", "1", "--width", "0.25", "--no-progress",
                       "--tensorboard", str(tmp_path / "tb")])
    assert status == 0 and any((tmp_path / "tb").iterdir())


def test_tensorboard_missing_is_one_line(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as when absent
    with pytest.raises(SparsekitError, match="pip install tensorboard") as info:
        sk.train(tensorboard="tb", **SMALL)
    assert "\n" not in str(info.value)


# ---- the resume hint --------------------------------------------------------------------------------
@pytest.mark.parametrize("has_checkpoint", [False, True])
def test_resume_hint_only_when_a_checkpoint_exists(tmp_path, monkeypatch, capsys, has_checkpoint):
    if has_checkpoint:
        (tmp_path / "checkpoint.pt").write_bytes(b"")

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "train", interrupted)
    assert cli.main(["train", "--out", str(tmp_path)]) == 130
    message = capsys.readouterr().err
    assert message.startswith("error: interrupted")
    assert ("--resume" in message) == has_checkpoint


# ---- analysis -----------------------------------------------------------------------------------------
def test_summarize_shows_as_a_table_and_stays_a_dict():
    import json

    record = sk.train(**dict(SMALL, epochs=1))
    summary = sk.analysis.summarize(record.model, record.mask)
    assert json.loads(json.dumps(summary)) == dict(summary)
    assert "<table>" in summary._repr_html_() and "dead units" in str(summary)
    assert "{" not in str(summary)


def test_collapse_advice_fits_the_method():
    assert "synflow" in collapse_advice("magnitude")
    assert "(synflow)" not in collapse_advice("synflow") and "rounds" in collapse_advice("synflow")


def test_warnings_are_one_line_in_notebooks(monkeypatch):
    from sparsekit.app import notebook_warnings

    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)  # restored afterwards
    notebook_warnings.one_line()
    text = warnings.formatwarning("layer collapse: x", RuntimeWarning, "/a/file.py", 3, "source line")
    assert text == "RuntimeWarning: layer collapse: x\n"


def test_a_sparsekit_error_shows_as_one_line_in_ipython(capsys):
    """The handler the set-up call installs: a SparsekitError prints as its one line and fails
    the cell; the full traceback is folded below it; any other error keeps IPython's traceback."""
    from IPython.core.interactiveshell import InteractiveShell
    from sparsekit.app import notebook_errors

    shell = InteractiveShell.instance()
    assert notebook_errors.install(shell)
    try:
        capsys.readouterr()
        result = shell.run_cell("from sparsekit.app.experiments import ExperimentSettings\n"
                                "ExperimentSettings(sparsity=1.0)")
        shown = notebook_errors.ANSI.sub("", capsys.readouterr().out).splitlines()
        assert isinstance(result.error_in_exec, SparsekitError)  # the cell failed: Run All stops there
        assert shown[0] == "SparsekitError: sparsity must be in [0, 1) (fraction of weights removed), got 1.0"
        assert shown[1:] == ["<IPython.core.display.HTML object>"]  # the folded traceback (HTML in a notebook)
        result = shell.run_cell("1 / 0")
        assert isinstance(result.error_in_exec, ZeroDivisionError)
        assert "Traceback" in capsys.readouterr().out  # a bug keeps its traceback
    finally:
        shell.set_custom_exc((), None)
    folded = notebook_errors.details_html("Traceback\n  \x1b[0;31mFile x<y>\x1b[0m")
    assert folded.startswith("<details><summary>full traceback") and "File x&lt;y&gt;" in folded
    assert "\x1b" not in folded


# ---- verdicts -----------------------------------------------------------------------------------------
def test_verdict_words_come_from_the_interval():
    assert paired_verdict([0.02, 0.03, 0.025], "a").word == "better"
    assert paired_verdict([-0.02, -0.03, -0.025], "a").word == "worse"
    assert paired_verdict([0.05, -0.04, 0.01], "a").word == "no measurable difference"
    one = paired_verdict([0.1], "a")
    assert one.low is None and one.word == "too few seeds to tell"
    verdict = paired_verdict([0.02, 0.03, 0.025], "tost vs default")
    # mean 0.025, sd 0.005, t(2) = 4.303: half-width 0.0124
    assert verdict.low == pytest.approx(0.025 - 4.3027 * 0.005 / 3 ** 0.5, abs=1e-4)
    assert str(verdict).startswith("tost vs default: better (mean +0.0250, 95% interval [")


def test_verdict_against_pairs_seeds():
    seeded = {"default": [{"best_val_test_acc": a} for a in (0.5, 0.6, 0.7)],
              "tost": [{"best_val_test_acc": a} for a in (0.4, 0.5, 0.6)]}
    # Three equal differences: no spread to measure unless the test set's resolution widens it.
    assert verdict_against(seeded, "default", "tost").word == "too few seeds to tell"
    verdict = verdict_against(seeded, "default", "tost", resolution=1 / 359)
    assert verdict.mean == pytest.approx(-0.1) and verdict.word == "worse"
    assert verdict.high - verdict.low == pytest.approx(2 * 4.3027 * (1 / 359) / 3 ** 0.5, abs=1e-4)


def test_two_seeds_never_give_a_verdict():
    """The two cases a learner met with SEEDS=2 in notebook 14 (359 test digits): both seeds
    19 images worse (a zero-width interval read "worse"), and a mean of -0.364 read "no
    measurable difference"."""
    equal = paired_verdict([-19 / 359, -19 / 359], "tost-release vs default, snip")
    assert equal.word == "too few seeds to tell" and equal.low is None
    assert "too few seeds to tell" in str(equal) and "needs 3" in str(equal)
    wide = paired_verdict([-0.03, -0.698], "tost vs default, random")
    assert wide.mean == pytest.approx(-0.364) and wide.word == "too few seeds to tell"
    # With a third seed the equal case gets an interval no narrower than one test image allows.
    three = paired_verdict([-19 / 359] * 3, "a", resolution=1 / 359)
    assert three.word == "worse" and three.high - three.low > 2 / 359 and "resolution" in str(three)
    assert paired_verdict([-19 / 359] * 3, "a").word == "too few seeds to tell"


# ---- Binder badges ----------------------------------------------------------------------------------
def test_every_badge_agrees_with_the_one_setting():
    files = badges.badge_files()
    assert len(files) >= 14
    for path in files:
        links = badges.links_in(path)
        assert links, f"{path.name} has no Binder badge"
        assert links == badges.expected_links(path), f"{path.name}: run `python -m sparsekit.app.badges`"


def test_regenerate_rewrites_badges(tmp_path, monkeypatch):
    notebook = tmp_path / "03_x.ipynb"
    notebook.write_text('"[![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/'
                        'a/b/HEAD?urlpath=lab/tree/notebooks/03_x.ipynb)"')
    monkeypatch.setattr(badges, "badge_files", lambda root: [notebook])
    assert badges.regenerate("me/kit", root=tmp_path) == {"03_x.ipynb": 1}
    assert badges.links_in(notebook) == [badges.badge_link("03_x", "me/kit")]


def test_repository_tools_find_the_checkout_from_the_current_directory(tmp_path, monkeypatch, capsys):
    """Installed, the package has no checkout beside it: the tools read where they are run."""
    from sparsekit.app import course_map, notebook_runner
    from sparsekit.app.cli import main

    monkeypatch.delenv(notebook_runner.COURSE_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SparsekitError, match="not the repository's root"):
        badges.badge_files()
    with pytest.raises(SparsekitError, match="no course notebooks in"):
        course_map.markdown()
    assert main(["notebooks", "--only", "01", "--out", str(tmp_path / "out")]) == 2
    assert "no notebooks found in" in capsys.readouterr().err
    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root / "notebooks")  # JupyterLab's working directory is the notebook's folder
    assert notebook_runner.course_folder() == root / "notebooks"
    assert "The course has" in course_map.markdown()
    monkeypatch.chdir(root)
    assert len(badges.badge_files()) >= 14


def test_epoch_table_says_when_it_skips_rows():
    from sparsekit.report.summary import format_run

    epochs = [{"epoch": k, "train_loss": 1.0, "train_acc": 0.5, "val_acc": 0.5, "test_acc": 0.5, "lr": 0.1,
               "seconds": 1.0} for k in range(1, 13)]
    record = {"config": {"model": "m", "dataset": "d"}, "epochs": epochs, "mask_source": {"method": "x"},
              "density": 0.1, "sparsity": 0.9, "test_acc": 0.5, "best_val_epoch": 1, "best_val_test_acc": 0.5,
              "seconds": 12.0}
    assert "10 of 12 epochs shown" in format_run(record)
    assert "epochs shown" not in format_run(dict(record, epochs=epochs[:5]))


# ---- the glue of the "From scratch" cells ----------------------------------------------------------
def test_a_from_scratch_start_is_the_network_and_batch_a_run_starts_from():
    from sparsekit.app.scratch_masks import starting_point
    from sparsekit.runs import launch, mask_sources
    from sparsekit.training.config import make_config

    start = starting_point(width=0.25, seed=3, prune_first_layer=False)
    config = make_config(dataset="digits", model="resnet20", width=0.25, seed=3, prune_first_layer=False)
    data, model, mask, _ = launch.prepare(config)  # the run's own start (its mask computed, not applied)
    assert all(torch.equal(value, start.model.state_dict()[name]) for name, value in model.state_dict().items())
    ((x, y),) = mask_sources.scoring_batches(config, data)
    assert torch.equal(start.x, x) and torch.equal(start.y, y) and len(y) == 10 * data.num_classes
    assert list(start.weights) == list(mask) and "stem.conv.weight" not in start.weights


def test_same_values_says_what_agreed_and_refuses_a_difference_beyond_the_tolerance():
    from sparsekit.app.scratch_masks import same_values

    engine = {"a": torch.tensor([1.0, -2.0, 3e-9]), "b": torch.tensor([[4.0, 5.0]])}
    close = {"a": torch.tensor([1.0 + 1e-7, -2.0, 0.0]), "b": torch.tensor([[4.0, 5.0]])}
    line = same_values(close, engine, "scores", rtol=1e-6, atol=1e-8)
    assert line.startswith("scores: the same values as the engine in all 2 tensors (5 entries)")
    with pytest.raises(SparsekitError, match="1 of 3 values of .a. differ from the engine.s.*difference 0.001"):
        same_values({**close, "a": torch.tensor([1.001, -2.0, 0.0])}, engine, "scores", rtol=1e-6, atol=1e-8)
    inf = float("inf")
    assert "difference 0)" in same_values({"a": torch.tensor([-inf])}, {"a": torch.tensor([-inf])}, "s", rtol=0, atol=0)
    with pytest.raises(SparsekitError, match="1 of 1 values of 'a' differ"):
        same_values({"a": torch.tensor([inf])}, {"a": torch.tensor([1.0])}, "s", rtol=0, atol=0)
    with pytest.raises(SparsekitError, match="the layers are not the engine's"):
        same_values({"a": engine["a"]}, engine, "scores", rtol=0, atol=0)
    with pytest.raises(SparsekitError, match="layer 'b' has shape"):
        same_values({**engine, "b": torch.zeros(2)}, engine, "scores", rtol=0, atol=0)


def test_same_mask_allows_only_swaps_among_near_tied_scores():
    from sparsekit.app.scratch_masks import same_mask

    engine = {"a": torch.tensor([True, True, False, False]), "b": torch.tensor([False, True])}
    assert same_mask(dict(engine), engine, "m").endswith("3 of 6 weights kept, every position the same")
    swapped = {"a": torch.tensor([True, False, True, False]), "b": torch.tensor([False, True])}
    with pytest.raises(SparsekitError, match="m: 1 of the 3 kept weights are not where the engine keeps them"):
        same_mask(swapped, engine, "m")
    near = {"a": torch.tensor([0.9, 0.5, 0.5 + 1e-9, 0.1]), "b": torch.tensor([0.0, 0.7])}
    assert "1 swapped at the cut" in same_mask(swapped, engine, "m", scores=near, rtol=1e-6)
    far = {"a": torch.tensor([0.9, 0.5, 0.6, 0.1]), "b": torch.tensor([0.0, 0.7])}
    with pytest.raises(SparsekitError, match="scores are 0.1 apart, not a near tie"):
        same_mask(swapped, engine, "m", scores=far, rtol=1e-6)
    with pytest.raises(SparsekitError, match="m: keeps 4 of 6 weights, the engine 3"):
        same_mask({**engine, "b": torch.tensor([True, True])}, engine, "m")


def test_an_engine_update_is_the_sparsifiers_and_a_step_without_one_keeps_the_mask():
    from sparsekit.app.scratch_masks import engine_update, starting_point

    model, x, y, _ = starting_point(width=0.25, seed=0)
    rigl = sk.masks.dynamic_sparsifier("rigl", model, 0.5, seed=0)
    mask = rigl.initial_mask(model, None)
    mask.apply(model)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    end, every = rigl.window(1000)
    moved = engine_update(rigl, model, mask, every, 1000)
    assert not moved.same_as(mask) and moved.num_kept() == mask.num_kept()
    assert engine_update(rigl, model, mask, every + 1, 1000).same_as(mask)  # not an update step
