"""Where a sweep's runs execute. Each backend takes the runs' keyword arguments for
`run_point` and yields their outcomes as they finish (in any order).

- `inline`: one after another in this process (records keep their model and mask; a task
  may carry `callbacks` and `given` objects, which stay in this process);
- `local`: a pool of worker processes on this machine, the CPU threads divided among them;
- `ray`: one Ray task per run, on a local Ray or an existing cluster (`address`), each
  asking for the CPUs and GPUs it needs; Ray places and, for a lost node, reruns them.

The parallel backends also yield None every `POLL_SECONDS` while no run has finished, so the
caller can follow the runs' epochs meanwhile.
"""
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Callable, Dict, Iterator, List, Optional

from ...core.errors import SparsekitError
from ...core.threads import usable_cpus
from .run_point import run_point

BACKENDS = ("local", "ray", "inline")
POLL_SECONDS = 2.0


def run_inline(tasks: List[Dict], on_start: Optional[Callable[[str], None]] = None) -> Iterator[Dict]:
    for task in tasks:
        if on_start is not None:
            on_start(task["name"])
        yield run_point(**task, keep_objects=True)


def run_local(tasks: List[Dict], workers: Optional[int] = None) -> Iterator[Dict]:
    cores = usable_cpus()[0]
    workers = max(1, min(workers or cores, len(tasks)))
    threads = max(1, cores // workers)  # two workers on two cores: one thread each, no oversubscription
    # spawn, not fork: a forked torch (and a forked notebook kernel) can hang in its thread pools.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                             initializer=_idle_ignores_ctrl_c) as pool:
        pending = {pool.submit(_run_in_worker, dict(task, threads=threads)): task for task in tasks}
        try:
            while pending:
                done, _ = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                if not done:
                    yield None
                for future in done:
                    yield outcome_of(future.result, pending.pop(future))
        except BaseException:  # an interrupt: queued runs never start (running ones stop on their own SIGINT)
            for future in pending:
                future.cancel()
            raise


def _idle_ignores_ctrl_c() -> None:
    """A worker waiting for its next run ignores Ctrl-C (which a terminal sends to every process
    of the sweep): the pool's shutdown ends it, where the interrupt would print its traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_in_worker(task: Dict) -> Dict:
    """One run in a local worker: Ctrl-C stops it (its run folder keeps the last checkpoint)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return run_point(**task)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_ray(tasks: List[Dict], address: Optional[str] = None, cpus_per_run: float = 1,
            gpus_per_run: float = 0, num_cpus: Optional[int] = None) -> Iterator[Dict]:
    try:
        import ray
    except ImportError:
        raise SparsekitError("the ray backend needs Ray: pip install 'ray>=2'") from None
    started_here = not ray.is_initialized()
    if started_here:
        # A cluster's address joins it; None starts a private Ray on this machine.
        ray.init(address=address, num_cpus=None if address else num_cpus, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    try:
        remote = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=1)(run_point)
        threads = max(1, int(cpus_per_run))
        pending = {remote.remote(**task, threads=threads): task for task in tasks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_SECONDS)
            if not done:
                yield None
                continue
            task = pending.pop(done[0])
            yield outcome_of(lambda: ray.get(done[0]), task)
    finally:
        if started_here:
            ray.shutdown()


def outcome_of(get, task: Dict) -> Dict:
    """The outcome, or a failure when the worker itself died (killed, out of memory)."""
    try:
        return get()
    except (BrokenProcessPool, Exception) as error:  # the run's own errors are caught inside run_point
        return {"name": task["name"], "dir": task["run_dir"], "status": "failed", "record": None,
                "error": f"worker lost: {type(error).__name__}: {error}"}
