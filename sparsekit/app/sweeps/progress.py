"""What a person sees while a grid trains: ONE bar over all its epochs (runs x epochs),
labelled with the run it is on, and on Ctrl-C / Kernel > Interrupt one line that says what
was kept and whether running it again continues or restarts.

A run in this process moves the bar at every epoch's end (`EpochTicker`, a callback); runs in
worker processes are followed through the `epochs.csv` each rewrites after every epoch
(`GridProgress.poll`), so the bar moves per epoch there too. Progress off (headless notebook
runs) draws nothing: tqdm's notebook widget would only leave a frozen bar in saved output.
"""
import time
from pathlib import Path
from typing import Dict, Optional

from ...core.callbacks import Callback
from ...training.epoch_csv import FILENAME as EPOCHS_FILE


NO_FOLDERS = "this grid keeps no run folders"


class GridInterrupted(KeyboardInterrupt):
    """A grid stopped by the user: still a KeyboardInterrupt (scripts and Run All stop as
    before), carrying the one line to show (`sparsekit.app.notebook_errors` folds the rest;
    the command line says `line(again=...)` with its own way to run it again)."""

    def __init__(self, counts: str, kept: Optional[str] = None, why_none: str = NO_FOLDERS):
        self.counts, self.kept, self.why_none = counts, kept, why_none
        super().__init__(self.line())

    def __reduce__(self):  # pickled with its parts (the default would pass the line as `counts`)
        return type(self), (self.counts, self.kept, self.why_none)

    def line(self, again: str = "run the cell again") -> str:
        """What finished, where it is kept, and what `again` (running it again) does."""
        if self.kept:
            return (f"interrupted: {self.counts}, kept in {self.kept}; {again} to continue (finished runs are "
                    f"skipped, an interrupted one resumes from its last checkpoint)")
        return f"interrupted: {self.counts}, none kept ({self.why_none}); {again} to restart"


class GridProgress:
    """One bar over every epoch of a sweep's runs (name -> epochs), or none when disabled."""

    def __init__(self, epochs: Dict[str, int], run_dirs: Dict[str, Optional[str]], enabled: bool,
                 fresh_only: bool = False):
        from tqdm.auto import tqdm

        self.epochs, self.run_dirs = dict(epochs), dict(run_dirs)
        self.done = dict.fromkeys(self.epochs, 0)
        self.finished: Dict[str, str] = {}  # name -> status
        # With overwrite, a folder's old epochs.csv is not this sweep's progress.
        self.since = time.time() if fresh_only else 0.0
        self.bar = tqdm(total=sum(self.epochs.values()), unit="epoch", desc="grid", dynamic_ncols=True,
                        disable=not enabled)

    def starting(self, name: str) -> None:
        """A run begins (its mask may take a while): the label says which."""
        self._label(name)

    def at(self, name: str, epochs_done: int) -> None:
        """`name` has finished `epochs_done` of its epochs; the bar never moves back."""
        epochs_done = min(epochs_done, self.epochs[name])
        if epochs_done > self.done[name]:
            self.bar.update(epochs_done - self.done[name])
            self.done[name] = epochs_done
        self._label(name)

    def ended(self, outcome: dict) -> None:
        """A run's outcome: a finished or skipped run counts all its epochs, a failed one what it trained."""
        name = outcome["name"]
        self.finished[name] = outcome["status"]
        if outcome["status"] != "failed":
            self.at(name, self.epochs[name])
        failed = sum(status == "failed" for status in self.finished.values())
        self.bar.set_postfix_str(f"{len(self.finished)}/{len(self.epochs)} runs" + (f", {failed} failed" if failed else ""))

    def poll(self) -> None:
        """Runs in other processes: each one's epochs so far, read from its epochs.csv."""
        for name, run_dir in self.run_dirs.items():
            if name in self.finished or run_dir is None:
                continue
            path = Path(run_dir) / EPOCHS_FILE
            try:
                if path.stat().st_mtime < self.since:
                    continue
                rows = path.read_text().count("\n") - 1  # the header line apart
            except OSError:
                continue
            if rows > self.done[name]:
                self.at(name, rows)

    def ticker(self, name: str) -> "EpochTicker":
        return EpochTicker(self, name)

    def interrupted(self, kept: Optional[str], why_none: str = NO_FOLDERS) -> GridInterrupted:
        """The one line for an interrupt: what finished and what running it again does."""
        finished = sum(status != "failed" for status in self.finished.values())
        return GridInterrupted(f"{finished} of {len(self.epochs)} runs finished", kept, why_none)

    def close(self) -> None:
        self.bar.close()

    def _label(self, name: str) -> None:
        self.bar.set_description_str(f"{name} (epoch {self.done[name]}/{self.epochs[name]})", refresh=False)
        self.bar.refresh()


class EpochTicker(Callback):
    """Moves the grid's bar at every epoch's end of one run in this process (from a resumed
    run's saved epochs on)."""

    def __init__(self, progress: GridProgress, name: str):
        self.progress, self.name = progress, name

    def on_run_start(self, state) -> None:
        self.progress.at(self.name, state.epoch)

    def on_epoch_end(self, state) -> None:
        self.progress.at(self.name, state.epoch)
