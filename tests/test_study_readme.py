"""The README's study verdict is generated from the two studies' answer files (`study.readme`):
the block in the README equals what the module writes, the addendum's part switches from "not in
yet" to its corrected verdict exactly when its headline items have all finished, and a README
without the markers is one error line."""
import json
import shutil
from pathlib import Path

import pytest

from sparsekit.core.errors import SparsekitError
from sparsekit.report.addendum_answer import load_addendum_answer
from study import readme
from study.addendum_answer import HEADLINE_ITEMS, headline

REPO = Path(__file__).resolve().parents[1]


def test_the_readme_gives_the_verdict_its_answer_files_give():
    assert readme.current_block(REPO) == readme.block(REPO), \
        "README.md's study verdict is out of date: run `python -m study.readme` from the repository's root"


def _checkout(tmp_path: Path, complete: bool, with_field: bool = True) -> Path:
    """A checkout holding the committed first study's answer and an addendum answer whose headline
    is (or is not) complete; the addendum's cells and pooled lines are the committed ones."""
    (tmp_path / readme.FIRST).mkdir(parents=True)
    shutil.copy(REPO / readme.FIRST / "answer.json", tmp_path / readme.FIRST)
    (tmp_path / readme.ADDENDUM).mkdir(parents=True)
    answer = json.loads((REPO / readme.ADDENDUM / "answer.json").read_text())
    answer.pop("headline", None)
    if with_field:
        answer["headline"] = {"items": list(HEADLINE_ITEMS), "complete": complete}
    (tmp_path / readme.ADDENDUM / "answer.json").write_text(json.dumps(answer))
    (tmp_path / "README.md").write_text(f"# intro\n\n{readme.STUDY_VERDICT.start}\nold\n{readme.STUDY_VERDICT.end}\n\nafter\n")
    return tmp_path


def test_until_the_headline_finishes_the_verdict_is_the_first_studys(tmp_path):
    for with_field in (True, False):  # an answer written before the field reads as not complete
        root = _checkout(tmp_path / str(with_field), complete=False, with_field=with_field)
        assert readme.rewrite(root)
        text = (root / "README.md").read_text()
        assert text.startswith("# intro\n\n") and text.endswith("\n\nafter\n") and "\nold\n" not in text
        assert "| `tost` − plain | +0.0580 [−0.1357, +0.2518]: no measurable difference |" in text
        assert "| capacity control − plain | +0.1030 [−0.1163, +0.3222]: no measurable difference | +0.1035 " \
               "[+0.0387, +0.1683]: **better** |" in text
        assert "degenerate (the input reaches no kept weight): random 99.5%." in text
        assert "The addendum's verdict is not in yet." in text and "structure control" not in text
        assert not readme.rewrite(root)  # already up to date


def test_once_the_headline_finishes_the_readme_gives_the_addendums_corrected_verdict(tmp_path):
    root = _checkout(tmp_path, complete=True)
    readme.rewrite(root)
    text = (root / "README.md").read_text()
    assert "The addendum's verdict is not in yet." not in text and "**The addendum's corrected verdict.**" in text
    assert "Items finished: 3 (structure-matched control on the first study's headline cells)" in text
    items = json.loads((REPO / readme.ADDENDUM / "answer.json").read_text())["items"]
    unfinished = [item["item"] for item in items if item["finished"] < item["planned"] and not item["cut"]]
    assert f"Still to finish: {unfinished[0]} (" in text and "Cut by the budget" in text  # the committed runs'
    answer = load_addendum_answer(root / readme.ADDENDUM / "answer.json")
    for line in answer.pooled:  # every pooled line in the grid, with its corrected interval and word
        assert f"[{line['corrected_low']:+.4f}, {line['corrected_high']:+.4f}]".replace("-", "−") in text
    structure = [c for c in answer.cells if c["comparison"] == "structure - default" and not c["degenerate"]]
    better = sum(c["verdict"] == "better" for c in structure)
    assert f"structure control − plain, {len(structure)} cells: better in {better}" in text
    assert "**resnet20** (provisional: " in text  # the committed answer still has pending ResNet cells
    degenerate = ", ".join(f"{d['mask']} {d['sparsity'] * 100:g}%" for d in answer.degenerate)
    assert (f"kept out of the families and pooled lines: {degenerate}." in text) == bool(answer.degenerate)


def test_the_headline_is_complete_only_when_items_3_to_5_have_all_finished():
    def items(finished_5: int, cut_5: bool = False):
        return [{"item": 3, "planned": 21, "finished": 21, "cut": False},
                {"item": 4, "planned": 30, "finished": 30, "cut": False},
                {"item": 5, "planned": 45, "finished": finished_5, "cut": cut_5},
                {"item": 7, "planned": 45, "finished": 0, "cut": False}]

    assert headline(items(45)) == {"items": [3, 4, 5], "complete": True}  # item 7 still to run: no matter
    assert not headline(items(44))["complete"]
    assert not headline(items(45, cut_5=True))["complete"]
    assert not headline(items(45)[:2])["complete"]


def test_a_readme_without_the_markers_is_one_error_line(tmp_path, monkeypatch, capsys):
    root = _checkout(tmp_path, complete=False)
    (root / "README.md").write_text("no block here\n")
    with pytest.raises(SparsekitError, match="has no study verdict markers"):
        readme.rewrite(root)
    monkeypatch.chdir(root)
    assert readme.main([]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and "study verdict markers" in line
    assert (root / "README.md").read_text() == "no block here\n"  # nothing half-written
    assert readme.main(["extra"]) == 2


def test_a_network_whose_cells_all_finished_is_not_called_provisional(tmp_path):
    root = _checkout(tmp_path, complete=True)
    path = root / readme.ADDENDUM / "answer.json"
    answer = json.loads(path.read_text())
    answer["pending"] = [p for p in answer["pending"] if p["network"] != "resnet20"]
    path.write_text(json.dumps(answer))
    readme.rewrite(root)
    text = (root / "README.md").read_text()
    assert "**resnet20**, pooled over masks" in text and "provisional" not in text.split("**resnet20**")[1][:20]
