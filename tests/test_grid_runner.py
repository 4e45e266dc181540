"""One way to run many runs (`sk.sweep`, its seeds and shared-mask recipe axes) and what a
person sees while it runs: one bar over the grid's epochs, labelled with the run it is on, and
an interrupt as one line that says whether running the cell again continues or restarts."""
from pathlib import Path

import pytest
import torch

import sparsekit as sk
from sparsekit.app import sweeps
from sparsekit.app.sweeps import GridInterrupted
from sparsekit.app.sweeps import progress as grid_progress

torch.set_num_threads(1)
TINY = dict(width=0.25, epochs=2, max_batches=1, batch_size=32)


class RecordingBar:
    """Stands in for tqdm: keeps the total and, at every move, the count and the label."""
    made = []

    def __init__(self, total, disable=False, **_):
        self.total, self.disable, self.n, self.label, self.moves = total, disable, 0, "", []
        RecordingBar.made.append(self)

    def update(self, steps):
        self.n += steps

    def set_description_str(self, text, refresh=True):
        self.label = text
        self.moves.append((self.n, text))

    def set_postfix_str(self, text):
        pass

    def refresh(self):
        pass

    def close(self):
        pass


@pytest.fixture
def bar(monkeypatch):
    import tqdm.auto

    RecordingBar.made = []
    monkeypatch.setattr(tqdm.auto, "tqdm", RecordingBar)
    return RecordingBar


def test_one_bar_per_grid_moves_per_epoch_labelled_with_its_run(bar):
    result = sk.sweep([{"mask": "random"}, {"mask": "snip"}], TINY, name=["a", "b"], seeds=[0, 1],
                      backend="inline", progress=True)
    assert [o["name"] for o in result.outcomes] == ["a-seed0", "b-seed0", "a-seed1", "b-seed1"]
    (shown,) = bar.made  # one bar for the whole grid, not one per run or per seed
    assert shown.total == 4 * 2 and not shown.disable  # runs x epochs
    # each epoch's end moves the bar by one and names the run and its epoch
    for index, name in enumerate(["a-seed0", "b-seed0", "a-seed1", "b-seed1"]):
        assert (2 * index, f"{name} (epoch 0/2)") in shown.moves  # named while its mask is computed
        assert (2 * index + 1, f"{name} (epoch 1/2)") in shown.moves
        assert (2 * index + 2, f"{name} (epoch 2/2)") in shown.moves
    assert shown.n == 8


def test_progress_off_draws_nothing(bar):
    sk.sweep([{}], dict(TINY, epochs=1), backend="inline", progress=False)
    assert [made.disable for made in bar.made] == [True]


def test_runs_in_other_processes_move_the_bar_through_their_epoch_tables(bar, tmp_path):
    """Worker processes are followed through the epochs.csv each rewrites after every epoch."""
    shown = grid_progress.GridProgress({"a": 3, "b": 3}, {"a": str(tmp_path / "a"), "b": str(tmp_path / "b")},
                                       enabled=True)
    (tmp_path / "a").mkdir()
    shown.poll()
    assert shown.bar.n == 0
    (tmp_path / "a" / "epochs.csv").write_text("epoch,val_acc\n1,0.5\n2,0.6\n")
    shown.poll()
    assert shown.bar.n == 2 and shown.bar.label == "a (epoch 2/3)"
    shown.ended({"name": "a", "status": "trained"})
    shown.ended({"name": "b", "status": "failed"})  # a failed run counts what it trained: nothing
    assert shown.bar.n == 3


def _stop_at(monkeypatch, name: str, epoch: int):
    """A KeyboardInterrupt raised from a callback, as Kernel > Interrupt raises one mid-run."""
    def on_epoch_end(self, state):
        if self.name == name and state.epoch == epoch:
            raise KeyboardInterrupt
        self.progress.at(self.name, state.epoch)

    monkeypatch.setattr(grid_progress.EpochTicker, "on_epoch_end", on_epoch_end)


def test_an_interrupted_grid_is_one_line_that_says_restart_or_continue(monkeypatch, tmp_path, capsys):
    from IPython.core.interactiveshell import InteractiveShell
    from sparsekit.app import notebook_errors

    _stop_at(monkeypatch, "b", 2)
    shell = InteractiveShell.instance()
    assert notebook_errors.install(shell)
    shell.user_ns.update(sk=sk, TINY=TINY, out=str(tmp_path / "grid"))
    try:
        capsys.readouterr()
        # In memory: nothing is kept, so running the cell again starts over.
        result = shell.run_cell("sk.sweep([{}, {'mask': 'snip'}], TINY, name=['a', 'b'], backend='inline')")
        shown = notebook_errors.ANSI.sub("", capsys.readouterr().out).splitlines()
        assert isinstance(result.error_in_exec, GridInterrupted)  # still an interrupt: Run All stops
        assert shown == ["interrupted: 1 of 2 runs finished, none kept (this grid keeps no run folders); "
                         "run the cell again to restart", "<IPython.core.display.HTML object>"]
        # In run folders: the finished run is kept and skipped, the interrupted one resumes.
        shell.run_cell("sk.sweep([{}, {'mask': 'snip'}], TINY, out, name=['a', 'b'], backend='inline')")
        shown = notebook_errors.ANSI.sub("", capsys.readouterr().out).splitlines()
        assert len(shown) == 2 and shown[0].startswith("interrupted: 1 of 2 runs finished, kept in ")
        assert shown[0].endswith("run the cell again to continue (finished runs are skipped, an interrupted one "
                                 "resumes from its last checkpoint)")
        # Any other interrupt folds too, with the plain line.
        shell.run_cell("raise KeyboardInterrupt")
        shown = notebook_errors.ANSI.sub("", capsys.readouterr().out).splitlines()
        assert shown == [notebook_errors.PLAIN_INTERRUPT, "<IPython.core.display.HTML object>"]
    finally:
        shell.set_custom_exc((), None)
    monkeypatch.undo()
    again = sk.sweep([{}, {"mask": "snip"}], TINY, str(tmp_path / "grid"), name=["a", "b"], backend="inline",
                     progress=False)
    assert [o["status"] for o in again.outcomes] == ["skipped", "resumed"]  # "continue" was true


def test_a_recipe_axis_shares_one_mask_per_point_in_run_folders(tmp_path):
    """With run folders, each point's first recipe computes and saves the mask; the others
    train that file; a point whose first run failed says so for each of its other runs."""
    result = sk.sweep([{"mask": "snip"}], TINY, tmp_path, name=["m"], seeds=[0],
                      recipes={"default": None, "smoothed": {"label_smoothing": 0.1}}, backend="inline", progress=False)
    first, second = (result.records[f"m-seed0-{label}"] for label in ("default", "smoothed"))
    assert second["config"]["mask_file"] == str(tmp_path / "m-seed0-default" / "mask.pt")
    assert second["sweep"]["labels"]["recipe"] == "smoothed" and first["sweep"]["labels"]["seed"] == "0"
    saved = [torch.load(tmp_path / f"m-seed0-{label}" / "mask.pt")["mask"] for label in ("default", "smoothed")]
    assert all(torch.equal(saved[0][name], saved[1][name]) for name in saved[0])


def test_the_notebooks_grids_and_the_demo_go_through_sweep(monkeypatch, tmp_path):
    from sparsekit.app import demo, seeded
    from sparsekit.app.experiments import ExperimentSettings, run_grid, run_variants

    calls, real = [], sweeps.sweep

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(sweeps, "sweep", spy)
    tiny = ExperimentSettings(width=0.25, epochs=1, max_batches=1, batch_size=32)
    seeded.compare_recipes(tiny, ["random"], ["default", "tost"], seeds=[0, 1], recipe_options={"init_iterations": 1})
    seeded.run_variants_over_seeds(tiny, {"a": {}}, seeds=[0, 1])
    run_grid(tiny, rows={"r": {}}, columns={"plain": {}})
    run_variants(tiny, {"v": {}})
    assert [(c["seeds"], list(c["recipes"] or [])) for c in calls] == [
        ([0, 1], ["default", "tost"]), ([0, 1], []), (None, ["plain"]), (None, [])]

    class Stop(Exception):
        pass

    def refuse(*args, **kwargs):
        calls.append(kwargs)
        raise Stop

    monkeypatch.setattr(sweeps, "sweep", refuse)
    with pytest.raises(Stop):
        demo.run_demo(out=tmp_path, epochs=1, seeds=2)
    assert calls[-1]["seeds"] == [0, 1] and calls[-1]["recipes"] is demo.DEMO_RECIPES


def test_the_other_runners_are_gone():
    import importlib

    with pytest.raises(ImportError):
        importlib.import_module("sparsekit.app.recipe_grid")
    root = Path(__file__).resolve().parents[1]
    for folder in ("sparsekit", "benchmarks"):
        for path in (root / folder).rglob("*.py"):
            assert "run_cells" not in path.read_text(), path
