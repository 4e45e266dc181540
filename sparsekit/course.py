"""Everything the course notebooks call, in one namespace: `from sparsekit.course import ...`.

The notebooks are thin: settings, a run, a table, a figure, a verdict. What they call lives in
the layers below (experiments and checks in `app/`, tables, plots and verdicts in `report/`,
the tricks' own functions in `recipe/`); this module only gathers it, so a notebook names one
module and the layers stay free to move their code. The widget panels import ipywidgets, so
they load when a notebook asks for one (INTERACTIVE=True), not when this module is imported.
"""
from pathlib import Path
from typing import Optional

from . import analysis, masks  # noqa: F401
from .analysis import spectral, spectral_plots  # noqa: F401
from .app import course_map, notebook_warnings  # noqa: F401
from .core.errors import SparsekitError  # noqa: F401
from .app.experiments import (ExperimentSettings, make_settings, run_experiment, run_grid,  # noqa: F401
                              run_variants)
from .app.notebook_runner import course_folder
from .app.parameter_checks import check_counts, check_each, check_recipes, check_settings  # noqa: F401
from .app.scratch_masks import (engine_lottery_round, engine_update, same_mask, same_values,  # noqa: F401
                                starting_point)
from .app.seeded import compare_recipes, flatten_seeded, flatten_variants, run_variants_over_seeds  # noqa: F401
from .export.fold import fold_conv_bn  # noqa: F401
from .export.latency import measure  # noqa: F401
from .export.onnx_latency import compare_with_onnxruntime  # noqa: F401
from .export.plots import plot_break_even  # noqa: F401
from .export.structure_mask import structure_matched_mask  # noqa: F401
from .models.traced import conv_bn_pairs  # noqa: F401
from .models.units import ConvBN  # noqa: F401
from .recipe import TRICKS  # noqa: F401
from .recipe.ghost_neurons import GhostNeurons, smooth_function  # noqa: F401
from .recipe.ghost_skip import GhostBranch, ghost_sites  # noqa: F401
from .recipe.gradinit import WEIGHT_FLOOR  # noqa: F401
from .recipe.gradinit_rule import RescaleAdam, scale_floors, scale_gradient  # noqa: F401
from .recipe.label_smoothing import SmoothedCrossEntropy, smoothed_targets  # noqa: F401
from .recipe.scaled_init import scale_by_density  # noqa: F401
from .recipe.phase import ghost_strength  # noqa: F401
from .report.addendum_answer import AddendumAnswer, find_addendum_answer
from .report.answer import StudyAnswer, find_answer
from .report.answer_figure import plot_study_answer  # noqa: F401
from .report.plots import (plot_accuracy_curves, plot_final_accuracy, plot_grouped_accuracy,  # noqa: F401
                           plot_seeded_accuracy)
from .report.results import (comparison_table, flatten_grid, notebook_result, save_figure,  # noqa: F401
                             write_result)
from .report.study_evidence import ANSWER_FILE, read_answer, study_evidence
from .report.verdict import claim_and_measurement, paired_verdict, verdict_against  # noqa: F401
from .runs.lottery import round_sparsities  # noqa: F401
from .runs.mask_sources import describe as describe_masks  # noqa: F401
from .sparsity import patterns  # noqa: F401

# The converged study's committed records, beside the course in the checkout, and its addendum's (issue 52).
CONVERGED_STUDY = Path("benchmarks") / "results" / "study-converged"
STUDY_ADDENDUM = Path("benchmarks") / "results" / "study-addendum"


def study_answer() -> Optional[StudyAnswer]:
    """The converged study's answer (`answer.json` in its folder: the verdict sentence and every
    cell's paired difference), read through the package so it shows however JupyterLab was
    started; None, with one line saying so, where this checkout has no answer yet."""
    found = find_answer(course_folder().resolve().parent / CONVERGED_STUDY)
    if found is None:
        print(f"No answer from the converged study in this checkout ({(CONVERGED_STUDY / 'answer.json').as_posix()} "
              "is missing): its verdict and figure cannot be shown here.")
    return found


def addendum_standing() -> Optional[AddendumAnswer]:
    """Where the converged study's addendum stands, read through the package from its
    `answer.json`: runs finished of planned, then, until the plan's headline items (3-5) have all
    finished, each finished cell's verdict in a line (or that none is finished yet); once they
    have, their corrected verdict as tables and the addendum's figure. One line where this
    checkout has no answer."""
    folder = course_folder().resolve().parent / STUDY_ADDENDUM
    found = find_addendum_answer(folder)
    if found is None:
        print(f"No answer from the study's addendum in this checkout ({(STUDY_ADDENDUM / 'answer.json').as_posix()} "
              "is missing): where it stands cannot be shown here.")
        return None
    print(found.progress_line())
    report = f"The report: {(STUDY_ADDENDUM / 'report.md').as_posix()}."
    if not found.headline_complete:
        print(f"{found.cells_line()} {report}")
        return found
    from IPython.display import Image, Markdown, display

    items = ", ".join(map(str, found.headline_items))
    # The answer first: its sentence, then the figure that shows it, then the tables.
    display(Markdown(f"**The addendum's corrected verdict** (its headline items, {items}, have all finished; every "
                     f"cell is in the report). {found.sentence} {found.items_line()}"))
    if (folder / "verdict.png").is_file():
        display(Image(filename=str(folder / "verdict.png")))
    display(Markdown(found.verdict_markdown()))
    print(report)
    return found


def panel(*args, **kwargs):
    """The experiment panel (`app.widgets.panel`): sliders for sparsity, toggles for the tricks."""
    from .app.widgets import panel as make

    return make(*args, **kwargs)


def latency_panel(*args, **kwargs):
    """The export latency panel (`app.widgets.latency_panel`)."""
    from .app.widgets import latency_panel as make

    return make(*args, **kwargs)


def converged_study(arms) -> str:
    """What the committed converged study says about `arms` against plain training (markdown
    read from its committed files: no training), for a notebook to show beside its own small run."""
    return study_evidence(course_folder().resolve().parent / CONVERGED_STUDY, list(arms))


def converged_answer() -> dict:
    """The committed converged study's answer file (`answer.json`, format
    `sparsekit-study-answer/1`): its verdict sentence, the cells and the pooled lines."""
    return read_answer(course_folder().resolve().parent / CONVERGED_STUDY / ANSWER_FILE)
