"""The command users tried, `sparsekit train --dataset digits --model resnet20 --mask snip
--sparsity 0.9 --epochs 10 --seed S --recipe tost`, over seeds, with and without GradInit and
with each GradInit variant and order; prints the metric and GradInit's diagnostics.

    python benchmarks/gradinit_digits.py --seeds 0 1 2 --out build/gradinit-digits

Each run is the command line itself (a subprocess, one torch thread); a finished run is read
back from OUT/<arm>-seed<S>/record.json instead of retrained.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from sparsekit.recipe import init_log
from sparsekit.report.seeded_rows import test_set_size
from sparsekit.report.verdict import paired_verdict

BASELINE = "tost without GradInit"  # the comparison the arms are paired with (same mask and seed)
COMMAND = ["--dataset", "digits", "--model", "resnet20", "--mask", "snip", "--sparsity", "0.9", "--epochs", "10"]
ARMS = {
    "default": ["--recipe", "default"],
    "tost without GradInit": ["--recipe", "tost", "--init", "none"],
    "tost (GradInit dense-then-mask, before the ghosts)": ["--recipe", "tost"],
    "tost, GradInit masked, before the ghosts": ["--recipe", "tost", "--init-variant", "masked"],
    "tost, GradInit type 2 after the ghosts (the kit before)": [
        "--recipe", "tost", "--init-variant", "masked-network-dense-gradient", "--init-order", "after-ghosts"],
    "tost-release": ["--recipe", "tost-release"],
}


def run(label: str, seed: int, out: Path) -> dict:
    folder = out / f"{''.join(c if c.isalnum() else '-' for c in label.split(' (')[0])}-seed{seed}"
    record_file = folder / "record.json"
    if record_file.exists() and json.loads(record_file.read_text()).get("finished"):
        return json.loads(record_file.read_text())
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, "-m", "sparsekit", "train", *COMMAND, "--seed", str(seed), *ARMS[label],
                    "--out", str(folder), "--overwrite", "--no-progress"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return json.loads(record_file.read_text())


def diagnostics(record: dict) -> str:
    log = init_log(record)
    if not log:
        return ""
    first, last = log["gradient_share"]["first"], log["gradient_share"]["last"]
    norms = [s for n, s in log["scales"].items() if "bn." in n and n.endswith("weight")]
    classifier = [s for n, s in log["scales"].items() if n == "classifier.weight"]
    return (f"|g| {first['norm']:.3g} -> {last['norm']:.3g}, kept share {first['kept_share']:.3f} -> "
            f"{last['kept_share']:.3f}, steps norm/look-ahead {log['steps_by_objective']['gradient_norm']}/"
            f"{log['steps_by_objective']['lookahead']}, BN-weight scales mean {statistics.mean(norms):.2f} "
            f"({sum(s <= 0.0101 for s in norms)} at the floor), classifier x{classifier[0]:.2f}")


def _short(verdict) -> str:
    if not verdict:
        return ""
    if verdict.low is None:
        return f"{verdict.mean:+.4f} ({verdict.word})"
    return f"{verdict.mean:+.4f} [{verdict.low:+.4f}, {verdict.high:+.4f}]: {verdict.word}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="build/gradinit-digits")
    args = parser.parse_args(argv)
    out = Path(args.out)
    print(f"| arm | test acc, mean ± std (seeds {', '.join(map(str, args.seeds))}) | per seed | "
          f"paired with `{BASELINE}` | GradInit, seed {args.seeds[0]} |\n|---|---|---|---|---|", flush=True)
    accuracies = {}
    for label in sorted(ARMS, key=lambda name: name != BASELINE):  # the baseline first
        records = [run(label, seed, out) for seed in args.seeds]
        values = accuracies[label] = [r["best_val_test_acc"] for r in records]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        size = test_set_size([row["test_acc"] for r in records for row in r["epochs"]])
        paired = "" if label == BASELINE else paired_verdict(
            [v - b for v, b in zip(values, accuracies[BASELINE])], label, resolution=1 / size if size else None)
        print(f"| {label} | {statistics.mean(values):.4f} ± {spread:.4f} | "
              f"{', '.join(f'{v:.4f}' for v in values)} | {_short(paired)} | {diagnostics(records[0])} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
