"""How many threads torch computes with, chosen so a run never oversubscribes the CPU.

torch starts with one thread per core of the host. Where the process may use fewer CPUs (an
affinity mask, a container's CPU quota: Binder gives about one core of a large host), or where
other work shares the cores, its OpenMP threads wait on each other at every operation and a
run goes 10-40x slower than on one thread. Small networks do not gain from a second thread
even on an idle machine. So, unless the user chose a count, the kit picks one per run:

- never more threads than the CPUs this process may use (affinity, cgroup v1 or v2 quota);
- one thread when a training step is too small to gain from more (`SMALL_STEP_MACS`).

The user chooses with `torch.set_num_threads`, `OMP_NUM_THREADS`/`MKL_NUM_THREADS`, or
`SPARSEKIT_THREADS`; the kit then keeps that count (capped at none: the user knows). Each
choice carries its reason, which the run record keeps.
"""
import math
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple, Optional, Tuple

import torch

from .errors import SparsekitError

THREADS_VARIABLE = "SPARSEKIT_THREADS"
OPENMP_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
# Multiply-adds of one training step (forward and backward, the whole batch) below which a
# second thread does not pay. Measured on an idle 2-core AMD EPYC (2026-12-07): a step alone
# gains 1.3-1.4x from two threads on the digits networks (0.06-0.97 GMAC, `benchmarks/threads.py`)
# and 1.7-1.8x from the Fashion-MNIST ResNet-20 x0.5 up (3-30 GMAC), but a whole digits run
# (`sparsekit train --dataset digits --epochs 5`, widths 0.25, 0.5 and 1) took 4.5-5.0 s on one
# thread and on two alike: start-up, data and evaluation swallow the step's gain. So the line
# sits above the digits networks and below the study's Fashion-MNIST network.
SMALL_STEP_MACS = 1.5e9

PROC_CGROUP = Path("/proc/self/cgroup")
PROC_LOADAVG = Path("/proc/loadavg")
CGROUP_ROOT = Path("/sys/fs/cgroup")


class Threads(NamedTuple):
    count: int
    reason: str

    def as_record(self) -> dict:
        return {"count": self.count, "reason": self.reason}


def cgroup_cpu_limit(proc_cgroup: Path = PROC_CGROUP, root: Path = CGROUP_ROOT) -> Optional[float]:
    """CPUs the process's cgroup quota allows (1.5 for 150 ms per 100 ms), the smallest along
    its cgroup and their ancestors; None without a quota. Reads cgroup v2 (`cpu.max`) and v1
    (`cpu.cfs_quota_us` / `cpu.cfs_period_us`)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: one unified hierarchy (under unified/ on a hybrid v1 system)
            mount = root if (root / "cgroup.controllers").exists() else root / "unified"
            limits += _limits_along(mount, path, _v2_limit)
        elif "cpu" in controllers.split(","):
            mount = next((root / name for name in (controllers, "cpu,cpuacct", "cpu") if (root / name).is_dir()), None)
            if mount is not None:
                limits += _limits_along(mount, path, _v1_limit)
    return min(limits) if limits else None


def _limits_along(mount: Path, path: str, read) -> list:
    """The limits of `path` and its ancestors under `mount`. Inside a container the recorded
    path can be the host's, absent here: then the mount itself is the process's cgroup."""
    folder = mount / path.strip("/")
    if not folder.is_dir():
        folder = mount
    limits = []
    while True:
        limit = read(folder)
        if limit is not None:
            limits.append(limit)
        if folder == mount or mount not in folder.parents:
            return limits
        folder = folder.parent


def _v2_limit(folder: Path) -> Optional[float]:
    try:
        quota, period = (folder / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def _v1_limit(folder: Path) -> Optional[float]:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period


def usable_cpus(proc_cgroup: Path = PROC_CGROUP, root: Path = CGROUP_ROOT) -> Tuple[int, str]:
    """(CPUs this process may use, how that was found): its affinity mask, lowered to the
    cgroup quota (rounded down: a thread beyond the quota is throttled, not run)."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_cpu_limit(proc_cgroup, root)
    if quota is not None and max(1, math.floor(quota)) < affinity:
        return max(1, math.floor(quota)), f"cgroup CPU quota {quota:g} of {affinity} CPUs in the affinity mask"
    return affinity, f"{affinity} CPUs in the affinity mask" + ("" if quota is None else f", quota {quota:g}")


def busy_cpus(loadavg: Path = PROC_LOADAVG, samples: int = 5, interval_s: float = 0.02) -> int:
    """How many CPUs other work keeps busy now: the runnable tasks the kernel counts (the 4th
    field of /proc/loadavg, this process's own reading among them), the median of a few readings
    so one moment's spike does not count; 0 where the system does not say."""
    readings = []
    for index in range(samples):
        try:
            running = int(loadavg.read_text().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return 0
        readings.append(max(0, running - 1))
        if index + 1 < samples:
            time.sleep(interval_s)
    return sorted(readings)[len(readings) // 2]


# What the kit itself last set; a count that differs from it (or from torch's start-up count,
# before the kit set any) was set by the user with torch.set_num_threads.
_STARTUP_COUNT = torch.get_num_threads()
_kit_count: Optional[int] = None
_last: Optional[Threads] = None
# A share of the CPUs this process was given by whoever started it (a sweep's worker).
_share: Optional[Threads] = None


def limit_to(share: Optional[Threads]) -> None:
    """Let the kit's choices use at most `share.count` CPUs from now on (None: no limit): a
    sweep running several workers on one machine gives each its part."""
    global _share
    if share is not None and share.count < 1:
        raise SparsekitError(f"a process's share of the CPUs must be at least one thread, got {share.count}")
    _share = share


_held: Optional[Threads] = None


@contextmanager
def held(count: int, reason: str):
    """Every run inside computes on `count` threads (a rerun: the recorded count); the count
    in effect before is restored after."""
    global _held
    before, before_held = torch.get_num_threads(), _held
    _held = use(Threads(count, reason))
    try:
        yield _held
    finally:
        _held = before_held
        use(Threads(before, _last.reason if _last else "restored"))


def user_choice() -> Optional[Threads]:
    """The count the user chose, with how, or None when the kit is free to choose."""
    if _held is not None:
        return _held
    value = os.environ.get(THREADS_VARIABLE)
    if value:
        try:
            count = int(value)
        except ValueError:
            count = 0
        if count < 1:
            raise SparsekitError(f"{THREADS_VARIABLE}={value!r}: use a whole number of threads >= 1")
        return Threads(count, f"{THREADS_VARIABLE}={count}")
    for name in OPENMP_VARIABLES:
        if os.environ.get(name):
            return Threads(torch.get_num_threads(), f"{name}={os.environ[name]}")
    expected = _kit_count if _kit_count is not None else _STARTUP_COUNT
    if torch.get_num_threads() != expected:
        return Threads(torch.get_num_threads(), "set with torch.set_num_threads")
    return None


def choose(step_macs: Optional[float]) -> Threads:
    """The count for a run whose training step costs `step_macs` multiply-adds (None: unknown)."""
    chosen = user_choice()
    if chosen is not None:
        return chosen
    cpus, found = usable_cpus()
    if _share is not None and _share.count < cpus:
        cpus, found = _share.count, _share.reason
    if cpus == 1:
        return Threads(1, f"one usable CPU ({found})")
    if step_macs is not None and step_macs < SMALL_STEP_MACS:
        return Threads(1, f"a small step ({step_macs / 1e9:.2g} GMAC < {SMALL_STEP_MACS / 1e9:g}) gains nothing "
                          f"from more threads ({found})")
    busy = busy_cpus()
    if busy:  # threads that wait on each other behind other work's turns run slower than fewer
        idle = max(1, cpus - busy)
        return Threads(idle, f"{idle} of {cpus} usable CPUs: other work keeps {busy} busy ({found})")
    return Threads(cpus, f"all usable CPUs ({found})")


def use(threads: Threads) -> Threads:
    """Set torch to `threads` and remember it as the kit's own choice."""
    global _kit_count, _last
    if torch.get_num_threads() != threads.count:
        torch.set_num_threads(threads.count)
    _kit_count, _last = threads.count, threads
    return threads


def apply(step_macs: Optional[float]) -> Threads:
    """Choose and set the count for a run (see `choose`)."""
    return use(choose(step_macs))


def last() -> Optional[Threads]:
    """The count set for the latest run of this process, with its reason (None before any)."""
    if _last is not None and _last.count != torch.get_num_threads():  # changed since: the user's
        return Threads(torch.get_num_threads(), "set with torch.set_num_threads")
    return _last
