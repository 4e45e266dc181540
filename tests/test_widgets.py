"""The plain experiment functions behind the notebooks, and the widget panel over them
(ipywidgets instantiate without a frontend; clicks are simulated with `button.click()`)."""
import json

import matplotlib
import pytest
import torch

matplotlib.use("Agg")  # this test process draws off-screen; notebooks keep their inline backend

from helpers import prunable_weight_count  # noqa: E402
from sparsekit.core.errors import SparsekitError  # noqa: E402
from sparsekit.app.experiments import (TRICKS, ExperimentSettings, LiveReport, make_settings,  # noqa: E402
                                   recipe_for, recipe_from_toggles, run_experiment, run_variants)
from sparsekit.report.results import notebook_result, recipe_flags, run_summary, write_result  # noqa: E402
from sparsekit.report.plots import plot_accuracy_curves, plot_final_accuracy, plot_grouped_accuracy  # noqa: E402

torch.set_num_threads(1)
TINY = dict(width=0.25, epochs=2, max_batches=3, batch_size=32)


def uniform_random_kept(sparsity, width=0.25):
    """(kept, total) prunable weights of a global-scope mask: round-half-up of (1 - s) * N."""
    total = prunable_weight_count(width)
    return int((1 - sparsity) * total + 0.5), total


# ---- settings and recipes -------------------------------------------------------------
def test_settings_from_dict_and_changes():
    settings = make_settings({"mask": "random", "sparsity": 0.8}, epochs=3)
    assert (settings.mask, settings.sparsity, settings.epochs) == ("random", 0.8, 3)
    assert make_settings(settings, tricks=["label_smoothing"]).tricks == ("label_smoothing",)


@pytest.mark.parametrize("bad", [{"sparsty": 0.5}, {"tricks": ["ghost_neuron"]}])
def test_bad_settings_are_refused_in_one_line(bad):
    with pytest.raises(SparsekitError) as info:
        make_settings(**bad)
    assert "\n" not in str(info.value)


def test_settings_must_be_settings_or_dict():
    with pytest.raises(SparsekitError, match="ExperimentSettings or a dict"):
        make_settings(["random"])


def test_each_toggle_turns_on_its_trick_at_the_paper_value():
    # The paper's values: parametric swish ghost neurons, ghost skip on, GradInit, smoothing 0.1.
    paper = {"ghost_neurons": ("ghost_neurons", "pswish"), "ghost_skip": ("ghost_skip", True),
             "init": ("init", "gradinit"), "label_smoothing": ("label_smoothing", 0.1)}
    off = {"ghost_neurons": "off", "ghost_skip": False, "init": "none", "label_smoothing": 0.0}
    assert set(paper) == set(TRICKS)
    for trick, (field, value) in paper.items():
        recipe = recipe_from_toggles(**{trick: True}).to_dict()
        expected = dict(off, **{field: value})
        assert {name: recipe[name] for name in off} == expected, trick


def test_all_toggles_off_is_plain_training_and_options_apply():
    assert recipe_for([]) is None
    recipe = recipe_for(["init"], {"init_iterations": 7})
    assert recipe.init == "gradinit" and recipe.init_iterations == 7
    with pytest.raises(SparsekitError):
        recipe_for(["init"], {"init_iteration": 7})


# ---- running ----------------------------------------------------------------------------
def test_run_experiment_reports_every_step_and_epoch():
    steps, epochs = [], []
    record = run_experiment(ExperimentSettings(sparsity=0.7, **TINY),
                            on_step=lambda done, total: steps.append((done, total)),
                            on_epoch=lambda row, history: epochs.append((row, len(history))))
    total = TINY["epochs"] * TINY["max_batches"]
    assert steps == [(k, total) for k in range(total + 1)]  # 0 at the start, then after each step
    assert [count for _, count in epochs] == [1, 2]
    assert [row for row, _ in epochs] == record["epochs"]
    kept, total_weights = uniform_random_kept(0.7)
    assert record.mask.num_kept() == kept and record["density"] == pytest.approx(kept / total_weights)


def test_live_report_without_hooks_keeps_history():
    report = LiveReport()
    run_experiment(ExperimentSettings(**TINY), callbacks=[report])
    assert [row["epoch"] for row in report.history] == [1, 2]


def test_a_grid_of_experiments_shows_its_progress_only_when_asked(capsys):
    for progress in (False, True):  # the grid's runs share one bar: the sweep's, labelled with the run
        run_variants(ExperimentSettings(progress=progress, **dict(TINY, epochs=1, max_batches=1)), {"only": {}})
        assert ("only (epoch 1/1)" in capsys.readouterr().err) == progress


def test_run_variants_and_results_json(tmp_path):
    runs = run_variants(ExperimentSettings(sparsity=0.6, **TINY),
                        {"dense": {"sparsity": 0.0}, "smoothed": {"tricks": ["label_smoothing"]}})
    summary = run_summary(runs["smoothed"])
    kept, total = uniform_random_kept(0.6)
    assert (summary["kept"], summary["total"]) == (kept, total)
    assert summary["requested_sparsity"] == 0.6 and summary["sparsity"] == pytest.approx(1 - kept / total)
    assert summary["recipe"] == {"ghost_neurons": False, "ghost_skip": False, "init": False,
                                 "label_smoothing": True}
    assert run_summary(runs["dense"])["kept"] == total
    assert recipe_flags(runs["dense"]) == dict.fromkeys(TRICKS, False)
    path = write_result(notebook_result("demo", 0.6, runs, note="x"), tmp_path / "a" / "r.json")
    written = json.loads(open(path).read())
    assert written["note"] == "x" and set(written["runs"]) == {"dense", "smoothed"}
    assert written["runs"]["smoothed"]["test_acc"] == runs["smoothed"]["test_acc"]


# ---- plots ------------------------------------------------------------------------------
ROWS = [{"epoch": 1, "val_acc": 0.2, "test_acc": 0.25}, {"epoch": 2, "val_acc": 0.5, "test_acc": 0.4}]


def test_accuracy_curves_draw_the_rows():
    ax = plot_accuracy_curves({"a": ROWS, "b": {"epochs": ROWS[:1]}}, metrics=("val_acc", "test_acc"))
    drawn = [(line.get_label(), list(line.get_xdata()), list(line.get_ydata())) for line in ax.get_lines()]
    assert drawn == [("a: validation accuracy", [1, 2], [0.2, 0.5]), ("a: test accuracy", [1, 2], [0.25, 0.4]),
                     ("b: validation accuracy", [1], [0.2]), ("b: test accuracy", [1], [0.25])]
    with pytest.raises(SparsekitError, match="unknown metric"):
        plot_accuracy_curves({"a": ROWS}, metrics=("accuracy",))


def test_bar_plots_show_the_values():
    ax = plot_final_accuracy({"x": {"best_val_test_acc": 0.3}, "y": {"best_val_test_acc": 0.7}})
    assert [bar.get_height() for bar in ax.patches] == [0.3, 0.7]
    grid = {"snip": {"default": {"best_val_test_acc": 0.5}, "tost": {"best_val_test_acc": 0.6}},
            "random": {"default": {"best_val_test_acc": 0.4}}}
    ax = plot_grouped_accuracy(grid)
    assert sorted(bar.get_height() for bar in ax.patches) == [0.0, 0.4, 0.5, 0.6]


def test_accuracy_bars_zoom_to_the_data_with_the_legend_outside():
    """Accuracies of 0.94-0.98 on a 0-1 axis look equal: the axis fits the data, says where it
    starts, and the legend sits right of the axes; every seed's dot is drawn above the bars."""
    from sparsekit.report.plots import plot_seeded_accuracy

    ax = plot_final_accuracy({"x": {"best_val_test_acc": 0.94}, "y": {"best_val_test_acc": 0.98}})
    low, high = ax.get_ylim()
    assert 0.85 < low < 0.94 and 0.98 < high <= 1.02 and f"axis from {low:.2f}" in ax.get_ylabel()
    seeds = {"snip": {"default": [{"best_val_test_acc": a} for a in (0.95, 0.96, 0.97)],
                      "tost": [{"best_val_test_acc": a} for a in (0.93, 0.97, 0.98)]}}
    ax = plot_seeded_accuracy(seeds)
    assert ax.get_ylim()[0] > 0.8
    legend = ax.get_legend()
    assert legend is not None and legend.get_bbox_to_anchor().x0 >= ax.get_window_extent().x1 - 1
    dots = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert sorted(y for line in dots for y in line.get_ydata()) == [0.93, 0.95, 0.96, 0.97, 0.97, 0.98]
    assert all(line.get_zorder() > 3 for line in dots)


# ---- the panel --------------------------------------------------------------------------
class FakeRun:
    """Stands in for `run_experiment`: records the settings and reports two epochs."""

    def __init__(self, error=None):
        self.calls, self.error = [], error

    def __call__(self, settings, on_epoch, on_step):
        self.calls.append(settings)
        if self.error:
            raise self.error
        history = []
        for epoch in (1, 2):
            for step in range(1, 4):
                on_step((epoch - 1) * 3 + step, 6)
            history.append({"epoch": epoch, "val_acc": 0.3 * epoch, "test_acc": 0.25 * epoch})
            on_epoch(history[-1], list(history))
        return {"density": 0.25, "best_val_test_acc": 0.5, "epochs": history}


def test_panel_click_runs_the_chosen_settings():
    from sparsekit.app.widgets import panel

    fake = FakeRun()
    box = panel(run_fn=fake, methods=["random", "magnitude"], settings={"epochs": 4, "sparsity": 0.5})
    assert box.method.options == ("random", "magnitude") and box.sparsity.value == 0.5
    assert list(box.toggles) == list(TRICKS)
    box.sparsity.value, box.method.value, box.epochs.value = 0.8, "magnitude", 2
    box.toggles["label_smoothing"].value = True
    box.run_button.click()
    (settings,) = fake.calls
    assert (settings.mask, settings.sparsity, settings.epochs, settings.tricks) == \
        ("magnitude", 0.8, 2, ("label_smoothing",))
    assert (box.progress.value, box.progress.max) == (6, 6)
    assert [row["epoch"] for row in box.history] == [1, 2]
    assert box.redraws == 3  # cleared at the start, then once per epoch
    assert "0.500" in box.status.value and not box.run_button.disabled


def test_panel_shows_refused_settings_instead_of_raising():
    from IPython.core.interactiveshell import InteractiveShell

    from sparsekit.app.widgets import panel

    InteractiveShell.instance()  # as in a notebook, where the Output widget swallows what escapes it
    box = panel(run_fn=FakeRun(SparsekitError("sparsity too high")), methods=["random"])
    box.run_button.click()
    assert "error: sparsity too high" in box.status.value and not box.run_button.disabled


def test_panel_lists_registered_methods_and_refuses_bad_choices():
    from sparsekit.app.widgets import panel
    from sparsekit.runs import mask_sources

    # The methods and the procedures made of trainings (the notebooks' panels offer the lottery).
    assert list(panel().method.options) == mask_sources.available()
    with pytest.raises(SparsekitError, match="trick"):
        panel(tricks=["ghost"])
    with pytest.raises(SparsekitError, match="at least one"):
        panel(methods=[])


def test_panel_runs_a_real_experiment():
    from sparsekit.app.widgets import accuracy_png, panel

    box = panel(methods=["random"], tricks=["label_smoothing"], settings=dict(TINY, sparsity=0.5))
    box.run_button.click()
    assert box.record is not None and box.record["epochs"] == box.history
    assert (box.progress.value, box.progress.max) == (6, 6)
    assert box.record["config"]["sparsity"] == 0.5
    assert accuracy_png(box.book.curves(), "t").startswith(b"\x89PNG")


def test_panel_runs_accumulate_with_labels_until_clear():
    from sparsekit.app.widgets import panel

    fake = FakeRun()
    box = panel(run_fn=fake, methods=["random", "snip"], settings={"sparsity": 0.5})
    box.run_button.click()
    box.method.value = "snip"
    for name in TRICKS:
        box.toggles[name].value = True
    box.ghost_mode.value = "keep"
    box.run_button.click()
    assert list(box.book.curves()) == ["random 0.50 · default", "snip 0.50 · tost-release"]
    assert box.legend.value.count("class='sparsekit-run'") == 2
    assert fake.calls[1].recipe_options == {"ghost_neurons_mode": "keep", "ghost_skip_mode": "keep"}
    assert not fake.calls[1].progress  # the panel's own bar; nothing printed outside it
    box.run_button.click()  # the same settings again: a second, numbered curve
    assert list(box.book.runs)[-1] == "snip 0.50 · tost-release #2"
    box.clear_button.click()
    assert box.book.curves() == {} and box.legend.value == ""


def test_panel_seeds_control_runs_every_seed_and_averages():
    from sparsekit.app.widgets import panel

    fake = FakeRun()
    box = panel(run_fn=fake, methods=["random"], settings={"seed": 4}, seeds=3)
    assert box.seeds.value == 3
    box.run_button.click()
    assert [settings.seed for settings in fake.calls] == [4, 5, 6]
    (run,) = box.book.runs.values()
    assert len(run.records) == 3 and run.mean_rows()[1]["test_acc"] == pytest.approx(0.5)
    assert "3 seeds" in box.legend.value


def test_panel_starts_from_the_notebooks_parameters():
    from sparsekit.app.widgets import panel

    settings = ExperimentSettings(mask="snip", sparsity=0.95, tricks=tuple(TRICKS),
                                  recipe_options={"init_iterations": 10, "ghost_neurons_mode": "keep"})
    box = panel(settings=settings, methods=["random", "snip"])
    assert box.method.value == "snip" and box.sparsity.value == 0.95
    assert all(toggle.value for toggle in box.toggles.values()) and box.ghost_mode.value == "keep"
    assert box.settings().recipe_options["init_iterations"] == 10


def test_panel_says_when_it_clamps_and_disables_what_does_nothing():
    from sparsekit.app.widgets import MAX_SEEDS, panel

    box = panel(run_fn=FakeRun(), methods=["random"], seeds=50)
    assert box.seeds.value == MAX_SEEDS and f"seeds 50 is above the most the panel runs: set to {MAX_SEEDS}" \
        in box.status.value
    box.epochs.value = 0
    assert box.epochs.value == 1 and "epochs 0 is below the least the panel runs: set to 1" in box.status.value
    assert box.ghost_mode.disabled  # no ghost trick on: the mode would change nothing
    box.toggles["ghost_skip"].value = True
    assert not box.ghost_mode.disabled
    box.toggles["ghost_skip"].value = False
    assert box.ghost_mode.disabled
    assert panel(run_fn=FakeRun(), methods=["random"], tricks=["label_smoothing"]).ghost_mode.disabled


def test_panel_shows_the_gradinit_phase_and_every_seed():
    from sparsekit.app.widgets import accuracy_png, panel

    phases = []

    class Phased(FakeRun):
        def __call__(self, settings, on_epoch, on_step):
            phases.append(box.progress.description)  # what the bar says while GradInit would run
            return super().__call__(settings, on_epoch, on_step)

    box = panel(run_fn=Phased(), methods=["random"], seeds=2)
    box.toggles["init"].value = True
    box.run_button.click()
    assert phases == ["GradInit", "GradInit"] and box.progress.description == "training"
    box.toggles["init"].value = False
    box.run_button.click()
    assert phases[2:] == ["training", "training"]
    curves = box.book.seed_curves()
    assert [len(seeds) for seeds in curves.values()] == [2, 2]
    assert accuracy_png(box.book.curves(), "t", curves).startswith(b"\x89PNG")
