"""What a notebook reports: a few runs boiled down to the numbers worth comparing, as a
table for people and as JSON for the test suite and for `make notebooks`.

The JSON a notebook writes to its RESULTS_PATH is `notebook_result(...)`: the requested
sparsity, and per run the achieved density and sparsity (from the mask the run trained
with), accuracies, and which recipe tricks were on.
"""
from pathlib import Path
from typing import Any, Dict, Mapping

from ..core import atomic, formats
from .summary import format_table

RESULT_FORMAT = formats.NOTEBOOK_RESULT


def recipe_flags(record: Mapping) -> Dict[str, bool]:
    """Which recipe tricks a run used (a record without a recipe: all off)."""
    from ..recipe import TRICKS, Recipe

    on = Recipe.from_dict(record.get("recipe") or {}).tricks_on()
    return {trick: trick in on for trick in TRICKS}


def run_summary(record: Mapping) -> Dict[str, Any]:
    """The comparable numbers of one run record."""
    config = record["config"]
    kept = sum(row["kept"] for row in record["layers"])
    total = sum(row["total"] for row in record["layers"])
    return {
        "method": record["mask_source"].get("method"),
        "requested_sparsity": config["sparsity"],
        "density": record["density"],
        "sparsity": record["sparsity"],
        "kept": kept,
        "total": total,
        "nonzero_density": record["nonzero_density"],
        "test_acc": record.get("test_acc"),
        "best_val_acc": record.get("best_val_acc"),
        "best_val_test_acc": record.get("best_val_test_acc"),
        "epochs": len(record["epochs"]),
        "seconds": record["seconds"],
        "recipe": recipe_flags(record),
    }


def notebook_result(notebook: str, requested_sparsity: float, runs: Mapping[str, Mapping],
                    **extra) -> Dict[str, Any]:
    """The JSON document a notebook writes: its runs' summaries under their labels."""
    return {"format": RESULT_FORMAT, "notebook": notebook, "requested_sparsity": requested_sparsity,
            "runs": {label: run_summary(record) for label, record in runs.items()}, **extra}


def flatten_grid(grid: Mapping[str, Mapping[str, Mapping]]) -> Dict[str, Mapping]:
    """{row: {column: record}} (from `run_grid`) as {"row / column": record}."""
    return {f"{row} / {column}": record for row, columns in grid.items() for column, record in columns.items()}


def write_result(result: Mapping, path) -> str:
    """Write (atomically, creating folders) and return the path as text for the notebook to show."""
    return str(atomic.write_json(dict(result), path))


def figure_path(results_path) -> Path:
    """Where a notebook's figure goes: beside its results JSON, same name, .png."""
    return Path(results_path).with_suffix(".png")


def save_figure(figure, results_path) -> str:
    """Save `figure` beside the results JSON (creating folders); returns the path as text."""
    path = figure_path(results_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    return str(path)


def comparison_table(runs: Mapping[str, Mapping]) -> str:
    """Runs side by side: label, method, achieved sparsity, final and best-validation test accuracy."""
    headers = ["run", "method", "sparsity", "test_acc", "best_val_test_acc"]
    rows = []
    for label, record in runs.items():
        summary = run_summary(record)
        rows.append([label, summary["method"], summary["sparsity"], summary["test_acc"],
                     summary["best_val_test_acc"]])
    return format_table(headers, rows) + "\n" + ACCURACY_COLUMNS


# The two accuracies sit side by side: said once, under the table that shows them.
ACCURACY_COLUMNS = ("test_acc: test accuracy after the last epoch; best_val_test_acc: test accuracy at the epoch "
                    "with the best validation accuracy (what the figures and verdicts use: the epoch is picked "
                    "without looking at the test set).")


# Run records as tables (pandas), beside the notebook summaries above.
from .tables import load, mean_std, paired_differences  # noqa: E402,F401
