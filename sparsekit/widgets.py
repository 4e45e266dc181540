"""The notebooks' "try it yourself" panel: pick a mask method, a sparsity and recipe tricks,
press Run, and watch a progress bar and a live accuracy plot; and notebook 15's latency panel.

The panel only gathers settings and draws; the run itself is a plain function
(`sparsekit.interactive.run_experiment` unless `run_fn` says otherwise), called with an
`on_step` hook that moves the bar and an `on_epoch` hook that redraws the plot. This is the
only module that imports ipywidgets.
"""
import io
from typing import Callable, Optional, Sequence

import ipywidgets as widgets
from IPython import get_ipython
from IPython.display import Image, clear_output, display

from . import masks
from .errors import SparsekitError
from .interactive import TRICKS, ExperimentSettings, make_settings, run_experiment
from .run_plots import plot_accuracy_curves

PLOTTED_METRICS = ("val_acc", "test_acc")


def accuracy_png(history: list, title: str) -> bytes:
    """The live plot as PNG bytes: drawn off-screen (no pyplot), so no figure is left for
    `%matplotlib inline` to display a second time at the end of the cell."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 3.2), dpi=80)
    ax = figure.add_subplot()
    plot_accuracy_curves({"this run": history}, metrics=PLOTTED_METRICS, ax=ax, title=title)
    ax.set_ylim(0, 1.02)
    if history:
        ax.set_xlim(0.5, max(len(history), 1) + 0.5)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


class ExperimentPanel(widgets.VBox):
    """Controls (`sparsity`, `method`, `toggles`, `epochs`, `run_button`), a `progress`
    bar, a `status` line and the `plot` output. `history` holds the epoch rows of the
    latest run, `record` its run record, `redraws` how often the plot was drawn."""

    def __init__(self, run_fn: Optional[Callable] = None, methods: Optional[Sequence[str]] = None,
                 tricks: Optional[Sequence[str]] = None, settings=None, max_epochs: int = 100):
        self.run_fn = run_fn or run_experiment
        self.base = make_settings(settings)
        methods = list(methods) if methods is not None else masks.available()
        if not methods:
            raise SparsekitError("the panel needs at least one mask method")
        # ExperimentSettings validates trick names; the panel offers all of them by default.
        trick_names = list(make_settings(tricks=tricks).tricks) if tricks is not None else list(TRICKS)
        method = self.base.method if self.base.method in methods else methods[0]

        self.sparsity = widgets.FloatSlider(value=self.base.sparsity, min=0.0, max=0.99, step=0.01,
                                            description="sparsity", readout_format=".2f",
                                            continuous_update=False)
        self.method = widgets.Dropdown(options=methods, value=method, description="mask")
        self.toggles = {name: widgets.ToggleButton(value=name in self.base.tricks, description=TRICKS[name],
                                                   tooltip=f"recipe trick: {TRICKS[name]}",
                                                   layout=widgets.Layout(width="auto"))
                        for name in trick_names}
        self.epochs = widgets.BoundedIntText(value=self.base.epochs, min=1, max=max_epochs, description="epochs")
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="training")
        self.status = widgets.HTML(value="Choose settings and press <b>Run</b>.")
        self.plot = widgets.Output()
        self.history: list = []
        self.record = None
        self.redraws = 0
        self.run_button.on_click(self._run_clicked)
        super().__init__([
            widgets.HBox([self.method, self.sparsity]),
            widgets.HBox(list(self.toggles.values())),
            widgets.HBox([self.epochs, self.run_button]),
            self.progress, self.status, self.plot,
        ])

    def settings(self) -> ExperimentSettings:
        """The run the controls describe (the panel's base settings for everything else)."""
        tricks = tuple(name for name, toggle in self.toggles.items() if toggle.value)
        return make_settings(self.base, method=self.method.value, sparsity=float(self.sparsity.value),
                             epochs=int(self.epochs.value), tricks=tricks)

    def run(self):
        """What pressing Run does; returns the run record (None if the settings were refused)."""
        settings = self.settings()
        self.history, self.record = [], None
        self.progress.value, self.progress.max = 0, 1
        self.run_button.disabled = True
        self.status.value = (f"training {settings.model} with a {settings.method} mask at sparsity "
                             f"{settings.sparsity:.2f}...")
        self._draw()
        try:
            self.record = self.run_fn(settings, on_epoch=self._epoch_done, on_step=self._step_done)
        except SparsekitError as exc:  # a refused setting is shown, not thrown into the widget log
            self.status.value = f"<span style='color:#b00'>error: {exc}</span>"
            return None
        finally:
            self.run_button.disabled = False
        self.status.value = (f"done: density {self.record['density']:.4f}, test accuracy at the best "
                             f"validation epoch {self.record['best_val_test_acc']:.3f}")
        return self.record

    def _run_clicked(self, _button) -> None:
        self.run()

    def _step_done(self, done: int, total: int) -> None:
        self.progress.max = max(total, 1)
        self.progress.value = min(done, self.progress.max)

    def _epoch_done(self, row: dict, history: list) -> None:
        self.history = list(history)
        self._draw()

    def _draw(self) -> None:
        self.redraws += 1
        if get_ipython() is None:  # headless (scripts, tests): nothing could show the image
            return
        settings = self.settings()
        png = accuracy_png(self.history, f"{settings.method}, sparsity {settings.sparsity:.2f}")
        with self.plot:
            clear_output(wait=True)
            display(Image(png))


def panel(run_fn: Optional[Callable] = None, methods: Optional[Sequence[str]] = None,
          tricks: Optional[Sequence[str]] = None, settings=None, max_epochs: int = 100) -> ExperimentPanel:
    """The experiment panel. `run_fn(settings, on_epoch=..., on_step=...)` trains (default:
    `run_experiment`); `methods` and `tricks` limit the choices; `settings` (an
    `ExperimentSettings` or dict) sets the starting values and everything the panel does not show."""
    return ExperimentPanel(run_fn=run_fn, methods=methods, tricks=tricks, settings=settings, max_epochs=max_epochs)


class LatencyPanel(widgets.VBox):
    """Notebook 15's panel: pick a network, a mask, a sparsity, a batch size and threads, press
    Measure, and read dense vs masked-dense vs exported latency (`sparsekit.export.latency`)."""

    def __init__(self, models: Sequence[str] = ("resnet20", "resnet18", "vgg16"), width: float = 1.0,
                 input_size: int = 32, rounds: int = 7, measure_fn: Optional[Callable] = None):
        from .export.latency import measure

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
