"""Commit a long study's finished runs as they come, and nothing half-written; park the runs
still training when a session ends, so that the next session resumes them.

    python -m study.commit benchmarks/results/study-converged            # once
    python -m study.commit benchmarks/results/study-converged --every 600
    python -m study.commit benchmarks/results/study-addendum --every 600 --report study.addendum_report \
        --readme study.readme
    python -m study.commit benchmarks/results/study-converged --park     # runner stopped
    python -m study.commit benchmarks/results/study-converged --unpark   # next session

A run's folder is committed once its record says `finished`: its record.json, epochs.csv and
mask.pt (checkpoints and weights stay out: they are large, and the mask and the record rerun it).
The study's own files beside the runs (plan.json, PLAN.md, regime.json, the report) are
committed when they changed; with `--readme`, so is the checkout's README.md, whose generated
study block the named module rewrites from the new answer file (a test fails while that block
lags the records), unless README.md holds an uncommitted edit of its own. Only these paths go
into the commit (`git commit -- PATHS`), so whatever else is staged in the checkout is left as
it is. Run it from the main checkout while the study trains from a frozen worktree.

Parking and unparking (`--park`, `--unpark`) are `study.park`'s.
"""
import argparse
import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import List, Optional

from .checkout import checkout_root, commit_paths, git, ignored
from .park import park, unpark

RUN_FILES = ("record.json", "epochs.csv", "mask.pt")
README = "README.md"  # at the checkout's root: `--readme` rewrites its generated study block
# report.md and answer.json are written together (study.report, study.addendum_report): committed together.
STUDY_FILES = ("plan.json", "PLAN.md", "regime.json", "report.md", "answer.json", "rows.json", "curves.png", "verdict.png",
               "verdicts.json")


def finished_run_files(study: Path) -> List[Path]:
    """The committed files of every finished run under `study` (a run: a folder with a record)."""
    paths = []
    for record in sorted(study.rglob("record.json")):
        try:
            done = json.loads(record.read_text()).get("finished")
        except (OSError, ValueError):
            continue  # being written: the next pass sees it whole
        if done:
            paths += [record.parent / name for name in RUN_FILES if (record.parent / name).is_file()]
    return paths


def study_files(study: Path) -> List[Path]:
    """The study's own files; in the addendum also a second network's regime (`<network>/regime.json`,
    chosen by its own curves) and the structure control's masks (`masks/*.pt`, which its runs' records
    name as their mask file)."""
    nested = sorted(study.glob("*/regime.json")) + sorted(study.glob("masks/*.pt"))
    return [study / name for name in STUDY_FILES if (study / name).is_file()] + nested


def commit_finished(study: Path, report: Optional[str] = None, readme: Optional[str] = None) -> int:
    """Commit what is finished and changed; the number of files committed (0: nothing new).
    `report`: a module run as `python -m <report> <study>` from the checkout's root whenever new
    runs finished, so the study's generated report goes into the same commit as its records.
    `readme`: a module run as `python -m <readme>` from the checkout's root after the report, which
    rewrites README.md's generated block from it; README.md then goes into the same commit."""
    root = checkout_root(study)
    extra: List[Path] = []
    if report is not None and _changed(root, finished_run_files(study)):
        _regenerate([report, str(study.resolve())], root)
        if readme is not None and _readme_is_ours(root):
            _regenerate([readme], root)
            extra = [root / README] if (root / README).is_file() else []
    paths = [str(p.resolve().relative_to(root)) for p in finished_run_files(study) + study_files(study) + extra]
    paths = [path for path in paths if path not in ignored(root, paths)]
    changed = git("status", "--porcelain", "--", *paths, cwd=root).stdout.splitlines() if paths else []
    if not changed:
        return 0
    added = git("add", "--", *paths, cwd=root)
    if added.returncode != 0:
        raise RuntimeError(added.stderr.strip() or "git add failed")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit_paths(root, paths, f"{study.name}: finished records ({stamp})")
    return len(changed)


def _changed(root: Path, files: List[Path]) -> bool:
    paths = [str(p.resolve().relative_to(root)) for p in files]
    return bool(paths) and bool(git("status", "--porcelain", "--", *paths, cwd=root).stdout.strip())


def _readme_is_ours(root: Path) -> bool:
    """Whether README.md is as last committed: an edit in progress there must not be committed in
    a records commit, so its block is then left for the person editing (one line says so)."""
    if not git("status", "--porcelain", "--", README, cwd=root).stdout.strip():
        return True
    print(f"error: {README} has uncommitted changes of its own: its study block was not rewritten (rewrite and "
          "commit it by hand)", file=sys.stderr, flush=True)
    return False


def _module_found(module: str, root: Path) -> bool:
    """Whether `python -m module` would find it when run from `root` (as `_regenerate` runs it), so a
    misspelt module is refused before the loop starts rather than failing on every pass."""
    probe = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec(sys.argv[1]) else 1)"
    try:
        return subprocess.run([sys.executable, "-c", probe, module], cwd=root, capture_output=True).returncode == 0
    except OSError:
        return False


def _regenerate(module_and_arguments: List[str], root: Path) -> None:
    """Run a generating module; a failure is one line on stderr (the records are committed anyway)."""
    done = subprocess.run([sys.executable, "-m", *module_and_arguments], cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        print(f"error: {module_and_arguments[0]} failed: {lines[-1] if lines else 'exit ' + str(done.returncode)}",
              file=sys.stderr, flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", help="the study's folder, inside a git checkout")
    parser.add_argument("--every", type=float, default=None, metavar="SECONDS",
                        help="keep going: look again every SECONDS (default: once)")
    parser.add_argument("--report", default=None, metavar="MODULE",
                        help="regenerate the study's report with `python -m MODULE STUDY` whenever runs finish, "
                             "and commit it with them (e.g. study.addendum_report)")
    parser.add_argument("--readme", default=None, metavar="MODULE",
                        help="after the report, rewrite README.md's generated block with `python -m MODULE` and commit "
                             "it with the records (e.g. study.readme); needs --report, which writes what it reads")
    ends = parser.add_mutually_exclusive_group()
    ends.add_argument("--park", action="store_true",
                      help="at a session's end, runner stopped: commit the unfinished runs' checkpoints")
    ends.add_argument("--unpark", action="store_true",
                      help="at a session's start: put the parked runs back to resume them")
    args = parser.parse_args(argv)
    study = Path(args.study)
    if not study.is_dir():
        print(f"error: no such study folder: {study}", file=sys.stderr)
        return 2
    if args.every is not None and args.every <= 0:
        print(f"error: --every takes a number of seconds > 0, got {args.every}", file=sys.stderr)
        return 2
    if git("rev-parse", "--show-toplevel", cwd=study).returncode != 0:
        print(f"error: {study} is not inside a git checkout", file=sys.stderr)
        return 2
    if args.readme is not None and args.report is None:
        print("error: --readme needs --report: the README's block is read from the answer file the report writes",
              file=sys.stderr)
        return 2
    for flag, module in (("--report", args.report), ("--readme", args.readme)):
        if module is not None and not _module_found(module, checkout_root(study)):
            print(f"error: {flag} {module}: no such module from {checkout_root(study)} (it runs as `python -m "
                  f"{module}` there)", file=sys.stderr)
            return 2
    if args.park or args.unpark:
        given = [flag for flag, value in (("--every", args.every), ("--report", args.report)) if value is not None]
        if given:
            print(f"error: {given[0]} goes with committing finished runs; --park and --unpark run once and commit "
                  "no report", file=sys.stderr)
            return 2
        try:
            count = park(study) if args.park else unpark(study)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"{'parked' if args.park else 'restored'} {count} unfinished run(s)", flush=True)
        return 0
    while True:
        try:
            count = commit_finished(study, args.report, args.readme)
            if count:
                print(f"{datetime.now(timezone.utc):%H:%M} committed {count} file(s)", flush=True)
        except RuntimeError as exc:  # another git command held the index: the next pass retries
            print(f"error: {exc}", file=sys.stderr, flush=True)
            if args.every is None:
                return 1
        if args.every is None:
            return 0
        time.sleep(args.every)


if __name__ == "__main__":
    sys.exit(main())
