"""The notebooks' runtime lines come from measurements (`sparsekit.app.runtimes`): every
notebook's header is the line its two measurements give, and rewriting touches that line only."""
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from sparsekit.app import course_map, runtimes
from sparsekit.core.errors import SparsekitError

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
MEASURED = {"seconds": 95.0, "threads": None, "cpus": 2, "cpu": "Some CPU", "load": 0.2, "date": "2026-12-07"}


def test_every_header_is_written_from_its_measurements():
    measured = runtimes.load(NOTEBOOKS)
    for path in sorted(NOTEBOOKS.glob("[0-9]*.ipynb")):
        assert set(measured.get(path.stem, {})) == set(runtimes.MODES), f"{path.stem} lacks a measurement"
        first = nbformat.read(path, as_version=4).cells[0].source
        assert runtimes.runtime_line(measured[path.stem]) in first.splitlines(), path.stem


def test_rewriting_changes_the_runtime_line_and_nothing_else(tmp_path):
    shutil.copy(NOTEBOOKS / "03_snip.ipynb", tmp_path)
    before = nbformat.read(tmp_path / "03_snip.ipynb", as_version=4)
    runtimes.save(tmp_path, {"03_snip": {"full": MEASURED, "smoke": dict(MEASURED, seconds=12.0, threads=1)}})
    assert runtimes.rewrite_headers(tmp_path) == ["03_snip"]
    after = nbformat.read(tmp_path / "03_snip.ipynb", as_version=4)
    assert "default parameters 1.6 min (the kit's thread policy); smoke parameters 12 s (1 thread)." in \
        after.cells[0].source
    assert [c.source for c in after.cells[1:]] == [c.source for c in before.cells[1:]]
    lines = [(a, b) for a, b in zip(before.cells[0].source.splitlines(), after.cells[0].source.splitlines()) if a != b]
    assert len(lines) == 1 and lines[0][0].startswith("**Runtime**")
    entry = course_map.entry(tmp_path / "03_snip.ipynb")
    assert entry.default_runtime.startswith("1.6 min") and entry.smoke_runtime.startswith("12 s")


def test_a_notebook_waits_for_both_measurements(tmp_path):
    shutil.copy(NOTEBOOKS / "03_snip.ipynb", tmp_path)
    runtimes.save(tmp_path, {"03_snip": {"smoke": MEASURED}})
    assert runtimes.rewrite_headers(tmp_path) == []


def test_a_file_of_another_format_is_refused(tmp_path):
    (tmp_path / runtimes.FILE_NAME).write_text(json.dumps({"format": "other/1", "notebooks": {}}))
    with pytest.raises(SparsekitError, match="not a notebook runtimes file"):
        runtimes.load(tmp_path)


def test_the_course_readmes_runtime_table_is_written_from_the_measurements():
    readme = (NOTEBOOKS / runtimes.README).read_text()
    assert runtimes.current_table(readme, NOTEBOOKS / runtimes.README) == runtimes.runtime_table(NOTEBOOKS)


def test_rewriting_the_table_puts_each_measurement_in_its_row(tmp_path):
    shutil.copy(NOTEBOOKS / "03_snip.ipynb", tmp_path)
    (tmp_path / runtimes.README).write_text(f"before\n\n{runtimes.TABLE_START}\nold\n{runtimes.TABLE_END}\n\nafter\n")
    runtimes.save(tmp_path, {"03_snip": {"full": MEASURED}})
    assert runtimes.rewrite_table(tmp_path)
    text = (tmp_path / runtimes.README).read_text()
    assert text.startswith("before\n\n") and text.endswith("\n\nafter\n") and "old" not in text
    assert ("| [03 SNIP: single-shot pruning by connection sensitivity](03_snip.ipynb) | 1.6 min (the kit's thread "
            "policy; load 0.2 beside it, 2026-12-07) | not measured |") in text
    assert not runtimes.rewrite_table(tmp_path)  # already up to date


def test_a_readme_without_the_table_markers_is_one_error_line(tmp_path):
    (tmp_path / runtimes.README).write_text("no table here\n")
    with pytest.raises(SparsekitError, match="has no runtime table markers"):
        runtimes.rewrite_table(tmp_path)


def test_the_course_readmes_verdicts_are_the_last_full_runs(tmp_path):
    from sparsekit.app import course_verdicts

    readme = NOTEBOOKS / runtimes.README
    assert course_verdicts.current(readme.read_text(), readme) == course_verdicts.section(
        runtimes.load(NOTEBOOKS), runtimes.threads_text)


def test_a_full_measurement_keeps_its_notebooks_verdicts_and_the_readme_shows_them(tmp_path, monkeypatch):
    from sparsekit.app import course_verdicts, notebook_runner

    shutil.copy(NOTEBOOKS / "03_snip.ipynb", tmp_path)
    (tmp_path / runtimes.README).write_text(f"{course_verdicts.START}\n{course_verdicts.END}\n")
    verdicts = {"tost": [{"label": "tost vs default, snip", "verdict": "worse", "mean": -0.125, "low": -0.25,
                          "high": -0.0625, "differences": [-0.125, -0.0625, -0.1875], "unit": "seeds", "reason": ""}],
                "tost-release": [{"label": "tost-release vs default, snip", "verdict": "no verdict", "mean": 0.0,
                                  "low": None, "high": None, "differences": [0.0], "unit": "seeds",
                                  "reason": "fewer than 3 seeds"}]}

    def fake_run_all(mode, out_dir, only, directory=None, threads=None, report=print):
        results = Path(out_dir) / f"{only[0]}.json"
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps({"claim": "the recipe helps", "requested_sparsity": 0.95, "verdicts": verdicts,
                                       "runs": {"not kept": 1}}))
        return [notebook_runner.NotebookRun(only[0], results.with_suffix(".ipynb"), results, 12.0)]

    monkeypatch.setattr(notebook_runner, "run_all", fake_run_all)
    runtimes.measure("full", ["03"], tmp_path, report=lambda *_: None)
    kept = runtimes.load(tmp_path)["03_snip"]["full"]
    assert kept["verdicts"] == verdicts and kept["claim"] == "the recipe helps" and "runs" not in kept
    assert runtimes.rewrite_verdicts(tmp_path)
    text = (tmp_path / runtimes.README).read_text()
    assert "- `03_snip` (sparsity 0.95; measured " in text and "claim: the recipe helps." in text
    assert ("  - tost vs default, snip: **worse** (mean -0.1250, 95% interval [-0.2500, -0.0625]; "
            "by seed: -0.1250, -0.0625, -0.1875)") in text
    assert "  - tost-release vs default, snip: **no verdict** (fewer than 3 seeds)" in text
    runtimes.measure("smoke", ["03"], tmp_path, report=lambda *_: None)  # a smoke run keeps no verdicts
    assert "verdicts" not in runtimes.load(tmp_path)["03_snip"]["smoke"]


def test_the_command_on_a_course_copy_without_its_readme_rewrites_the_headers_only(tmp_path, monkeypatch, capsys):
    from sparsekit.app import notebook_runner

    shutil.copy(NOTEBOOKS / "03_snip.ipynb", tmp_path)

    def fake_run_all(mode, out_dir, only, directory=None, threads=None, report=print):
        return [notebook_runner.NotebookRun(only[0], Path(out_dir) / "x.ipynb", Path(out_dir) / "none.json", 5.0)]

    monkeypatch.setattr(notebook_runner, "run_all", fake_run_all)
    assert runtimes.main(["--smoke", "--notebooks", str(tmp_path), "--only", "03"]) == 0
    assert runtimes.main(["--full", "--notebooks", str(tmp_path), "--only", "03"]) == 0
    assert f"runtime lines rewritten: 03_snip; no README.md in {tmp_path}" in capsys.readouterr().out
    assert "verdicts" not in runtimes.load(tmp_path)["03_snip"]["full"]  # the notebook wrote no result file
