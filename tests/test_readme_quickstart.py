"""The README's quick start runs as written, with only the run length cut for the test."""
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def quick_start_code() -> str:
    text = README.read_text()
    section = text[text.index("## Quick start in Python"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_quick_start_runs(tmp_path, monkeypatch, capsys):
    code = quick_start_code()
    assert "sk.train(" in code and "sk.masks.compute(" in code  # the block this test means to run
    # The README trains for 30 epochs; here one epoch of two batches, quietly, and GradInit searches for 2
    # iterations instead of 180: every call is the same otherwise.
    short = re.sub(r"epochs=\d+", "epochs=1, max_batches=2, progress=False", code)
    short = short.replace("sk.Recipe.tost()", "sk.Recipe.tost().with_changes(init_iterations=2)")
    monkeypatch.chdir(tmp_path)
    exec(compile(short, str(README), "exec"), {})
    printed = capsys.readouterr().out
    assert "density" in printed or printed.strip()
