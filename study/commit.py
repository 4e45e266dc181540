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
lags the records), unless README.md holds an uncommitted edit of its own. Only these paths go into the commit (`git commit -- PATHS`), so
whatever else is staged in the checkout is left as it is. Run it from the main checkout while
the study trains from a frozen worktree.

A new session's checkout holds what was committed, so the checkpoints of runs still training
when a session ends (git ignores them) would be lost and those runs would start again from
epoch 0. `--park` (with the runner stopped) commits them, each with its record and epoch table,
as one archive, `parked.tar`, beside the study's files; the runs themselves stay unfinished and
uncommitted, so nothing that reads the study sees a half-trained record. `--unpark` puts them
back where they were, in folders that have no checkpoint of their own, and removes the archive
in a commit; the runner then resumes each one from its last finished epoch. A run parked on a
machine whose sums differ from this one's (another torch version, instruction set, or CPU model
or feature flags, as its record or the archive's note of the parking machine names them) is
not restored but starts again from epoch 0, so that every record ran on
one machine and reruns exactly on a machine like it.

A lottery-ticket run computes its mask in rounds before its own first epoch, under
`<run>/lottery/`: `state.pt` (the mask and rewind weights after the last finished round) and a
folder per round, the one in training holding its checkpoint. Its `lottery` folder is parked as
one piece (state, round checkpoints, round records), so the next session continues with the
round it stopped in rather than training every round again; parked on another kind of machine,
the lottery starts again from its first round. Each finished round's record and epoch table are
committed like a run's (what the round trained, and its seconds, which the report counts).
"""
import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import List, Optional

RUN_FILES = ("record.json", "epochs.csv", "mask.pt")
PARKED = "parked.tar"
PARKED_FILES = ("checkpoint.pt", "record.json", "epochs.csv", "mask.pt")
LOTTERY = "lottery"  # a run's folder of lottery rounds (sparsekit.runs.lottery), parked whole
LOTTERY_FILES = PARKED_FILES + ("state.pt",)
README = "README.md"  # at the checkout's root: `--readme` rewrites its generated study block
LOCK = ".sparsekit.lock"  # a training run's lock, holding its process id
SUMS_DEPEND_ON = ("torch", "cpu_capability", "cpu")  # a record's environment keys that change its floats
MACHINE = "machine.json"  # in the archive: the parking machine (older records do not name their CPU)
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


def git(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def checkout_root(study: Path) -> Path:
    return Path(git("rev-parse", "--show-toplevel", cwd=study).stdout.strip())


def ignored(root: Path, paths: List[str]) -> set:
    """Those of `paths` that .gitignore keeps out: a recipe arm's mask.pt is a copy of its cell's
    default mask (the record names that file), so only the default's and the capacity arm's are
    committed; one ignored path must not stop the others from being committed."""
    found = git("check-ignore", "--", *paths, cwd=root) if paths else None
    return set(found.stdout.splitlines()) if found is not None else set()


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
    _commit(root, paths, f"{study.name}: finished records ({stamp})")
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


def _regenerate(module_and_arguments: List[str], root: Path) -> None:
    """Run a generating module; a failure is one line on stderr (the records are committed anyway)."""
    done = subprocess.run([sys.executable, "-m", *module_and_arguments], cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        print(f"error: {module_and_arguments[0]} failed: {lines[-1] if lines else 'exit ' + str(done.returncode)}",
              file=sys.stderr, flush=True)


def _read_record(run: Path) -> Optional[dict]:
    try:
        return json.loads((run / "record.json").read_text())
    except (OSError, ValueError):
        return None


def _training_process(run: Path) -> Optional[int]:
    """The process id holding the run's lock, while that process lives."""
    try:
        pid = int((run / LOCK).read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def _in_lottery(path: Path, study: Path) -> bool:
    return LOTTERY in path.relative_to(study).parts


def unfinished_runs(study: Path) -> List[Path]:
    """What to park: the run folders with a checkpoint whose record does not say finished, and
    the `lottery` folder of each run whose record does not say finished (its rounds' progress)."""
    runs = [checkpoint.parent for checkpoint in sorted(study.rglob("checkpoint.pt"))
            if not _in_lottery(checkpoint, study) and not (_read_record(checkpoint.parent) or {}).get("finished")]
    lotteries = [state.parent for state in sorted(study.rglob(f"{LOTTERY}/state.pt"))
                 if state.parent.name == LOTTERY and not (_read_record(state.parent.parent) or {}).get("finished")]
    return runs + lotteries


def _parked_files(folder: Path) -> List[Path]:
    """A parked folder's files: a run's, or a lottery's state and every round's files."""
    if folder.name != LOTTERY:
        return [folder / name for name in PARKED_FILES if (folder / name).is_file()]
    rounds = [path for path in sorted(folder.glob("round_*/*")) if path.name in PARKED_FILES and path.is_file()
              # a finished round lives on in state.pt: its checkpoint would only weigh on the archive
              and not (path.name == "checkpoint.pt" and (_read_record(path.parent) or {}).get("finished"))]
    return [folder / "state.pt"] + rounds


def _holder(folder: Path) -> Optional[int]:
    """A live process training in `folder` (a lottery: its run or any of its rounds)."""
    places = [folder] if folder.name != LOTTERY else [folder.parent] + sorted(folder.glob("round_*"))
    return next((pid for pid in map(_training_process, places) if pid is not None), None)


def _commit(root: Path, paths: List[str], message: str) -> None:
    done = git("commit", "-q", "-m", message, "--", *paths, cwd=root)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip() or done.stdout.strip() or "git commit failed")


def park(study: Path) -> int:
    """Commit the unfinished runs' checkpoints as `parked.tar`; the number of runs parked."""
    archive = study / PARKED
    if archive.exists():
        raise RuntimeError(f"{archive} is there already: unpark it first (--unpark)")
    runs = unfinished_runs(study)
    for run in runs:
        pid = _holder(run)
        if pid is not None:
            raise RuntimeError(f"{run} is still training (process {pid}): stop the runner first")
    if not runs:
        return 0
    partial = study / (PARKED + ".partial")
    try:
        with tarfile.open(partial, "w") as tar:
            machine = json.dumps(this_machine()).encode()
            info = tarfile.TarInfo(MACHINE)
            info.size, info.mtime = len(machine), int(time.time())
            tar.addfile(info, io.BytesIO(machine))
            for run in runs:
                for path in _parked_files(run):
                    tar.add(path, arcname=path.relative_to(study).as_posix())
        os.replace(partial, archive)
    finally:
        partial.unlink(missing_ok=True)
    root = checkout_root(study)
    path = str(archive.resolve().relative_to(root))
    added = git("add", "-f", "--", path, cwd=root)
    if added.returncode != 0:
        raise RuntimeError(added.stderr.strip() or "git add failed")
    _commit(root, [path], f"{study.name}: {len(runs)} unfinished run(s) parked for the next session")
    return len(runs)


def _parked_folders(tar: tarfile.TarFile, archive: Path) -> dict:
    """The archive's files by parked folder (a run's, or a run's whole `lottery` folder), each
    checked to be one of a run's files."""
    folders = {}
    for member in tar.getmembers():
        name = Path(member.name)
        if member.name == MACHINE and member.isfile():
            continue
        lottery = LOTTERY in name.parts[:-1]
        allowed = LOTTERY_FILES if lottery else PARKED_FILES
        if not member.isfile() or name.is_absolute() or ".." in name.parts or name.name not in allowed:
            raise RuntimeError(f"{archive}: {member.name} is not a parked run's file; nothing was restored")
        folder = Path(*name.parts[:name.parts.index(LOTTERY) + 1]) if lottery else name.parent
        folders.setdefault(folder, []).append(member)
    return folders


def _keeps_its_own(folder: Path) -> bool:
    """Whether a folder in this checkout has progress of its own, which the parked copy must not replace."""
    if folder.name == LOTTERY:
        return (folder / "state.pt").exists() or bool((_read_record(folder.parent) or {}).get("finished"))
    return (folder / "checkpoint.pt").exists() or bool((_read_record(folder) or {}).get("finished"))


def _clear(folder: Path) -> str:
    """Remove a parked folder's stale files so the runner starts it again; what starts again."""
    if folder.name == LOTTERY:
        shutil.rmtree(folder, ignore_errors=True)
        return "its lottery starts again from round 1"
    for name in PARKED_FILES:
        (folder / name).unlink(missing_ok=True)
    return "starts again from epoch 0"


def this_machine() -> dict:
    """This machine's values of what a run's sums depend on, as a record names them."""
    import torch  # only parking and unparking need it

    from sparsekit.core.machine import cpu_identity

    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpu": cpu_identity()}


def _parked_machine(tar: tarfile.TarFile, members: list) -> dict:
    """The machine a parked run trained on: what its record names, completed by the archive's
    note of the parking machine (a record written before records named their CPU); {} where
    neither says."""
    found = {}
    for member in members:
        if Path(member.name).name == "record.json":
            try:
                found = json.loads(tar.extractfile(member).read()).get("environment") or {}
            except ValueError:
                found = {}
            break
    try:
        parking = json.loads(tar.extractfile(MACHINE).read())
    except (KeyError, ValueError):  # an archive from before the note
        parking = {}
    return {**parking, **{key: value for key, value in found.items() if key in SUMS_DEPEND_ON}}


def _machine_change(parked: dict, here: dict) -> Optional[str]:
    """How the parking machine differs from this one in what the sums depend on (None: it does not)."""
    changed = [f"{key} {parked[key]} there, {here[key]} here" for key in SUMS_DEPEND_ON
               if key in parked and key in here and parked[key] != here[key]]
    return "; ".join(changed) or None


def unpark(study: Path, machine: Optional[dict] = None) -> int:
    """Put the parked runs back and remove the archive in a commit; the number of runs restored
    (a folder that holds its own checkpoint or a finished record keeps it). A run parked on
    another kind of machine (`machine`: this one's, by default) is not restored: its folder is
    cleared of stale files so that the runner starts it again from epoch 0."""
    archive = study / PARKED
    if not archive.is_file():
        return 0
    restored = 0
    with tarfile.open(archive) as tar:
        for folder, members in _parked_folders(tar, archive).items():
            run = study / folder
            if _keeps_its_own(run):
                continue
            change = _machine_change(_parked_machine(tar, members), machine or this_machine())
            if change is not None:
                print(f"{folder}: {_clear(run)} ({change})", flush=True)
                continue
            tar.extractall(study, members=members, filter="data")
            restored += 1
    root = checkout_root(study)
    path = str(archive.resolve().relative_to(root))
    if git("ls-files", "--error-unmatch", "--", path, cwd=root).returncode == 0:
        removed = git("rm", "-q", "--", path, cwd=root)
        if removed.returncode != 0:
            raise RuntimeError(removed.stderr.strip() or "git rm failed")
        _commit(root, [path], f"{study.name}: {restored} parked run(s) restored to resume")
    else:
        archive.unlink()
    return restored


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
