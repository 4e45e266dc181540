"""`sparsekit report DIR`: the runs under DIR as a markdown table (mean ± std over seeds, and
recipe − default paired by seed where recipes vary), a CSV of every run, and the standard
figures: accuracy vs sparsity per mask, and the recipes' paired differences."""
from pathlib import Path
from typing import List

from ..core.errors import SparsekitError
from ..training.run_dir import check_location
from .tables import METRIC, load, mean_std, paired_differences

# Settings that differ between runs without being what a table compares.
NOT_COMPARED = {"seed", "out", "resume", "overwrite", "progress", "data_root", "download", "mask_file", "device"}


def compared_columns(runs) -> List[str]:
    """The settings that vary among the finished runs (the recipe by its label), in a stable order."""
    settings = [c for c in runs.columns if c not in NOT_COMPARED and not c.startswith("recipe.")
                and c in _setting_names() and runs[c].astype(str).nunique() > 1]
    preferred = [c for c in ("mask", "sparsity", "recipe") if c in settings]
    return preferred + [c for c in settings if c not in preferred]


def _setting_names():
    from ..training.config import config_fields

    return {name for name, *_ in config_fields()} | {"recipe"}


def write_report(directory, out=None, metric: str = METRIC) -> str:
    """Write report.md, results.csv and the figures into `out` (default: `directory`);
    returns the markdown table."""
    runs = load(directory)
    out = Path(out or directory)
    check_location(out, "report out")  # a file, or a folder under one, fails before anything is written
    if not isinstance(metric, str) or metric not in runs.columns:  # before results.csv, not after it
        raise SparsekitError(f"no column {metric!r} in the runs table; columns are: {', '.join(runs.columns)}")
    out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(out / "results.csv", index=False)
    finished = runs[runs["status"] == "finished"]
    if finished.empty:
        raise SparsekitError(f"no finished runs under {directory}; results.csv lists what is there")
    by = compared_columns(finished)
    table = mean_std(finished, by=by or ["recipe"], metric=metric)
    lines = [f"# Runs under {directory}", "",
             f"{len(finished)} finished of {len(runs)} runs; {metric}: mean ± std over seeds (n runs).", "",
             _markdown(table, by or ["recipe"], lambda r: f"{r['mean']:.4f} ± {_std(r['std'])}", "n")]
    paired = None
    if "recipe" in by and (finished["recipe"] == "default").any():
        cells = [c for c in by if c != "recipe"]
        paired = paired_differences(finished, by=cells, metric=metric)
        lines += ["", "Recipe − default, paired by seed (same init, same mask): mean [95% t-interval].", "",
                  _markdown(paired, cells + ["recipe"], _interval, "n")]
    lines += _effective_densities(finished, by or ["recipe"])
    lines += _cut_runs(finished)
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text)
    _figures(finished, table, paired, out, metric)
    return text


def _effective_densities(finished, by: List[str]) -> List[str]:
    """Beside the accuracies, the density of the kept weights some path uses (records that say it):
    methods compared at one nominal sparsity can differ in the weights they actually use."""
    if "effective_density" not in finished or finished["effective_density"].isna().all():
        return []
    known = finished.dropna(subset=["effective_density"])
    table = known.groupby(list(by), dropna=False)["effective_density"].agg(["mean", "count"]).reset_index()
    return ["", "Effective density at the start (the kept weights some path from input to output uses), mean over "
                "the runs whose records say it:", "",
            _markdown(table.rename(columns={"count": "n"}), by, lambda r: f"{r['mean']:.4f}", "n")]


def _cut_runs(finished) -> List[str]:
    """A note naming the runs whose starting mask left no path from input to output: their
    accuracy is chance whatever the recipe, and it sits in the means above."""
    if "path_from_input" not in finished:
        return []
    cut = sorted(finished.loc[finished["path_from_input"].astype(object).eq(False), "run"])
    if not cut:
        return []
    return ["", f"{len(cut)} run(s) trained a mask that cuts the network (no path of kept weights from input to "
                f"output; their output cannot depend on the input), included above: {', '.join(cut[:10])}"
                f"{', ...' if len(cut) > 10 else ''}."]


def _std(value) -> str:
    return "n/a" if value != value else f"{value:.4f}"  # NaN: one run


def _interval(row) -> str:
    if row["ci95"] != row["ci95"]:  # NaN: the verdict rule gives no interval (too few pairs)
        return f"{row['mean']:+.4f} (n={int(row['n'])}, no interval)"
    return f"{row['mean']:+.4f} [{row['mean'] - row['ci95']:+.4f}, {row['mean'] + row['ci95']:+.4f}]"


def _markdown(frame, keys, value, count) -> str:
    headers = list(keys) + ["value", count]
    rows = [[_cell(row[k]) for k in keys] + [value(row), str(int(row[count]))] for _, row in frame.iterrows()]
    return "\n".join(["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)] +
                     ["| " + " | ".join(r) + " |" for r in rows])


def _cell(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _figures(finished, table, paired, out: Path, metric: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if {"mask", "sparsity"} <= set(table.columns) and table["sparsity"].nunique() > 1:
        fig, ax = plt.subplots(figsize=(6, 4))
        series = ["mask"] + (["recipe"] if "recipe" in table.columns else [])
        for key, rows in table.groupby(series):
            rows = rows.sort_values("sparsity")
            ax.errorbar(rows["sparsity"], rows["mean"], yerr=rows["std"].fillna(0), capsize=3, marker="o",
                        label=" / ".join(map(str, key if isinstance(key, tuple) else (key,))))
        ax.set_xlabel("sparsity")
        ax.set_ylabel(metric)
        ax.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(out / "accuracy_vs_sparsity.png", dpi=120)
        plt.close(fig)
    if paired is not None and not paired.empty:
        fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(paired)), 4))
        labels = [" ".join(_cell(v) for v in row.drop(["mean", "std", "n", "ci95"]).tolist())
                  for _, row in paired.iterrows()]
        ax.bar(range(len(paired)), paired["mean"], yerr=paired["ci95"].fillna(0), capsize=3)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(paired)), labels, rotation=60, ha="right", fontsize="small")
        ax.set_ylabel(f"{metric}: recipe − default")
        fig.tight_layout()
        fig.savefig(out / "recipe_deltas.png", dpi=120)
        plt.close(fig)
