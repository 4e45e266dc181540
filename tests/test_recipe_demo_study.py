"""`make demo` and the recipe study, in tiny configurations."""
import csv
import json
import statistics
from pathlib import Path

import pytest
import torch

from helpers import benchmark_script
import sparsekit as sk
from sparsekit.app import demo

torch.set_num_threads(1)


def test_demo_table_figure_and_records(tmp_path, monkeypatch, capsys):
    for label in ("tost", "tost-release"):
        monkeypatch.setitem(demo.DEMO_RECIPES, label, demo.DEMO_RECIPES[label].with_changes(init_iterations=2))
    rows = demo.run_demo(out=tmp_path, epochs=1, methods=["random", "snip", "no-such-method"], sparsities=(0.9,),
                         seeds=2, max_batches=2)
    assert [(r["method"], r["sparsity"]) for r in rows] == [("random", 0.9), ("snip", 0.9)]
    for row in rows:
        records = {(seed, label): json.loads((tmp_path / f"{row['method']}-0.9-seed{seed}-{label}" /
                                              "record.json").read_text())
                   for seed in (0, 1) for label in ("default", "tost", "tost-release")}
        default = [records[(s, "default")]["best_val_test_acc"] for s in (0, 1)]
        release = [records[(s, "tost-release")]["best_val_test_acc"] for s in (0, 1)]
        assert row["default_mean"] == pytest.approx(statistics.fmean(default))
        assert row["tost-release_mean"] == pytest.approx(statistics.fmean(release))
        assert row["tost-release_delta"] == f"{statistics.fmean(r - d for r, d in zip(release, default)):+.4f}: too few seeds to tell"
        assert records[(1, "default")]["config"]["seed"] == 1 and records[(0, "tost")]["recipe"]["init"] == "gradinit"
        assert records[(0, "tost-release")]["recipe"]["ghost_skip_mode"] == "keep"
    assert (tmp_path / "demo.png").stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "tost-release − default" in printed and "mean ± std over seeds" in printed


def _study_module():
    return benchmark_script("recipe_study", register=True)  # worker processes find run_cell by name


def test_study_tiny_grid_reports_paired_intervals_and_resumes(tmp_path, monkeypatch):
    study = _study_module()
    argv = ["--preset", "digits", "--out", str(tmp_path), "--epochs", "1", "--max-batches", "1", "--seeds", "2",
            "--trick-seeds", "2", "--methods", "random", "--sparsities", "0.9,0.95", "--init-iterations", "1",
            "--workers", "1"]
    assert study.main(argv) == 0
    rows = json.loads((tmp_path / "rows.json").read_text())
    # per seed: default, tost, tost-release at 0.9 and 0.95; the four tricks alone at 0.95
    assert len(rows) == 2 * (3 + 3 + 4)
    assert {r["arm"] for r in rows} == {"default", "tost", "tost-release", *sk.recipe.TRICKS}
    report = (tmp_path / "report.md").read_text()
    pick = {(r["sparsity"], r["arm"], r["seed"]): r["accuracy"] for r in rows}
    diffs = [pick[(0.95, "tost-release", s)] - pick[(0.95, "default", s)] for s in (0, 1)]
    # the paired difference over the two seeds (its interval and verdict: tests/test_study_report.py)
    line = next(l for l in report.splitlines() if l.startswith("| random | 0.95 | tost-release − default |"))
    assert f"| 2 | {statistics.fmean(diffs):+.4f} |" in line
    assert report.startswith("# Short-schedule result") and "## Short schedule: verdict" in report
    assert (tmp_path / "study.png").stat().st_size > 1000
    # every run of a cell trains the mask its default run computed
    masks = [torch.load(tmp_path / "runs" / f"random-0.95-seed0-{label}" / "mask.pt")["mask"]
             for label in ("default", "tost", "init")]
    assert all(torch.equal(masks[0][n], m[n]) for m in masks[1:] for n in masks[0])

    def no_training(**_):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr("sparsekit.train", no_training)
    assert study.main(argv) == 0  # everything read back from the finished runs
    assert json.loads((tmp_path / "rows.json").read_text()) == rows
