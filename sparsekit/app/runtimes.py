"""The notebooks' runtime lines, written from measurements rather than by hand.

    python -m sparsekit.app.runtimes --smoke            # time every notebook at smoke parameters
    python -m sparsekit.app.runtimes --full --only 03   # time one at its defaults (Run All)

Each run executes the notebooks headless (`notebook_runner.run_all`), keeps each one's wall
time with the machine it ran on (CPU model, usable CPUs, the load beside it, the kernels'
thread setting) in `notebooks/runtimes.json`, and rewrites the `**Runtime**` line of every
notebook's first cell from that file, so the header, the course map (which reads the header)
and the measurement cannot disagree. A notebook's line waits for both of its measurements. The
runtime table of `notebooks/README.md` is rewritten from the same file.
"""
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

from ..core.atomic import write_text
from ..core.errors import SparsekitError
from ..core.machine import cpu_identity
from ..core.marked_block import MarkedBlock
from ..core.threads import usable_cpus
from . import course_verdicts, notebook_runner

FORMAT = "sparsekit-notebook-runtimes/1"
FILE_NAME = "runtimes.json"
MODES = {"full": "default parameters", "smoke": "smoke parameters"}
# The line inside the notebook's JSON text: from its opening quote to its `\n` or closing quote.
RUNTIME_SOURCE = re.compile(r'"\*\*Runtime\*\*(?:[^"\\]|\\.)*?(?=(?:\\n)?")')
README = "README.md"  # the course folder's own page
TABLE_START = "<!-- the runtime table: written by `python -m sparsekit.app.runtimes` from runtimes.json; do not edit -->"
TABLE_END = "<!-- end of the runtime table -->"
TABLE = MarkedBlock(TABLE_START, TABLE_END, "runtime table")


def load(folder: Path) -> Dict[str, Dict[str, dict]]:
    """{notebook: {mode: measurement}} from the course's runtimes file ({} when there is none)."""
    path = Path(folder) / FILE_NAME
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        raise SparsekitError(f"{path}: not a notebook runtimes file (format {data.get('format')!r}, "
                             f"expected {FORMAT!r})")
    return data["notebooks"]


def save(folder: Path, notebooks: Dict[str, Dict[str, dict]]) -> None:
    text = json.dumps({"format": FORMAT, "notebooks": dict(sorted(notebooks.items()))}, indent=1) + "\n"
    write_text(text, Path(folder) / FILE_NAME)


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def threads_text(measurement: dict) -> str:
    threads = measurement["threads"]
    return "the kit's thread policy" if threads is None else f"{threads} thread{'s' if threads > 1 else ''}"


def runtime_line(measured: Dict[str, dict]) -> str:
    """The header line from a notebook's two measurements."""
    full, smoke = measured["full"], measured["smoke"]
    return (f"**Runtime** (measured by `python -m sparsekit.app.runtimes` on {full['date']}, {full['cpu']}, "
            f"{full['cpus']} usable CPUs, load {full['load']:.1f} beside it): default parameters "
            f"{duration(full['seconds'])} ({threads_text(full)}); smoke parameters {duration(smoke['seconds'])} "
            f"({threads_text(smoke)}).")


def rewrite_headers(folder: Path) -> List[str]:
    """Rewrite the runtime line of every notebook measured in both modes; returns their names.
    Edited as text, so nothing else in a notebook (cell ids, metadata) changes."""
    rewritten = []
    for name, measured in load(folder).items():
        path = Path(folder) / f"{name}.ipynb"
        if not path.is_file() or not all(mode in measured for mode in MODES):
            continue
        text = path.read_text()
        line = json.dumps(runtime_line(measured))[1:-1]  # as it stands inside the JSON string
        new, count = _replace_line(text, line)
        if count and new != text:
            write_text(new, path)
            rewritten.append(name)
    return rewritten


def runtime_table(folder: Path) -> str:
    """The course folder README's table, one row per notebook, each cell one measurement with the
    conditions it was taken under."""
    from .course_map import entries

    measured = load(folder)
    lines = ["| notebook | " + " | ".join(MODES.values()) + " |", "|---|" + "---|" * len(MODES)]
    for entry in entries(folder):
        cells = [_measurement(measured.get(entry.name, {}).get(mode)) for mode in MODES]
        link = entry.link.replace("|", "\\|")  # a title's bar would end the Markdown cell
        lines.append(f"| {link} | " + " | ".join(cells) + " |")
    return TABLE.wrap("\n".join(lines))


def _measurement(found: Optional[dict]) -> str:
    if found is None:
        return "not measured"
    return f"{duration(found['seconds'])} ({threads_text(found)}; load {found['load']:.1f} beside it, {found['date']})"


def current_table(readme_text: str, path: Path) -> str:
    return TABLE.current(readme_text, path)


def rewrite_table(folder: Path) -> bool:
    """Rewrite the course README's runtime table from runtimes.json; True when it changed."""
    return TABLE.rewrite(Path(folder) / README, lambda: runtime_table(folder))


def _replace_line(notebook_text: str, line: str):
    """The notebook's JSON text with its `**Runtime** ...` source line replaced by `line`."""
    return RUNTIME_SOURCE.subn(lambda _: '"' + line, notebook_text, count=1)


def measure(mode: str, only: Optional[List[str]] = None, folder=None, threads: Optional[int] = None,
            report=print) -> Dict[str, float]:
    """Execute the chosen notebooks in `mode` one at a time and keep their times; returns them."""
    if mode not in MODES:
        raise SparsekitError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    folder = notebook_runner.course_folder(folder)
    known = load(folder)
    cpus, _ = usable_cpus()
    cpu = cpu_identity()["model"]
    seconds = {}
    with tempfile.TemporaryDirectory() as out:
        for path in notebook_runner.notebook_paths(folder, only):
            load_before = os.getloadavg()[0]
            run = notebook_runner.run_all(mode, Path(out) / path.stem, [path.stem], directory=folder,
                                          threads=threads, report=report)[0]
            seconds[path.stem] = run.seconds
            known.setdefault(path.stem, {})[mode] = {
                "seconds": round(run.seconds, 1), "threads": threads if threads is not None else (
                    notebook_runner.SMOKE_THREADS if mode == "smoke" else None), "cpus": cpus, "cpu": cpu, "load": round(load_before, 1),
                "date": time.strftime("%Y-%m-%d"),
                **(course_verdicts.kept_of(_result(run.results_path)) if mode == "full" else {})}
            save(folder, known)  # each measurement kept as it comes
    return seconds


def _result(path: Path) -> Optional[dict]:
    """The result file the notebook wrote (None if it wrote none)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def rewrite_verdicts(folder: Path) -> bool:
    """Rewrite the course README's verdicts section from runtimes.json; True when it changed."""
    return course_verdicts.rewrite(Path(folder) / README, lambda: course_verdicts.section(load(folder), threads_text))


def main(argv: Optional[List[str]] = None) -> int:
    from .arguments import OneLineParser

    parser = OneLineParser(prog="python -m sparsekit.app.runtimes",
                           description="Time the notebooks and write their runtime lines from the measurements.")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--smoke", dest="mode", action="store_const", const="smoke", help="smoke parameters")
    mode.add_argument("--full", dest="mode", action="store_const", const="full", help="each notebook's defaults")
    parser.add_argument("--only", action="append", metavar="NAME", help="this notebook only (name or number); repeatable")
    parser.add_argument("--notebooks", default=None, help="the course folder (default: ./notebooks)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per kernel (default: 1 for smoke runs, the kit's policy for full ones)")
    try:
        args = parser.parse_args(argv)
        measure(args.mode, args.only, args.notebooks, args.threads)
        folder = notebook_runner.course_folder(args.notebooks)
        rewritten = rewrite_headers(folder)
        has_readme = (folder / README).is_file()  # a copy of the course may come without its page
        table = has_readme and (rewrite_table(folder) | rewrite_verdicts(folder))
    except SparsekitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"runtime lines rewritten: {', '.join(rewritten) or 'none (a notebook needs both measurements)'}; "
          + (f"{README}'s runtime table and verdicts {'rewritten' if table else 'already up to date'}" if has_readme
             else f"no {README} in {folder}: no table to rewrite"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
