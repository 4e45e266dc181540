"""Run records as a DataFrame: one row per run (settings and metrics), grouped mean ± std,
recipe − default paired by seed, and `sparsekit report DIR` writing its files."""
import json
import math

import pytest

import sparsekit as sk
from sparsekit.app.cli import main

# (mask, sparsity, seed, recipe) -> accuracy; tost is default + 0.01 * (seed + 1).
ACCURACY = {(m, s, seed, r): 0.5 + 0.1 * (m == "snip") - s / 10 + 0.01 * seed + (0.01 * (seed + 1) if r == "tost" else 0)
            for m in ("random", "snip") for s in (0.9, 0.98) for seed in (0, 1, 2) for r in ("default", "tost")}


def write_runs(root):
    for (mask, sparsity, seed, recipe), accuracy in ACCURACY.items():
        folder = root / f"{mask}-{sparsity:g}-seed{seed}-{recipe}"
        folder.mkdir(parents=True)
        record = {"finished": True, "config": {"mask": mask, "sparsity": sparsity, "seed": seed, "dataset": "digits",
                                               "epochs": 2},
                  "recipe": sk.Recipe.preset(recipe).to_dict(), "epochs": [{}, {}], "density": 1 - sparsity,
                  "sparsity": sparsity, "test_acc": accuracy, "best_val_test_acc": accuracy, "seconds": 1.0,
                  "sweep": {"name": folder.name, "labels": {"recipe": recipe}}}
        (folder / "record.json").write_text(json.dumps(record))
    failed = root / "grasp-0.9-seed0-default"
    failed.mkdir()
    (failed / "error.txt").write_text("Traceback (most recent call last):\nRuntimeError: out of memory\n")


def test_load_means_and_paired_differences(tmp_path):
    write_runs(tmp_path)
    runs = sk.results.load(tmp_path)
    assert len(runs) == 25 and (runs["status"] == "failed").sum() == 1
    assert runs.loc[runs["status"] == "failed", "error"].item() == "RuntimeError: out of memory"
    assert {"mask", "sparsity", "seed", "recipe", "recipe.label_smoothing", "best_val_test_acc",
            "achieved_sparsity", "epochs_done"} <= set(runs.columns)
    table = sk.results.mean_std(runs)
    row = table[(table["mask"] == "snip") & (table["sparsity"] == 0.9) & (table["recipe"] == "default")].iloc[0]
    assert row["n"] == 3 and row["mean"] == pytest.approx(0.6 - 0.09 + 0.01) and row["std"] == pytest.approx(0.01)
    paired = sk.results.paired_differences(runs)
    assert len(paired) == 4 and set(paired["recipe"]) == {"tost"}
    first = paired.iloc[0]
    assert first["mean"] == pytest.approx(0.02) and first["std"] == pytest.approx(0.01) and first["n"] == 3
    assert first["ci95"] == pytest.approx(4.302653 * 0.01 / math.sqrt(3), rel=1e-5)


def test_report_command_writes_table_csv_and_figures(tmp_path, capsys):
    write_runs(tmp_path / "runs")
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "report")]) == 0
    printed = capsys.readouterr().out
    assert "| mask | sparsity | recipe |" in printed and "+0.0200 [" in printed
    assert "Effective density" not in printed  # no record says it: no table of it
    for name in ("report.md", "results.csv", "accuracy_vs_sparsity.png", "recipe_deltas.png"):
        assert (tmp_path / "report" / name).is_file(), name


def test_the_report_names_the_runs_whose_mask_cut_the_network(tmp_path, capsys):
    write_runs(tmp_path / "runs")
    cut = tmp_path / "runs" / "random-0.98-seed1-default" / "record.json"
    record = json.loads(cut.read_text())
    cut.write_text(json.dumps({**record, "analysis": {"path_from_input_at_start": False,
                                                      "effective_density_at_start": 0.0}}))
    runs = sk.results.load(tmp_path / "runs")
    assert runs.loc[runs["run"] == "random-0.98-seed1-default", "path_from_input"].item() is False
    assert runs.loc[runs["run"] == "random-0.98-seed1-default", "effective_density"].item() == 0.0
    assert runs["path_from_input"].isna().sum() == 24  # records that do not say (older ones, failed runs)
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "report")]) == 0
    printed = capsys.readouterr().out
    assert ("1 run(s) trained a mask that cuts the network (no path of kept weights from input to output; their "
            "output cannot depend on the input), included above: random-0.98-seed1-default.") in printed
    # only the one record that says its effective density is averaged, in its own cell
    assert "Effective density at the start" in printed and "| random | 0.98 | default | 0.0000 | 1 |" in printed


def test_report_of_a_folder_without_runs_is_one_error_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: no runs under")
