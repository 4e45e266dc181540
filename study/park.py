"""Park the runs still training when a session ends, so that the next session resumes them.

    python -m study.commit benchmarks/results/study-converged --park     # runner stopped
    python -m study.commit benchmarks/results/study-converged --unpark   # next session

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
import io
import json
import os
import shutil
import tarfile
import time
from pathlib import Path
from typing import List, Optional

from .checkout import checkout_root, commit_paths, git

PARKED = "parked.tar"
PARKED_FILES = ("checkpoint.pt", "record.json", "epochs.csv", "mask.pt")
LOTTERY = "lottery"  # a run's folder of lottery rounds (sparsekit.runs.lottery), parked whole
LOTTERY_FILES = PARKED_FILES + ("state.pt",)
LOCK = ".sparsekit.lock"  # a training run's lock, holding its process id
SUMS_DEPEND_ON = ("torch", "cpu_capability", "cpu")  # a record's environment keys that change its floats
MACHINE = "machine.json"  # in the archive: the parking machine (older records do not name their CPU)


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
    commit_paths(root, [path], f"{study.name}: {len(runs)} unfinished run(s) parked for the next session")
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
        commit_paths(root, [path], f"{study.name}: {restored} parked run(s) restored to resume")
    else:
        archive.unlink()
    return restored
