"""The README is a guide that stays true: its course table is the one generated from the
notebooks, its command-line block runs as pasted after `make setup`, its pages exist, and it
stays short enough to read (reference material lives under docs/)."""
import re
from pathlib import Path

import pytest

from sparsekit.app import course_map, readme_course
from sparsekit.core.errors import SparsekitError

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
MAX_LINES = 450  # the guide is meant to be about 400; beyond this it is a reference again


def test_the_course_table_is_the_generated_one():
    text = README.read_text()
    assert readme_course.current_block(text) == readme_course.block(REPO / "notebooks"), \
        "README.md's course table is out of date: run `python -m sparsekit.app.readme_course`"
    for entry in course_map.entries(REPO / "notebooks"):  # every notebook of the course, linked
        assert f"(notebooks/{entry.name}.ipynb)" in readme_course.current_block(text)


def test_rewrite_fixes_a_stale_table_and_refuses_a_readme_without_markers(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    source = REPO / "notebooks" / "03_snip.ipynb"
    (notebooks / source.name).write_text(source.read_text())
    (tmp_path / "README.md").write_text(f"intro\n{readme_course.START}\n| stale |\n{readme_course.END}\nrest\n")
    assert readme_course.rewrite(tmp_path) is True
    text = (tmp_path / "README.md").read_text()
    assert "(notebooks/03_snip.ipynb)" in text and "| stale |" not in text
    assert text.startswith("intro\n") and text.endswith("rest\n")
    assert readme_course.rewrite(tmp_path) is False  # already up to date
    (tmp_path / "README.md").write_text("no table here\n")
    with pytest.raises(SparsekitError, match="no course table markers"):
        readme_course.rewrite(tmp_path)


def test_the_readme_is_a_short_guide_with_a_table_of_contents():
    text = README.read_text()
    assert len(text.splitlines()) <= MAX_LINES
    headings = re.findall(r"(?m)^## (.+)$", text)
    contents = text[text.index("**Contents**"):text.index("## ")]
    for heading in headings:  # GitHub's anchor: lower case, punctuation dropped, spaces to dashes
        anchor = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        assert f"(#{anchor})" in contents, heading


def test_every_cli_line_runs_from_the_venv_or_says_to_activate_it():
    # After `make setup`, `sparsekit` is in .venv/bin, not on PATH: a block that calls it bare
    # must come after the README says to activate the environment.
    text = README.read_text()
    section = text[text.index("## The command line"):]
    assert "source .venv/bin/activate" in section[:section.index("```bash")]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    assert all(line.startswith("sparsekit ") for line in block.splitlines() if line.strip())


def test_every_page_the_readme_links_to_exists():
    text = README.read_text()
    links = re.findall(r"\]\(((?:docs|notebooks|benchmarks)/[^)#]+)", text)
    assert any(link.startswith("docs/") for link in links)
    missing = [link for link in links if not (REPO / link).exists()]
    assert not missing, missing


def test_every_relative_link_of_the_reference_pages_resolves():
    missing = []
    for page in sorted((REPO / "docs").glob("*.md")):
        for link in re.findall(r"\]\(([^)#\s]+)", page.read_text()):
            if "://" in link:
                continue
            target = (page.parent / link).resolve()
            if not target.exists():
                missing.append(f"{page.name}: {link}")
    assert not missing, missing


def test_the_course_readme_names_every_notebook():
    # notebooks/README.md describes each notebook in its own words; it must not fall behind the course
    text = (REPO / "notebooks" / "README.md").read_text()
    missing = [e.name for e in course_map.entries(REPO / "notebooks") if f"`{e.name}" not in text]
    assert not missing, f"notebooks/README.md does not mention {missing}"


def test_the_study_numbers_are_the_answer_files():
    # The README copies the converged study's pooled verdict; the study writes it (answer.json,
    # `python -m study.report`). When the study is re-reported, the README must follow.
    import json

    answer = REPO / "benchmarks" / "results" / "study-converged" / "answer.json"

    text = README.read_text()
    signed = lambda x: f"{x:+.4f}".replace("-", "−")
    for row in json.loads(answer.read_text())["pooled"]:
        shown = f"{signed(row['mean'])} [{signed(row['corrected_low'])}, {signed(row['corrected_high'])}]: "
        assert shown in text, f"README.md does not show {row['comparison']} at {row['sparsity']}: {shown}"
