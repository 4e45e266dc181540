"""Commit a long study's finished runs as they come, and nothing half-written.

    python benchmarks/study_commit.py benchmarks/results/study-converged            # once
    python benchmarks/study_commit.py benchmarks/results/study-converged --every 600

A run's folder is committed once its record says `finished`: its record.json, epochs.csv and
mask.pt (checkpoints and weights stay out: they are large, and the mask and the record rerun it).
The study's own files beside the runs (plan.json, PLAN.md, regime.json, the report) are
committed when they changed. Only these paths go into the commit (`git commit -- PATHS`), so
whatever else is staged in the checkout is left as it is. Run it from the main checkout while
the study trains from a frozen worktree.
"""
import argparse
import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import List

RUN_FILES = ("record.json", "epochs.csv", "mask.pt")
STUDY_FILES = ("plan.json", "PLAN.md", "regime.json", "report.md", "rows.json", "curves.png", "verdicts.json")


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
    return [study / name for name in STUDY_FILES if (study / name).is_file()]


def git(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def commit_finished(study: Path) -> int:
    """Commit what is finished and changed; the number of files committed (0: nothing new)."""
    root = Path(git("rev-parse", "--show-toplevel", cwd=study).stdout.strip())
    paths = [str(p.resolve().relative_to(root)) for p in finished_run_files(study) + study_files(study)]
    changed = git("status", "--porcelain", "--", *paths, cwd=root).stdout.splitlines() if paths else []
    if not changed:
        return 0
    added = git("add", "--", *paths, cwd=root)
    if added.returncode != 0:
        raise RuntimeError(added.stderr.strip() or "git add failed")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    done = git("commit", "-q", "-m", f"{study.name}: finished records ({stamp})", "--", *paths, cwd=root)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip() or done.stdout.strip() or "git commit failed")
    return len(changed)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", help="the study's folder, inside a git checkout")
    parser.add_argument("--every", type=float, default=None, metavar="SECONDS",
                        help="keep going: look again every SECONDS (default: once)")
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
    while True:
        try:
            count = commit_finished(study)
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
