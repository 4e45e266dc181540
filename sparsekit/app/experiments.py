"""Experiments as plain function calls: what the notebooks and the widget panel run.

The widget panel (`sparsekit.app.widgets`) is a thin front over this module, so a notebook run
headless by papermill and a person clicking "Run" execute exactly the same code:

    settings = ExperimentSettings(mask="snip", sparsity=0.9, tricks=("label_smoothing",))
    record = run_experiment(settings, on_epoch=lambda row, history: print(row["test_acc"]))

No ipywidgets here: this module must import on a machine without a notebook frontend.
"""
import dataclasses
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

from ..core.errors import SparsekitError
from ..core.callbacks import Callback
from ..runs import train
from ..sparsity.settings import SparsitySettings
from ..recipe import TRICKS, trick_name
from ..training.config import TrainConfig, make_config, setting_fields
from ..training.record import RunRecord

# The experiment settings that choose the recipe (the rest are `TrainConfig` settings).
RECIPE_SETTINGS = ("tricks", "recipe_options")
EpochHook = Callable[[dict, list], None]  # (this epoch's row, every row so far)
StepHook = Callable[[int, int], None]  # (finished steps, total steps)


# The settings a notebook sets, with the course's quick defaults; each takes its type, help
# and checks from `TrainConfig`'s declaration, and the rest keep TrainConfig's defaults.
COURSE_DEFAULTS = {"dataset": "digits", "model": "resnet20", "width": 0.25, "mask": "random",
                   "sparsity": SparsitySettings.sparsity,  # TrainConfig's: a pattern sets it when left alone
                   "mask_options": None, "distribution": None, "pattern": None, "prune_first_layer": True,
                   "epochs": 10, "seed": 0, "batch_size": 128, "max_batches": None, "progress": False}


class _ExperimentChecks:
    def __post_init__(self):
        # A list from a notebook parameter works as well as a tuple.
        object.__setattr__(self, "tricks", tuple(trick_name(name) for name in self.tricks))
        unknown = [name for name in self.tricks if name not in TRICKS]
        if unknown:
            raise SparsekitError(f"unknown recipe trick {unknown[0]!r}; tricks are: {', '.join(TRICKS)}")
        self.to_config()  # every value checked as TrainConfig checks it, the recipe's too

    def to_config(self) -> TrainConfig:
        """The one `TrainConfig` this experiment stands for, its recipe section included."""
        recipe = recipe_for(self.tricks, self.recipe_options)
        return make_config(**train_settings(self), **({} if recipe is None else {"recipe": recipe}))


def _declared_fields():
    declared = {f.name: f for _, f in setting_fields()}
    for name, default in COURSE_DEFAULTS.items():
        meta = declared[name].metadata
        yield name, declared[name].type, dataclasses.field(default=default, metadata=meta)


ExperimentSettings = dataclasses.make_dataclass(
    "ExperimentSettings",
    [*_declared_fields(),
     ("tricks", Tuple[str, ...], dataclasses.field(default=(), metadata={"help": "recipe tricks switched on, by "
                                                                           "name (sparsekit.recipe.TRICKS)"})),
     # `Recipe` fields changed on top of the tricks' paper values, e.g. {"init_iterations": 20}.
     ("recipe_options", Mapping[str, Any], dataclasses.field(default_factory=dict))],
    bases=(_ExperimentChecks,), frozen=True)
ExperimentSettings.__module__ = __name__
ExperimentSettings.__doc__ = ("One training run as a notebook describes it: `TrainConfig` settings, by the same names, "
                              "with the course's defaults (`COURSE_DEFAULTS`), recipe tricks by name, and recipe field "
                              "changes; `to_config()` is the one TrainConfig it stands for, recipe section included.")


_dataclass_init = ExperimentSettings.__init__


def _refuse_unknown(names) -> None:
    known = [f.name for f in dataclasses.fields(ExperimentSettings)]
    unknown = sorted(set(names) - set(known))
    if unknown:
        elsewhere = " (a TrainConfig setting the course leaves at its default: set it with sk.train)" if any(
            unknown[0] == f.name for _, f in setting_fields()) else ""
        if unknown[0] == "method":  # a natural word for it; the setting is TrainConfig's `mask`
            elsewhere = " (the mask method is the setting 'mask', as in sk.train)"
        raise SparsekitError(f"unknown experiment setting {unknown[0]!r}{elsewhere}; settings are: {', '.join(known)}")


def _checked_init(self, *args, **values):
    _refuse_unknown(values)  # one line, not Python's TypeError
    _dataclass_init(self, *args, **values)


ExperimentSettings.__init__ = _checked_init
SettingsLike = Union[ExperimentSettings, Mapping]


def make_settings(settings: Optional[SettingsLike] = None, **changes) -> ExperimentSettings:
    """`ExperimentSettings` from an instance, a dict, or keywords (unknown names are an error)."""
    if settings is None:
        settings = ExperimentSettings()
    elif isinstance(settings, Mapping):
        settings = replace_settings(ExperimentSettings(), **dict(settings))
    elif not isinstance(settings, ExperimentSettings):
        raise SparsekitError(f"settings must be an ExperimentSettings or a dict, got {type(settings).__name__}")
    return replace_settings(settings, **changes)


def replace_settings(settings: ExperimentSettings, **changes) -> ExperimentSettings:
    _refuse_unknown(changes)
    return dataclasses.replace(settings, **changes)


def recipe_from_toggles(options: Optional[Mapping[str, Any]] = None, **switched_on: bool):
    """The `sparsekit.Recipe` with exactly the switched-on tricks (`ghost_skip=True`, ... one
    keyword per name in `sparsekit.recipe.TRICKS`), each at the paper's values (those of
    `Recipe.tost()`); all off gives `Recipe.default()`. `options` then change single `Recipe`
    fields (e.g. {"init_iterations": 20, "ghost_neurons": "mish"})."""
    from ..recipe import Recipe

    return Recipe.default().with_tricks([name for name, on in switched_on.items() if on], options)


def recipe_for(tricks: Iterable[str], options: Optional[Mapping] = None):
    """The recipe of a list of trick names and `Recipe` field changes (which apply with or
    without tricks), or None (plain training, exactly as without a recipe) when both are empty."""
    tricks = tuple(tricks)
    if not tricks and not options:
        return None
    return recipe_from_toggles(**{name: True for name in tricks}, options=options)


def _recipe_of(settings: ExperimentSettings):
    return recipe_for(settings.tricks, settings.recipe_options)


class LiveReport(Callback):
    """Forwards training progress to plain functions (a progress bar, a live plot, a print)."""

    def __init__(self, on_epoch: Optional[EpochHook] = None, on_step: Optional[StepHook] = None):
        self.on_epoch, self.on_step_hook = on_epoch, on_step
        self.history: list = []

    def on_run_start(self, state) -> None:
        if self.on_step_hook is not None:
            self.on_step_hook(state.step, state.total_steps)

    def on_step(self, state) -> None:
        if self.on_step_hook is not None:
            self.on_step_hook(state.step, state.total_steps)

    def on_epoch_end(self, state) -> None:
        self.history.append(dict(state.epoch_record))
        if self.on_epoch is not None:
            self.on_epoch(dict(state.epoch_record), list(self.history))


def run_experiment(settings: Optional[SettingsLike] = None, on_epoch: Optional[EpochHook] = None,
                   on_step: Optional[StepHook] = None, callbacks: Iterable[Callback] = (), data=None,
                   **changes) -> RunRecord:
    """Train one masked network as `settings` say; returns the run record (with .model, .mask).

    `on_epoch(row, history)` is called after every epoch, `on_step(done, total)` after every
    optimizer step; `changes` override single settings (`run_experiment(s, sparsity=0.5)`).
    """
    config = make_settings(settings, **changes).to_config()
    return train(config, callbacks=[LiveReport(on_epoch, on_step), *callbacks], data=data)


def train_settings(settings: ExperimentSettings) -> Dict[str, Any]:
    """The `train` settings an experiment stands for (the recipe apart)."""
    return {name: getattr(settings, name) for name in COURSE_DEFAULTS}


def run_grid(settings: SettingsLike, rows: Mapping[str, Mapping],
             columns: Mapping[str, Mapping]) -> Dict[str, Dict[str, RunRecord]]:
    """{row: {column: record}}: every row's settings (e.g. a mask) trained with every column's
    recipe (its `tricks` and `recipe_options`), each row's mask computed once and trained by
    every column from the same initialisation: one `sweep` in this process, its recipe axis
    the columns."""
    base = make_settings(settings)
    for kind, table, allowed in (("column", columns, True), ("row", rows, False)):
        for label, changes in table.items():
            wrong = sorted(set(changes) - set(RECIPE_SETTINGS) if allowed else set(changes) & set(RECIPE_SETTINGS))
            if wrong:
                raise SparsekitError(f"grid {kind} {label!r} changes {wrong[0]!r}; columns choose the recipe "
                                     f"({', '.join(RECIPE_SETTINGS)}) and rows everything else")
    recipes = {str(column): _recipe_of(make_settings(base, **dict(changes))) for column, changes in columns.items()}
    cells = {row: make_settings(base, **dict(changes)) for row, changes in rows.items()}
    records = sweep_here(cells, recipes=recipes)
    return {row: {column: records[f"{row}-{column}"] for column in columns} for row in rows}


def run_variants(settings: SettingsLike, variants: Mapping[str, Mapping]) -> Dict[str, RunRecord]:
    """One run per labelled variant, each `settings` with the variant's changes applied.

        run_variants(base, {"dense": {"sparsity": 0.0}, "random": {}, "ERK": {"mask": "erk"}})
    """
    base = make_settings(settings)
    records = sweep_here({label: make_settings(base, **dict(changes)) for label, changes in variants.items()})
    return {label: records[str(label)] for label in variants}


def sweep_here(cells: Mapping[Any, ExperimentSettings], seeds: Optional[Sequence[int]] = None,
               recipes: Optional[Mapping[str, Any]] = None, progress: Optional[bool] = None) -> Dict[str, RunRecord]:
    """Each experiment trained through `sweep` in this process (the records keep their model
    and mask for the notebook's figures), by run name (`str(key)`, then `-seed<N>` for each of
    `seeds`, then `-<label>` for each of `recipes`, which replace the experiments' own
    recipe); one progress bar for the lot; the first failure is raised."""
    from .sweeps import sweep

    owned = {"progress"} | ({"seed"} if seeds is not None else set())  # the sweep's own, per run
    points = [dict({k: v for k, v in train_settings(cell).items() if k not in owned},
                   **({} if recipes is not None else {"recipe": _recipe_of(cell)})) for cell in cells.values()]
    if progress is None:
        progress = any(cell.progress for cell in cells.values())
    result = sweep(points, backend="inline", name=[str(key) for key in cells], seeds=seeds, recipes=recipes,
                   progress=progress)
    if result.failures:
        raise SparsekitError(f"run {result.failures[0]['name']!r} failed: {result.failures[0]['error']}")
    return result.records
