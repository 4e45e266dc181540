"""Execute the course notebooks headless with papermill, with smoke or full parameters.

    python -m sparsekit.app.notebook_runner --smoke --out build/notebooks-smoke
    python -m sparsekit.app.notebook_runner --full --only 03 --out build/notebooks
    python -m sparsekit.app.notebook_runner --smoke --param SPARSITY=0.8 --out build/try

Each notebook's executed copy goes to OUT/NAME.ipynb and the JSON it writes to
OUT/NAME.json (its RESULTS_PATH). Smoke parameters are tiny (seconds per notebook, for the
test suite); full parameters keep each notebook's own defaults (`make notebooks`). Either
way the notebooks run with INTERACTIVE=False and PROGRESS=False: no widgets, no bars.

Smoke runs also run the exercises' answers: every ```python block inside a cell tagged
"answer" (a folded <details> block) is appended as a code cell after the notebook's last
cell, so it runs in the notebook's namespace at the smoke parameters, and an answer that
uses a name the notebook never defines fails the run.

papermill only warns about a parameter that the notebook does not declare and then runs
it with the default silently; here that is an error, raised before anything executes.
"""
import ast
import os
import re
import sys
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from ..core.checks import whole_number
from ..core.errors import SparsekitError
from .parameter_checks import check_parameter_values

# The course lives in the checkout, not in the installed package: found from where the command
# runs (the repository's root, or the notebooks folder itself as in JupyterLab); a kernel the
# runner starts in an output folder is told where it is through this variable.
NOTEBOOKS = "notebooks"
COURSE_VARIABLE = "SPARSEKIT_NOTEBOOKS"


def course_folder(directory=None) -> Path:
    """The folder of the course notebooks: `directory`, else the runner's variable, else the
    current directory when it holds the course, else its `notebooks/`."""
    if directory is not None:
        return Path(directory)
    if os.environ.get(COURSE_VARIABLE):
        return Path(os.environ[COURSE_VARIABLE])
    here = Path.cwd()
    return here if (here / "00_index.ipynb").is_file() else here / NOTEBOOKS
KERNEL_NAME = "python3"
CELL_TIMEOUT_S = 600  # per cell; a full run of the biggest comparison stays well under it

# Every notebook declares these; tiny values make the whole series run in a few minutes.
SMOKE_PARAMETERS = {"EPOCHS": 5, "WIDTH": 0.25, "SPARSITY": 0.5, "SEED": 0}
# Notebook-specific smoke values (only names the notebook declares).
SMOKE_OVERRIDES: Dict[str, Dict] = {
    "02_magnitude_and_lottery_ticket": {"ROUND_EPOCHS": 1, "REWIND_STEPS": 2},
    "05_synflow": {"ROUNDS": 10},
    "08_n_m_sparsity": {"PATTERNS": ["2:4"]},
    "09_mask_graphs": {"ROUND_EPOCHS": 1, "SPARSITIES": [0.5, 0.9]},
    "10_ghost_neurons": {"SEEDS": 1},
    "11_ghost_skip_connections": {"SEEDS": 1},
    "12_modified_initialization": {"INIT_ITERATIONS": 10, "SEEDS": 1},
    "13_label_smoothing": {"SEEDS": 1},
    "14_any_mask_full_recipe": {"METHODS": ["random", "snip"], "INIT_ITERATIONS": 10, "SEEDS": 1, "EPOCHS": 3},
    "15_is_it_faster": {"CURVE_MODEL": "resnet20", "CURVE_WIDTH": 0.25, "CURVE_INPUT": 16,
                        "CURVE_SPARSITIES": [0.5, 0.95], "BATCH_SIZES": [1, 4], "ROUNDS": 2},
    # A torchvision network that takes a width (so the smoke WIDTH is honoured), on digits, a few steps.
    "16_your_own_network": {"DATASET": "digits", "MODEL": "torchvision:mobilenet_v2", "INIT_ITERATIONS": 2,
                            "ROUNDS": 2, "EPOCHS": 1, "MAX_BATCHES": 3},
}
HEADLESS = {"INTERACTIVE": False, "PROGRESS": False}
# Smoke runs train on one thread: on a small, shared CPU two torch threads of these tiny
# networks spend most of their time waiting on each other (measured 7x slower).
SMOKE_THREADS = 1


ANSWER_TAG = "answer"
ANSWER_CODE_TAG = "answer-code"  # the code cells appended from the answers
CODE_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def answer_code(notebook) -> List[str]:
    """The ```python blocks of the notebook's answer cells, in order."""
    return [block.strip() for cell in notebook.cells if ANSWER_TAG in cell.metadata.get("tags", [])
            for block in CODE_BLOCK.findall(cell.source)]


def with_answers(notebook):
    """A copy of the notebook with every answer's code appended as a code cell."""
    import copy

    import nbformat

    result = copy.deepcopy(notebook)
    for index, code in enumerate(answer_code(notebook)):
        cell = nbformat.v4.new_code_cell(code, metadata={"tags": [ANSWER_CODE_TAG]})
        cell.id = f"answer-code-{index}"
        result.cells.append(cell)
    return result


@dataclass
class NotebookRun:
    name: str
    output_path: Path
    results_path: Path
    seconds: float


def notebook_paths(directory=None, only: Optional[Iterable[str]] = None) -> List[Path]:
    """The course notebooks in order, from `directory` (default: `course_folder()`); `only`
    picks some by name or by number prefix ("03")."""
    directory = course_folder(directory)
    paths = sorted(p for p in directory.glob("*.ipynb") if not p.name.startswith("."))
    if not paths:
        raise SparsekitError(f"no notebooks found in {directory}: run from the repository's root, or pass "
                             f"--notebooks DIR")
    if only is None:
        return paths
    chosen = []
    for wanted in only:
        matches = [p for p in paths if p.stem == wanted or p.stem.split("_")[0] == wanted]
        if not matches:
            raise SparsekitError(f"no notebook named {wanted!r}; notebooks: {', '.join(p.stem for p in paths)}")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def parameters_for(path: Path, mode: str, out_dir: Path, extra: Optional[Dict] = None) -> Dict:
    """The parameters a run injects: mode values, headless switches, RESULTS_PATH, `extra`."""
    if mode not in ("smoke", "full"):
        raise SparsekitError(f"mode must be 'smoke' or 'full', got {mode!r}")
    parameters = {}
    if mode == "smoke":
        parameters.update(SMOKE_PARAMETERS)
        parameters.update(SMOKE_OVERRIDES.get(path.stem, {}))
    parameters.update(HEADLESS)
    parameters["RESULTS_PATH"] = str((Path(out_dir) / f"{path.stem}.json").resolve())
    parameters.update(extra or {})
    return parameters


def declared_parameters(path: Path) -> Dict[str, dict]:
    """Names declared in the cell tagged "parameters" (papermill's own reading of it)."""
    import papermill

    return papermill.inspect_notebook(str(path))


def check_declared(path: Path, parameters: Dict) -> None:
    """Refuse parameters the notebook does not declare (papermill would only warn), and values
    of another kind than the declared default's."""
    declared = declared_parameters(path)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise SparsekitError(f"{path.name} does not declare parameter(s) {', '.join(unknown)}; "
                             f"it declares: {', '.join(declared) or 'none (no cell tagged parameters)'}")
    check_value_kinds(path, parameters, declared)
    try:  # the values the notebook's own checks would refuse, refused before its kernel starts
        check_parameter_values(parameters)
    except SparsekitError as exc:
        raise SparsekitError(f"{path.name}: {exc}") from None


def check_value_kinds(path: Path, parameters: Dict, declared: Dict[str, dict]) -> None:
    """Refuse a value of another kind than the notebook's default (text for a number, a number
    for True/False, one value for a list): the notebook would fail in the middle of its run."""
    for name, value in parameters.items():
        try:
            default = ast.literal_eval(declared[name]["default"])
        except (KeyError, ValueError, SyntaxError):
            continue  # an expression: no kind to compare with
        kinds = [(bool, "True or False"), ((int, float), "a number"), ((list, tuple), "a list")]
        for kind, wanted in kinds:
            if isinstance(default, kind) and (not isinstance(value, kind) or
                                              (kind is not bool and isinstance(value, bool))):
                raise SparsekitError(f"{path.name}: parameter {name} takes {wanted} (default {default!r}), "
                                     f"got {value!r}")
            if isinstance(default, kind):
                break


def check_run_options(out_dir, timeout_s: int, threads: Optional[int]) -> None:
    """The options every notebook shares, checked before any folder is made."""
    from ..training.run_dir import check_location

    whole_number("timeout", timeout_s, 1, accepted="of seconds >= 1")
    if threads is not None:
        whole_number("threads", threads, 1)
    check_location(out_dir)


@contextmanager
def kernel_environment(threads: Optional[int], course: Path):
    """Environment for the kernels started inside: where the course is, and at most `threads`
    compute threads (None: as is)."""
    values = {COURSE_VARIABLE: str(course.resolve())}
    if threads is not None:
        values.update({name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_notebook(path: Path, out_dir: Path, parameters: Dict, timeout_s: int = CELL_TIMEOUT_S,
                 log_output: bool = False, threads: Optional[int] = None, answers: bool = False) -> NotebookRun:
    """Execute one notebook into `out_dir` after checking its parameters; returns its timing."""
    check_run_options(out_dir, timeout_s, threads)
    check_declared(Path(path), parameters)
    return _execute(Path(path), Path(out_dir), parameters, timeout_s, log_output, threads, answers)


def _execute(path: Path, out_dir: Path, parameters: Dict, timeout_s: int, log_output: bool,
             threads: Optional[int], answers: bool = False) -> NotebookRun:
    """Execute a notebook whose parameters were already checked (`answers`: with its
    answers' code appended)."""
    import nbformat
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    output_path = out_dir / path.name
    source = with_answers(nbformat.read(path, as_version=4)) if answers else str(path)
    started = time.perf_counter()
    # cwd = the output folder, so anything a notebook writes with a relative path lands there.
    with kernel_environment(threads, path.parent):
        papermill.execute_notebook(source, str(output_path), parameters=parameters, kernel_name=KERNEL_NAME,
                                   progress_bar=False, log_output=log_output, cwd=str(out_dir),
                                   execution_timeout=timeout_s)
    return NotebookRun(path.stem, output_path, Path(parameters["RESULTS_PATH"]), time.perf_counter() - started)


def run_all(mode: str, out_dir, only: Optional[Iterable[str]] = None, extra: Optional[Dict] = None,
            directory=None, timeout_s: int = CELL_TIMEOUT_S, log_output: bool = False,
            threads: Optional[int] = None, report=print, jobs: int = 1) -> List[NotebookRun]:
    """Execute the chosen notebooks, `jobs` at a time (each notebook is one kernel process);
    the runs come back in the notebooks' order. Every notebook's parameters are checked before
    the first one runs, so a typo fails in seconds rather than after a long run. `threads`
    caps the kernels' compute threads (default: 1 for smoke runs, unchanged for full ones).
    Smoke runs append the answers' code (`with_answers`). A failing notebook stops the series:
    notebooks not started yet are not run, and its error is raised once the running ones end."""
    if threads is None and mode == "smoke":
        threads = SMOKE_THREADS
    check_run_options(out_dir, timeout_s, threads)
    whole_number("jobs", jobs, 1)
    out_dir = Path(out_dir)
    paths = notebook_paths(directory, only)
    planned = [(path, parameters_for(path, mode, out_dir, extra)) for path in paths]
    for path, parameters in planned:
        check_declared(path, parameters)

    def execute(path: Path, parameters: Dict) -> NotebookRun:
        run = _execute(path, out_dir, parameters, timeout_s, log_output, threads, answers=mode == "smoke")
        report(f"{path.stem}: {run.seconds:.1f} s -> {run.output_path}")
        return run

    if jobs == 1 or len(planned) == 1:
        return [execute(path, parameters) for path, parameters in planned]
    # The kernels' environment is the process's: set once around the pool, not per thread.
    with kernel_environment(threads, planned[0][0].parent), ThreadPoolExecutor(jobs) as pool:
        futures = [pool.submit(execute, path, parameters) for path, parameters in planned]
        wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            if future.done() and future.exception() is not None:
                pool.shutdown(cancel_futures=True)
                raise future.exception()
        return [future.result() for future in futures]


def parse_assignment(text: str):
    """NAME=VALUE from the command line; VALUE as a Python literal, else as a string."""
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise SparsekitError(f"--param takes NAME=VALUE (e.g. SPARSITY=0.8), got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def build_parser():
    from .arguments import OneLineParser  # a bad argument is one `error:` line, as for `sparsekit`

    parser = OneLineParser(prog="sparsekit notebooks",
                           description="Execute the sparsekit notebooks with papermill.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--smoke", dest="mode", action="store_const", const="smoke",
                      help="tiny parameters: the whole series in minutes (the default)")
    mode.add_argument("--full", dest="mode", action="store_const", const="full",
                      help="each notebook's own (full) parameters")
    parser.set_defaults(mode="smoke")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this notebook (name or number prefix); repeatable")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="inject one more parameter into every chosen notebook; repeatable")
    parser.add_argument("--out", default="build/notebooks", help="output folder (default: build/notebooks)")
    parser.add_argument("--notebooks", default=None,
                        help=f"folder holding the notebooks (default: ./{NOTEBOOKS}, from the repository's root)")
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT_S, help="seconds allowed per cell")
    parser.add_argument("--threads", type=int, default=None,
                        help="compute threads per kernel (default: 1 with --smoke, torch's choice with --full)")
    parser.add_argument("--log-output", action="store_true", help="echo the notebooks' output while running")
    parser.add_argument("--jobs", type=int, default=1,
                        help="notebooks run at once, one kernel process each (default: 1)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        extra = dict(parse_assignment(text) for text in args.param)
        started = time.perf_counter()
        runs = run_all(args.mode, args.out, args.only, extra, args.notebooks, args.timeout, args.log_output,
                       args.threads, jobs=args.jobs)
        wall = time.perf_counter() - started
    except SparsekitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # papermill's execution error: the failing cell's traceback is in the copy
        print(f"error: notebook execution failed: {str(exc).strip().splitlines()[-1] if str(exc).strip() else exc}",
              file=sys.stderr)
        return 1
    at_once = f", {args.jobs} at a time: {sum(r.seconds for r in runs):.1f} s summed" if args.jobs > 1 else ""
    print(f"{len(runs)} notebook(s) in {wall:.1f} s{at_once}; outputs in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
