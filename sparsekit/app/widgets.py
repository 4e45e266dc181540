"""The notebooks' "try it yourself" panel: pick a mask method, a sparsity, recipe tricks, the
ghosts' mode and a number of seeds, press Run, and watch a progress bar and a live accuracy
plot on which every run stays, labelled, until Clear; and notebook 15's latency panel.

The panel only gathers settings and draws; the run itself is a plain function
(`sparsekit.app.experiments.run_experiment` unless `run_fn` says otherwise), called with an
`on_step` hook that moves the bar and an `on_epoch` hook that redraws the plot. This is the
only module that imports ipywidgets.
"""
import io
from html import escape
from typing import Callable, Optional, Sequence

import ipywidgets as widgets
from IPython import get_ipython
from IPython.display import Image, clear_output, display

from ..runs import mask_sources
from ..core.errors import SparsekitError
from .experiments import TRICKS, ExperimentSettings, make_settings, run_experiment
from .panel_runs import GHOST_TRICKS, RunBook, run_label
from ..recipe.phase import GHOST_MODES
from ..report.plots import plot_accuracy_curves

PLOTTED_METRIC = "test_acc"
MAX_SEEDS = 5


def accuracy_png(curves: dict, title: str, seed_curves: Optional[dict] = None) -> bytes:
    """The live plot as PNG bytes, one test-accuracy curve per run ({label: epoch rows}) and,
    faint beside it in the same colour, each of its seeds ({label: [rows per seed]}), so a seed
    stuck at chance shows even when the mean looks fine. Drawn off-screen (no pyplot), so no
    figure is left for `%matplotlib inline` to display a second time at the end of the cell."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8.5, 3.6), dpi=80)
    ax = figure.add_subplot()
    plot_accuracy_curves(curves, metrics=(PLOTTED_METRIC,), ax=ax, title=title)
    for index, label in enumerate(curves):
        seeds = (seed_curves or {}).get(label, [])
        for rows in seeds if len(seeds) > 1 else []:
            ax.plot([row["epoch"] for row in rows], [row[PLOTTED_METRIC] for row in rows], "-", color=f"C{index}",
                    alpha=0.3, linewidth=0.9)
    ax.set_ylim(0, 1.02)
    longest = max((len(rows) for rows in curves.values()), default=0)
    if longest:
        ax.set_xlim(0.5, longest + 0.5)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


class ExperimentPanel(widgets.VBox):
    """Controls (`sparsity`, `method`, `toggles`, `ghost_mode`, `epochs`, `seeds`, `run_button`,
    `clear_button`), a `progress` bar, a `status` line, the `plot` and the `legend` listing the
    runs on it, and a `run_output` that catches whatever a run prints. Runs accumulate (`book`) until
    Clear; `history` holds the epoch rows of the latest seed, `record` its run record,
    `redraws` how often the plot was drawn."""

    def __init__(self, run_fn: Optional[Callable] = None, methods: Optional[Sequence[str]] = None,
                 tricks: Optional[Sequence[str]] = None, settings=None, max_epochs: int = 100, seeds: int = 1):
        self.run_fn = run_fn or run_experiment
        self.base = make_settings(settings)
        methods = list(methods) if methods is not None else mask_sources.available()
        if not methods:
            raise SparsekitError("the panel needs at least one mask method")
        # ExperimentSettings validates trick names; the panel offers all of them by default.
        trick_names = list(make_settings(tricks=tricks).tricks) if tricks is not None else list(TRICKS)
        method = self.base.mask if self.base.mask in methods else methods[0]
        ghost_mode = self.base.recipe_options.get("ghost_neurons_mode", "early")

        self.sparsity = widgets.FloatSlider(value=self.base.sparsity, min=0.0, max=0.99, step=0.01,
                                            description="sparsity", readout_format=".2f",
                                            continuous_update=False)
        self.method = widgets.Dropdown(options=methods, value=method, description="mask")
        self.toggles = {name: widgets.ToggleButton(value=name in self.base.tricks, description=TRICKS[name],
                                                   tooltip=f"recipe trick: {TRICKS[name]}",
                                                   layout=widgets.Layout(width="auto"))
                        for name in trick_names}
        self.ghost_mode = widgets.Dropdown(options=GHOST_MODES, value=ghost_mode, description="ghosts",
                                           tooltip="early: ghosts fade out over the early phase; keep: all run")
        # Plain IntText, clamped here, so the panel can say that it clamped (a bounded box would not).
        self.limits = {"epochs": (1, max_epochs), "seeds": (1, MAX_SEEDS)}
        self.epochs = widgets.IntText(value=self.base.epochs, description="epochs")
        self.seeds = widgets.IntText(value=seeds, description="seeds")
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.clear_button = widgets.Button(description="Clear", icon="trash",
                                           tooltip="remove every run from the plot")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="training")
        self.status = widgets.HTML(value="Choose settings and press <b>Run</b>; runs add up on the plot.")
        self.plot = widgets.Output()
        self.legend = widgets.HTML(value="")
        self.run_output = widgets.Output(layout=widgets.Layout(max_height="8em", overflow="auto"))
        self.book = RunBook()
        self.history: list = []
        self.record = None
        self.redraws = 0
        self.run_button.on_click(self._run_clicked)
        self.clear_button.on_click(lambda _button: self.clear())
        for name in self.limits:
            getattr(self, name).observe(lambda change, name=name: self._clamp(name), names="value")
            self._clamp(name)
        for name in GHOST_TRICKS:
            if name in self.toggles:
                self.toggles[name].observe(lambda _change: self._enable_ghost_mode(), names="value")
        self._enable_ghost_mode()
        super().__init__([
            widgets.HBox([self.method, self.sparsity]),
            widgets.HBox(list(self.toggles.values()) + [self.ghost_mode]),
            widgets.HBox([self.epochs, self.seeds, self.run_button, self.clear_button]),
            self.progress, self.status, self.plot, self.legend, self.run_output,
        ])

    def settings(self) -> ExperimentSettings:
        """The run the controls describe (the panel's base settings for everything else). The
        panel shows its own bar, so the run prints none."""
        tricks = tuple(name for name, toggle in self.toggles.items() if toggle.value)
        options = dict(self.base.recipe_options)
        for trick in GHOST_TRICKS:
            options.pop(f"{trick}_mode", None)
            if trick in tricks:
                options[f"{trick}_mode"] = self.ghost_mode.value
        return make_settings(self.base, mask=self.method.value, sparsity=float(self.sparsity.value),
                             epochs=int(self.epochs.value), tricks=tricks, recipe_options=options, progress=False)

    def _clamp(self, name: str) -> None:
        """Keep a count inside its limits, and say so when a typed value was changed."""
        control, (low, high) = getattr(self, name), self.limits[name]
        value = min(max(control.value, low), high)
        if value != control.value:
            typed = control.value
            control.value = value
            self.status.value = (f"{name} {typed} is {'below the least' if typed < low else 'above the most'} the "
                                 f"panel runs: set to {value}.")

    def _enable_ghost_mode(self) -> None:
        """The ghosts' mode matters only while a ghost trick is on."""
        self.ghost_mode.disabled = not any(self.toggles[name].value for name in GHOST_TRICKS if name in self.toggles)

    def run(self):
        """What pressing Run does: one run per seed, added to the plot; returns the last run
        record (None if the settings were refused)."""
        settings = self.settings()
        seeds = [self.base.seed + k for k in range(int(self.seeds.value))]
        run = self.book.start(run_label(settings))
        self.history, self.record = [], None
        self.run_button.disabled = self.clear_button.disabled = True
        self._draw()
        try:
            for index, seed in enumerate(seeds):
                self.progress.value, self.progress.max = 0, 1
                phase = "GradInit" if "init" in settings.tricks else "training"
                self.progress.description, self.progress.bar_style = phase, "info" if phase == "GradInit" else ""
                extra = (" (GradInit first rescales the masked network: the bar starts moving when training "
                         "does)" if phase == "GradInit" else "")
                self.status.value = (f"{phase} {escape(run.label)}, seed {seed} ({index + 1} of {len(seeds)})..."
                                     f"{extra}")
                run.seeds.append([])
                refused = None
                with self.run_output:  # whatever the run prints (a warning) stays inside the panel
                    # Caught here: inside IPython the Output widget would swallow it and the run go on.
                    try:
                        self.record = self.run_fn(make_settings(settings, seed=seed), on_epoch=self._epoch_done,
                                                  on_step=self._step_done)
                    except SparsekitError as exc:
                        refused = exc
                if refused is not None:
                    raise refused
                run.records.append(self.record)
        except SparsekitError as exc:  # a refused setting is shown, not thrown into the widget log
            if not run.records:
                self.book.runs.pop(run.label, None)
            self.status.value = f"<span style='color:#b00'>error: {escape(str(exc))}</span>"
            self._show_legend()
            return None
        finally:
            self.run_button.disabled = self.clear_button.disabled = False
        self._show_legend()
        self.status.value = (f"done: {escape(run.label)}: density {self.record['density']:.4f}, test accuracy at the "
                             f"best validation epoch {run.summary().split(': ')[-1]}")
        return self.record

    def clear(self) -> None:
        """What pressing Clear does: an empty plot, the controls as they are."""
        self.book.clear()
        self.history, self.record = [], None
        self._show_legend()
        self._draw()
        self.status.value = "Cleared. Choose settings and press <b>Run</b>."

    def _run_clicked(self, _button) -> None:
        self.run()

    def _step_done(self, done: int, total: int) -> None:
        if self.progress.description != "training":  # the first step: GradInit (if any) is over
            self.progress.description, self.progress.bar_style = "training", ""
        self.progress.max = max(total, 1)
        self.progress.value = min(done, self.progress.max)

    def _epoch_done(self, row: dict, history: list) -> None:
        self.history = list(history)
        run = self.book.latest()
        if run is not None and run.seeds:
            run.seeds[-1] = list(history)
        self._draw()

    def _show_legend(self) -> None:
        items = "".join(f"<li class='sparsekit-run'>{escape(run.summary())}</li>" for run in self.book.runs.values())
        self.legend.value = (f"<b>runs on the plot</b> (test accuracy at the best validation epoch)"
                             f"<ol class='sparsekit-runs'>{items}</ol>" if items else "")

    def _draw(self) -> None:
        self.redraws += 1
        if get_ipython() is None:  # headless (scripts, tests): nothing could show the image
            return
        png = accuracy_png(self.book.curves(PLOTTED_METRIC), "test accuracy per epoch (thick: mean over seeds, "
                           "faint: each seed)", self.book.seed_curves())
        with self.plot:
            clear_output(wait=True)
            display(Image(png))


def panel(run_fn: Optional[Callable] = None, methods: Optional[Sequence[str]] = None,
          tricks: Optional[Sequence[str]] = None, settings=None, max_epochs: int = 100,
          seeds: int = 1) -> ExperimentPanel:
    """The comparing panel. `run_fn(settings, on_epoch=..., on_step=...)` trains (default:
    `run_experiment`); `methods` and `tricks` limit the choices; `settings` (an
    `ExperimentSettings` or dict) sets the starting values, tricks and ghost mode included, and
    everything the panel does not show; `seeds` starts the seeds control (seeds are
    settings.seed, settings.seed + 1, ...)."""
    return ExperimentPanel(run_fn=run_fn, methods=methods, tricks=tricks, settings=settings, max_epochs=max_epochs,
                           seeds=seeds)


class LatencyPanel(widgets.VBox):
    """Notebook 15's panel: pick a network, a mask, a sparsity, a batch size and threads, press
    Measure, and read dense vs masked-dense vs exported latency (`sparsekit.export.latency`)."""

    def __init__(self, models: Sequence[str] = ("resnet20", "resnet18", "vgg16"), width: float = 1.0,
                 input_size: int = 32, rounds: int = 7, measure_fn: Optional[Callable] = None):
        from ..export.latency import measure

        self.measure_fn = measure_fn or measure
        self.width, self.input_size, self.rounds = width, input_size, rounds
        self.model = widgets.Dropdown(options=list(models), description="network")
        self.method = widgets.Dropdown(options=["random", "erk", "snip"], description="mask")
        self.sparsity = widgets.FloatSlider(value=0.98, min=0.5, max=0.99, step=0.01, description="sparsity",
                                            readout_format=".2f", continuous_update=False)
        self.batch = widgets.Dropdown(options=[1, 8, 64], value=1, description="batch")
        self.threads = widgets.BoundedIntText(value=1, min=1, max=64, description="threads")
        self.measure_button = widgets.Button(description="Measure", button_style="primary", icon="clock-o")
        self.status = widgets.HTML(value="Choose settings and press <b>Measure</b>.")
        self.row = None
        self.measure_button.on_click(lambda _button: self.measure())
        super().__init__([widgets.HBox([self.model, self.method, self.sparsity]),
                          widgets.HBox([self.batch, self.threads, self.measure_button]), self.status])

    def measure(self) -> dict:
        """What pressing Measure does; returns the measured row."""
        self.measure_button.disabled = True
        self.status.value = "exporting and timing..."
        try:
            self.row = self.measure_fn(self.model.value, self.method.value, float(self.sparsity.value),
                                       int(self.batch.value), int(self.threads.value), self.rounds,
                                       width=self.width, input_size=self.input_size)
        finally:
            self.measure_button.disabled = False
        r = self.row
        self.status.value = (f"dense {r['dense_ms']:.2f} ms, masked-dense {r['masked_ms']:.2f} ms, exported "
                             f"{r['exported_ms']:.2f} ms (<b>{r['ratio']:.2f}x</b> dense; {r['sparse_layers']} of "
                             f"{r['layers']} layers sparse); file {r['dense_bytes'] / r['file_bytes']:.1f}x smaller")
        return self.row


def latency_panel(**options) -> LatencyPanel:
    """Notebook 15's latency panel (options: models, width, input_size, rounds, measure_fn)."""
    return LatencyPanel(**options)
