"""The run directory (`out`): checked before any work, held by one writer at a time, and left
as it was when a run fails before its first checkpoint.

- `check_location(path)`: not a file, not under a file, writable — before anything is built;
- `RunDirectory(path, resume, overwrite)`: a context manager that refuses a folder holding
  files that are not a run's (or a run, unless resuming or overwriting), takes the lock file
  (with the PID; a lock whose process is dead is taken over), removes the temporary files a
  killed write left, removes the previous run's files when overwriting, and on a failure
  before `commit()` removes everything it created. The caller names the folders where the
  work that finds a mask keeps its progress (`progress`): those may stand alone, survive an
  interrupt and go with an overwrite.
"""
import contextlib
import os
import shutil
from pathlib import Path
from typing import List, Optional, Tuple

from ..core import atomic
from ..core.errors import SparsekitError

LOCK = ".sparsekit.lock"
# Files a run writes; record.json or checkpoint.pt is what makes a folder a run.
MARKERS = ("record.json", "checkpoint.pt")
RUN_FILES = MARKERS + ("mask.pt", "model.pt", "epochs.csv")


def check_location(path, what: str = "out") -> None:
    """Refuse a directory path that is a file, lies under a file, or cannot be created or written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise SparsekitError(f"{what} {path} is a file, not a directory; choose a directory")
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise SparsekitError(f"{what} {path} is under a file ({ancestor}); choose a directory path")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise SparsekitError(f"cannot write {what} {path}: {ancestor} is not writable")


def check_file_location(path, what: str = "out") -> None:
    """The same for a file to be written: not a directory, its folder a possible directory."""
    path = Path(path)
    if path.is_dir():
        raise SparsekitError(f"{what} {path} is a directory; name the file to write")
    check_location(path.parent, what=f"{what}'s folder")


class RunDirectory:
    def __init__(self, path, resume: bool, overwrite: bool, progress: Tuple[str, ...] = ()):
        self.path = Path(path)
        self.resume, self.overwrite = resume, overwrite
        self.progress = tuple(progress)
        self.committed = False
        self._before: Optional[set] = None
        self._created_dirs: List[Path] = []
        self._locked = False

    def __enter__(self) -> "RunDirectory":
        check_location(self.path)
        self._refuse_foreign_files()
        self._make_directories()
        try:
            self._lock()
            atomic.remove_stale_temporaries(self.path)
            self._refuse_foreign_files()  # again, under the lock: the folder may have changed
            if self.overwrite and not self.resume:
                self._remove_previous_run()
            self._before = set(os.listdir(self.path))
        except BaseException:
            self._release()
            raise
        return self

    def commit(self) -> None:
        """The run has saved progress (a checkpoint, or a diverged record): keep it on failure."""
        self.committed = True

    def __exit__(self, kind, error, trace) -> None:
        try:
            if kind is not None and not self.committed:
                # Interrupted work toward the mask keeps what it finished: calling again continues it.
                self._roll_back(keep=self.progress if issubclass(kind, KeyboardInterrupt) else ())
        finally:
            self._release()
            self._remove_created_directories_if_empty()

    # ---- checks --------------------------------------------------------------------------
    def _entries(self) -> List[str]:
        if not self.path.is_dir():
            return []
        return sorted(n for n in os.listdir(self.path) if n != LOCK and not atomic.is_temporary(n))

    def _refuse_foreign_files(self) -> None:
        entries = self._entries()
        # A run killed before its first checkpoint leaves its lock beside any files it had
        # written (older versions wrote mask.pt before training; it is now the final mask):
        # with the lock there, those are a run's, not a stranger's.
        killed_early = (self.path / LOCK).exists() and bool(entries) and set(entries) <= set(RUN_FILES)
        is_run = killed_early or any(name in entries for name in MARKERS)
        allowed = set(self.progress) | (set(RUN_FILES) if is_run else set())
        foreign = [name for name in entries if name not in allowed]
        if foreign:
            raise SparsekitError(f"{self.path} holds files that are not a sparsekit run's ({foreign[0]}"
                                 f"{f' and {len(foreign) - 1} more' if len(foreign) > 1 else ''}); "
                                 f"choose a new or empty directory for out")
        if is_run and not self.resume and not self.overwrite:
            marker = next((name for name in MARKERS if name in entries), LOCK)
            raise SparsekitError(f"{self.path} already holds a run ({marker}); pass resume=True (--resume) to "
                                 f"continue it, overwrite=True (--overwrite) to replace it, or choose another out")

    # ---- the lock ------------------------------------------------------------------------
    def _lock(self) -> None:
        lock = self.path / LOCK
        for _ in range(3):
            # The PID is written first and the lock appears by a hard link, atomically and whole.
            staging = self.path / f".{LOCK}.{os.getpid()}{atomic.TEMPORARY_SUFFIX}"
            staging.write_text(f"{os.getpid()}\n")
            try:
                os.link(staging, lock)
                self._locked = True
                return
            except FileNotFoundError:  # our staging file was swept by the holder's clean-up: retry
                continue
            except FileExistsError:
                holder = _read_pid(lock)
                if holder is not None and _alive(holder):
                    raise SparsekitError(f"{self.path} is in use by another run (process {holder}); wait for it "
                                         f"to finish, or choose another out") from None
                with contextlib.suppress(FileNotFoundError):  # stale: its process is gone
                    lock.unlink()
            finally:
                with contextlib.suppress(FileNotFoundError):
                    staging.unlink()
        raise SparsekitError(f"{self.path}: could not take the lock {LOCK} (other runs keep starting there)")

    def _release(self) -> None:
        if self._locked:
            with contextlib.suppress(FileNotFoundError):
                (self.path / LOCK).unlink()
            self._locked = False

    # ---- creating and removing -----------------------------------------------------------
    def _make_directories(self) -> None:
        missing = []
        folder = self.path
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SparsekitError(f"cannot create {self.path}: {exc.strerror or exc}") from None
        self._created_dirs = missing  # innermost first

    def _remove_previous_run(self) -> None:
        for name in RUN_FILES + self.progress:
            _remove(self.path / name)

    def _roll_back(self, keep) -> None:
        if self._before is None:
            return
        for name in set(os.listdir(self.path)) - self._before - {LOCK} - set(keep):
            _remove(self.path / name)

    def _remove_created_directories_if_empty(self) -> None:
        for folder in self._created_dirs:
            with contextlib.suppress(OSError):  # not empty (a run is there) or already gone
                folder.rmdir()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _read_pid(lock: Path) -> Optional[int]:
    try:
        return int(lock.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
