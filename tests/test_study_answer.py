"""The converged study's answer as the course reads it: `answer.json` loads (its format checked,
anything else refused in one line), its sentences and its figure come from the file's numbers,
and a checkout without it gets one line, not a crash."""
import json
import shutil
from pathlib import Path

import matplotlib
import pytest

from sparsekit import course
from sparsekit.core.errors import SparsekitError
from sparsekit.core.formats import STUDY_ANSWER as ANSWER_FORMAT
from sparsekit.report.answer import comparison_key, find_answer, load_answer
from sparsekit.report.answer_figure import CORRECTED_WIDTH, HEADLINE, plot_study_answer

matplotlib.use("Agg")
REPO = Path(__file__).resolve().parents[1]
# The first answer file the study wrote (tests/fixtures/formats/README.md says which commit).
FIXTURE = Path(__file__).parent / "fixtures" / "formats" / "5d782a0" / "answer.json"
COMMITTED = REPO / "benchmarks" / "results" / "study-converged" / "answer.json"


def test_the_fixture_loads_and_reads_by_comparison():
    answer = load_answer(FIXTURE)
    raw = json.loads(FIXTURE.read_text())
    assert answer.sentence == raw["sentence"] and answer.finished == raw["counts"]["finished"]
    cells = answer.cells_of("tost-release − default")  # the report's minus sign reads the same
    assert cells == answer.cells_of("tost-release - default")
    assert {c["mask"] for c in cells} == {"lottery", "random", "snip", "synflow"}
    assert [c["sparsity"] for c in cells] == sorted(c["sparsity"] for c in cells)
    assert comparison_key("a-b − c") == "a-b - c"
    assert f"{answer.finished} of the {answer.planned_after_cuts} runs the plan kept" in answer.counts_line()


def test_a_trick_sentence_is_written_from_its_cells():
    answer = load_answer(FIXTURE)
    text = answer.trick_sentence(["ghost_neurons"], "ghost neurons")
    cells = answer.cells_of("ghost_neurons - default")
    assert text.startswith("**The converged study on ghost neurons alone:**")
    for cell in cells:
        assert f"{cell['mask']} {cell['sparsity']:g}: {cell['mean']:+.3f} [{cell['low']:+.3f}, {cell['high']:+.3f}]" \
            in text
    words = {c["verdict"] for c in cells}
    assert all(word in text for word in words) and f"of {len(cells)} (mask, sparsity) cells" in text
    assert "`no-such-arm` has no finished cell" in answer.trick_sentence(["no-such-arm"], "nothing")


@pytest.mark.parametrize("content, says", [
    ({"format": "sparsekit-study-answer/2", "sentence": "x", "counts": {}, "cells": []},
     "not a sparsekit study answer file: its format is 'sparsekit-study-answer/2'; this sparsekit reads study "
     "answer formats sparsekit-study-answer/1"),
    ([1, 2], "it holds a list"),
    ({"format": ANSWER_FORMAT, "sentence": "x", "counts": {"finished": 1}, "cells": []}, "planned_after_cuts"),
    ({"format": ANSWER_FORMAT, "sentence": "x", "counts": {"planned_after_cuts": 1, "finished": 1},
      "cells": [{"mask": "snip"}]}, "cells[0] lacks sparsity"),
    ({"format": ANSWER_FORMAT, "counts": {}, "cells": []}, "needs a sentence"),
])
def test_anything_else_is_refused_in_one_line(tmp_path, content, says):
    path = tmp_path / "answer.json"
    path.write_text(json.dumps(content))
    with pytest.raises(SparsekitError) as raised:
        load_answer(path)
    assert says in str(raised.value) and "\n" not in str(raised.value)
    path.write_text("{not json")
    with pytest.raises(SparsekitError, match="not readable as JSON"):
        load_answer(path)
    with pytest.raises(SparsekitError, match="no study answer there"):
        load_answer(tmp_path / "absent.json")
    assert find_answer(tmp_path / "empty") is None


def test_the_figure_draws_every_headline_cell():
    answer = load_answer(FIXTURE)
    fig = plot_study_answer(answer)
    axes = [ax for ax in fig.axes if ax.get_title().startswith("sparsity")]
    sparsities = sorted({c["sparsity"] for c in answer.cells})
    assert [ax.get_title() for ax in axes] == [f"sparsity {s:g}" for s in sparsities]
    low, high = axes[0].get_ylim()
    for ax, sparsity in zip(axes, sparsities):
        cells = [c for key in HEADLINE for c in answer.cells_of(key) if c["sparsity"] == sparsity]
        # Each cell: one interval line and one mean marker (plus a triangle where the interval is cut).
        intervals = [line for line in ax.get_lines() if len(line.get_xdata()) == 2 and line.get_linestyle() == "-"
                     and line.get_xdata()[0] == line.get_xdata()[1]]
        corrected = [c for c in cells if c["corrected_low"] is not None]
        assert len([i for i in intervals if i.get_linewidth() == CORRECTED_WIDTH]) == len(corrected)
        assert len(intervals) == len(cells) + len(corrected)
        widest = [(min(c["low"], c["corrected_low"] if c["corrected_low"] is not None else c["low"]),
                   max(c["high"], c["corrected_high"] if c["corrected_high"] is not None else c["high"]))
                  for c in cells]
        cut = sum(int(w_low < low) + int(w_high > high) for w_low, w_high in widest)
        triangles = [line for line in ax.get_lines() if line.get_marker() in ("^", "v")]
        assert len(triangles) == cut
    # The scale is set by the ordinary intervals, not by a seed that stayed at chance.
    assert high - low < 0.5


def test_a_checkout_without_the_answer_gets_one_line(tmp_path, monkeypatch, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    monkeypatch.setenv("SPARSEKIT_NOTEBOOKS", str(notebooks))
    assert course.study_answer() is None
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 and "answer.json is missing" in printed
    study = tmp_path / "benchmarks" / "results" / "study-converged"
    study.mkdir(parents=True)
    shutil.copy(FIXTURE, study / "answer.json")
    assert course.study_answer().sentence == load_answer(FIXTURE).sentence


@pytest.mark.skipif(not COMMITTED.exists(), reason="the study's answer.json is not committed on this branch yet")
def test_the_committed_answer_loads_and_draws():
    answer = load_answer(COMMITTED)
    assert answer.sentence and answer.finished <= answer.planned_after_cuts
    assert any(answer.cells_of(key) for key in HEADLINE)
    plot_study_answer(answer)
