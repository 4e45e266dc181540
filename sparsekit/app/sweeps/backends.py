"""Where a sweep's runs execute. Each backend takes the runs' keyword arguments for
`run_point` and yields their outcomes as they finish (in any order).

- `inline`: one after another in this process (records keep their model and mask);
- `local`: a pool of worker processes on this machine, the CPU threads divided among them;
- `ray`: one Ray task per run, on a local Ray or an existing cluster (`address`), each
  asking for the CPUs and GPUs it needs; Ray places and, for a lost node, reruns them.
"""
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Dict, Iterator, List, Optional

from ...core.errors import SparsekitError
from ...core.threads import usable_cpus
from .run_point import run_point

BACKENDS = ("local", "ray", "inline")


def run_inline(tasks: List[Dict]) -> Iterator[Dict]:
    for task in tasks:
        yield run_point(**task, keep_objects=True)


def run_local(tasks: List[Dict], workers: Optional[int] = None) -> Iterator[Dict]:
    cores = usable_cpus()[0]
    workers = max(1, min(workers or cores, len(tasks)))
    threads = max(1, cores // workers)  # two workers on two cores: one thread each, no oversubscription
    # spawn, not fork: a forked torch (and a forked notebook kernel) can hang in its thread pools.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(run_point, **task, threads=threads): task for task in tasks}
        for future in as_completed(futures):
            yield outcome_of(future.result, futures[future])


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
            done, _ = ray.wait(list(pending), num_returns=1)
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
