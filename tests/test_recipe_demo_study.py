"""`make demo` and the recipe study, in tiny configurations."""
import csv
import importlib.util
import json
import statistics
from pathlib import Path

import pytest
import torch

from sparsekit import demo

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]


def test_demo_table_figure_and_records(tmp_path, monkeypatch, capsys):
    for label in ("tost", "tost_keep"):
        monkeypatch.setitem(demo.DEMO_RECIPES, label, demo.DEMO_RECIPES[label].with_changes(init_iterations=2))
    rows = demo.run_demo(out=tmp_path, epochs=1, methods=["random", "snip", "no-such-method"], sparsities=(0.9,),
                         max_batches=2)
    assert [(r["method"], r["sparsity"]) for r in rows] == [("random", 0.9), ("snip", 0.9)]
    for row in rows:
        default = json.loads((tmp_path / f"{row['method']}-0.9-default" / "record.json").read_text())
        tost = json.loads((tmp_path / f"{row['method']}-0.9-tost" / "record.json").read_text())
        assert row["default_acc"] == default["best_val_test_acc"] and row["tost_acc"] == tost["best_val_test_acc"]
        assert row["tost_delta"] == pytest.approx(tost["best_val_test_acc"] - default["best_val_test_acc"])
        assert default["recipe"]["init"] == "none" and tost["recipe"]["init"] == "gradinit"
        keep = json.loads((tmp_path / f"{row['method']}-0.9-tost_keep" / "record.json").read_text())
        assert row["tost_keep_acc"] == keep["best_val_test_acc"] and keep["recipe"]["ghost_skip_mode"] == "keep"
    assert (tmp_path / "demo.png").stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "default acc" in printed and "tost acc" in printed and "tost_keep delta" in printed


def _study_module():
    spec = importlib.util.spec_from_file_location("recipe_study", ROOT / "benchmarks" / "recipe_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_study_tiny_grid_writes_csv_summary_and_figure_and_resumes(tmp_path, monkeypatch):
    study = _study_module()
    argv = ["--out", str(tmp_path), "--epochs", "1", "--max-batches", "1", "--seeds", "2", "--methods", "random",
            "--sparsities", "0.9,0.95", "--init-iterations", "1"]
    assert study.main(argv) == 0
    with open(tmp_path / "study.csv") as handle:
        rows = list(csv.DictReader(handle))
    # per seed: default + tost at 0.9; default + tost + 4 tricks alone at 0.95
    assert len(rows) == 2 * (2 + 6)
    assert {r["recipe"] for r in rows} == {"default", "tost", "ghost_neurons", "ghost_skip", "init", "label_smoothing"}
    with open(tmp_path / "summary.csv") as handle:
        summary = {(r["sparsity"], r["recipe"]): r for r in csv.DictReader(handle)}
    values = [float(r["accuracy"]) for r in rows if (r["sparsity"], r["recipe"]) == ("0.95", "tost")]
    assert float(summary[("0.95", "tost")]["mean"]) == pytest.approx(sum(values) / 2)
    assert float(summary[("0.95", "tost")]["std"]) == pytest.approx(statistics.stdev(values))
    assert (tmp_path / "study.png").stat().st_size > 1000
    table = (tmp_path / "table.md").read_text().splitlines()
    assert table[0] == "| mask | sparsity | default | tost | tost - default |" and len(table) == 2 + 2
    tost_095 = summary[("0.95", "tost")]
    default_095 = summary[("0.95", "default")]
    assert table[3].endswith(f"| {float(tost_095['mean']) - float(default_095['mean']):+.4f} |")
    tricks = (tmp_path / "tricks.md").read_text().splitlines()
    assert tricks[0] == ("| mask (sparsity 0.95) | default | ghost_neurons | ghost_skip | init | label_smoothing "
                         "| tost |") and tricks[-1].startswith("| mean over masks |")
    # every run of a cell trains the mask its default run computed
    masks = [torch.load(tmp_path / "runs" / f"random-0.95-seed0-{label}" / "mask.pt")["mask"]
             for label in ("default", "tost", "init")]
    assert all(torch.equal(masks[0][n], m[n]) for m in masks[1:] for n in masks[0])

    def no_training(**_):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(study, "train", no_training)
    assert study.main(argv) == 0  # everything read back from the finished runs
    with open(tmp_path / "study.csv") as handle:
        assert list(csv.DictReader(handle)) == rows


def test_study_keep_mode_adds_the_release_variant_at_every_sparsity(tmp_path):
    study = _study_module()
    argv = ["--out", str(tmp_path), "--epochs", "1", "--max-batches", "1", "--seeds", "1", "--methods", "random",
            "--sparsities", "0.9,0.95", "--init-iterations", "1", "--no-tricks", "--keep-mode"]
    assert study.main(argv) == 0
    with open(tmp_path / "study.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((r["sparsity"], r["recipe"]) for r in rows) == [
        ("0.9", "default"), ("0.9", "tost"), ("0.9", "tost_keep"),
        ("0.95", "default"), ("0.95", "tost"), ("0.95", "tost_keep")]
    record = json.loads((tmp_path / "runs" / "random-0.9-seed0-tost_keep" / "record.json").read_text())
    assert record["recipe"]["ghost_skip_mode"] == "keep" and record["recipe"]["ghost_neurons_mode"] == "keep"
