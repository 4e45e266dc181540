"""A run beside other work: the wall time of a fixed short run (5 epochs of digits, ResNet-20,
`sparsekit train` as a user types it) with two CPU-busy processes running beside it, divided by
the same run alone. The kit's thread policy (`sparsekit/core/threads.py`) targets <= 2.0; with
torch's own default (a thread per core, whatever else runs) it was about 12 on a 2-core machine.
`--threads N` forces N threads (SPARSEKIT_THREADS) to show that default beside the policy.
Alone and beside the busy processes alternate, so a change in the machine's load between the
two hits both alike.

    python benchmarks/contention.py [--rounds 2] [--threads 2]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN = ["-m", "sparsekit", "train", "--dataset", "digits", "--model", "resnet20", "--mask", "random",
       "--sparsity", "0.9", "--epochs", "5", "--no-progress"]
BUSY = "while True: pass"


def timed_run(env: dict, busy: int, folder: Path) -> float:
    spinners = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(busy)]
    try:
        time.sleep(0.5 if busy else 0)  # the busy processes are running before the run starts
        began = time.perf_counter()
        subprocess.run([sys.executable, *RUN, "--out", str(folder), "--overwrite"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        return time.perf_counter() - began
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--busy", type=int, default=2, help="CPU-busy processes beside the run")
    parser.add_argument("--threads", type=int, help="force this many torch threads (default: the kit's policy)")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if args.threads:
        env["SPARSEKIT_THREADS"] = str(args.threads)
    else:
        env.pop("SPARSEKIT_THREADS", None)
    alone, beside = [], []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            alone.append(timed_run(env, 0, Path(folder) / "run"))
            beside.append(timed_run(env, args.busy, Path(folder) / "run"))
        record = (Path(folder) / "run" / "record.json").read_text()
    import json

    threads = json.loads(record)["environment"].get("threads")
    print(f"sparsekit train, digits, ResNet-20, 5 epochs; {os.cpu_count()} CPUs; load before: "
          f"{os.getloadavg()[0]:.1f}; threads: {threads}")
    print(f"alone: {', '.join(f'{t:.1f}' for t in alone)} s; beside {args.busy} busy processes: "
          f"{', '.join(f'{t:.1f}' for t in beside)} s")
    print(f"contention ratio (median beside / median alone): "
          f"{statistics.median(beside) / statistics.median(alone):.2f} (target <= 2.0)")


if __name__ == "__main__":
    main()
