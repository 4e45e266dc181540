"""The map of the course, generated from the notebooks themselves, so a new notebook joins it
without anyone editing 00_index.

Every notebook's first cell holds its title line ("# 03 · SNIP: ..."), its measured runtime
("**Runtime** ...: default parameters 36 s ...; smoke parameters ... 15 s.") and, after the
links to its neighbours, the question it asks (the first paragraph after them). Notebook
00_index runs `display(Markdown(course_map.markdown()))`: one table per part of the course
and the path through it with the runtimes.
"""
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from ..core.errors import SparsekitError
from .notebook_runner import course_folder

# The parts of the course, by the first notebook number of each (a new notebook falls into
# the part whose range holds its number; the last part is open-ended).
PARTS: Sequence[Tuple[int, str]] = (
    (1, "Where masks come from (one notebook per method; each keeps exactly round(d N) weights)"),
    (10, "How to train them better (the ToST recipe; each trick is independent and works with any mask)"),
    (15, "Putting a sparse network to use"),
)
TITLE = re.compile(r"^# (\d+) · (.+)$")
RUNTIME = re.compile(r"default parameters (?P<default>.+?); smoke parameters(?: \([^)]*\))? (?P<smoke>.+?)\.?$")


@dataclass(frozen=True)
class Entry:
    number: int
    name: str  # the file's stem, e.g. "03_snip"
    title: str  # e.g. "SNIP: single-shot pruning by connection sensitivity"
    question: str  # the notebook's opening paragraph, as one line
    default_runtime: str
    smoke_runtime: str

    @property
    def link(self) -> str:
        return f"[{self.number:02d} {self.title}]({self.name}.ipynb)"


def _paragraphs(text: str) -> List[str]:
    return [" ".join(part.split()) for part in re.split(r"\n\s*\n", text) if part.strip()]


def entry(path: Path) -> Entry:
    """What the map shows of one notebook, read from its first cell."""
    import nbformat

    path = Path(path)
    first = nbformat.read(path, as_version=4).cells[0].source
    paragraphs = _paragraphs(first)
    title = TITLE.match(paragraphs[0]) if paragraphs else None
    if title is None:
        raise SparsekitError(f"{path.name}: the first cell must start with a title line '# NN · title'")
    runtime = next((RUNTIME.search(p) for p in paragraphs if p.startswith("**Runtime**")), None)
    if runtime is None:
        raise SparsekitError(f"{path.name}: no '**Runtime** ...: default parameters ...; smoke parameters ...' line")
    # The question: the first paragraph after the badge, the runtime and the links to the neighbours.
    rest = [p for p in paragraphs[1:] if not (p.startswith("[![") or p.startswith("**Runtime**")
                                              or ("ipynb)" in p and ("→" in p or "←" in p)))]
    if not rest:
        raise SparsekitError(f"{path.name}: no opening paragraph (the question it asks) in its first cell")
    return Entry(int(title.group(1)), path.stem, title.group(2), rest[0], runtime.group("default"),
                 runtime.group("smoke"))


def entries(directory=None) -> List[Entry]:
    """Every numbered notebook of the course (default folder: `notebook_runner.course_folder`)."""
    folder = course_folder(directory)
    paths = sorted(folder.glob("[0-9]*.ipynb"))
    if not paths:
        raise SparsekitError(f"no course notebooks in {folder}: open the course from its notebooks/ folder or "
                             f"the repository's root")
    return [entry(path) for path in paths]


def part_of(number: int) -> Optional[str]:
    """The part of the course a notebook number belongs to (None for the map itself, 00)."""
    found = None
    for first, name in PARTS:
        if number >= first:
            found = name
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(directory=None) -> str:
    """The map as Markdown: the parts, each a table of its notebooks and the question each asks,
    then the path through the course with the measured runtimes."""
    found = entries(directory)
    parts = [name for _, name in PARTS if any(part_of(e.number) == name for e in found)]
    lines = [f"The course has {len(parts)} parts.", ""]
    for name in parts:
        lines += [f"**{name}**", "", "| notebook | what it asks |", "|---|---|"]
        lines += [f"| {e.link} | {_cell(e.question)} |" for e in found if part_of(e.number) == name]
        lines.append("")
    lines += ["**The path through the course, with measured runtimes** (each notebook links to the previous "
              "and the next; timed by `python -m sparsekit.app.runtimes`, each header says on what machine):", "",
              "| step | notebook | default parameters | smoke parameters |", "|---|---|---|---|"]
    lines += [f"| {e.number} | {e.link} | {_cell(e.default_runtime)} | {_cell(e.smoke_runtime)} |" for e in found]
    return "\n".join(lines) + "\n"
