"""The recipe at high sparsity, one cell, every GradInit variant and order, over seeds.

The cell: Fashion-MNIST (the real files), 3,000 training images, ResNet-20 x0.5, a random mask
at 98%, 2 epochs of batch 64, one torch thread; each arm trains the same mask from the same
initialisation for a seed (both are functions of the seed). Prints, per arm, the paper's metric
(test accuracy at the best-validation epoch, running BatchNorm statistics), the same after
re-estimating BatchNorm statistics over the whole training set, and for GradInit arms where
its gradient sat (share of the squared norm on kept weights at the first and last iteration)
and what it did to the classifier and to BatchNorm weights.

    python benchmarks/gradinit_cell.py --seeds 0 1 2 --out build/gradinit-cell

Records land in OUT/<arm>-seed<seed>/ (a finished run is read back, not retrained).
"""
import argparse
import json
import statistics
from pathlib import Path

import torch

import sparsekit as sk
from sparsekit.recipe import init_log
from sparsekit.report.verdict import paired_verdict

CELL = dict(dataset="fashion_mnist", model="resnet20", width=0.5, train_examples=3000, batch_size=64, epochs=2,
            mask="random", sparsity=0.98, progress=False, bn_reestimate_batches=47)
TYPE2 = dict(init="gradinit", init_variant="masked-network-dense-gradient")
# In the order they are run: the cheap arms and the variants first.
ARMS = {
    "default": sk.Recipe(),
    "ghost neurons alone (pswish, kept)": sk.Recipe(ghost_neurons="pswish", ghost_neurons_mode="keep"),
    "tost without gradinit": sk.Recipe.tost().with_changes(init="none"),
    "gradinit type 2, batch 8 (the old study's)": sk.Recipe(**TYPE2, init_batch_size=8),
    "gradinit dense-then-mask (the release's command)": sk.Recipe(init="gradinit", init_variant="dense-then-mask"),
    "gradinit masked": sk.Recipe(init="gradinit", init_variant="masked"),
    "tost (today's preset)": sk.Recipe.tost(),
    "tost as the old study ran it": sk.Recipe.tost().with_changes(
        init_variant="masked-network-dense-gradient", init_order="after-ghosts", init_batch_size=8),
    "tost-release (today's preset)": sk.Recipe.release(),
    "gradinit type 2, training batch": sk.Recipe(**TYPE2),
}


def slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label.split(" (")[0]).strip("-")


def run(label: str, seed: int, out: Path) -> dict:
    folder = out / f"{slug(label)}-seed{seed}"
    record_file = folder / "record.json"
    if record_file.exists():
        record = json.loads(record_file.read_text())
        if record.get("finished"):
            return record
    return dict(sk.train(**CELL, seed=seed, recipe=ARMS[label], out=str(folder), overwrite=True))


def gradinit_facts(record: dict) -> str:
    log = init_log(record)
    if not log:
        return ""
    share = log["gradient_share"]
    scales = log["scales"]
    classifier = [s for n, s in scales.items() if n.startswith("classifier.") and n.endswith("weight")]
    norms = [s for n, s in scales.items() if "bn." in n and n.endswith("weight")]
    return (f"kept share {share['first']['kept_share']:.4f} -> {share['last']['kept_share']:.4f}, "
            f"|g| {share['first']['norm']:.3g} -> {share['last']['norm']:.3g}; classifier x{classifier[0]:.2f}; "
            f"BN weights x{statistics.mean(norms):.2f} (min {min(norms):.2f})" if classifier and norms else "")


def mean_std(values):
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def finished_or_allowed(label: str, seed: int, out: Path, args) -> bool:
    """With --finished-only, only the runs already on disk (a report of what has run)."""
    if not args.finished_only:
        return True
    record = out / f"{slug(label)}-seed{seed}" / "record.json"
    return record.exists() and bool(json.loads(record.read_text()).get("finished"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="build/gradinit-cell")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--finished-only", action="store_true", help="report the finished runs, train nothing")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    rows, baseline = [], None
    for label in ARMS:
        records = [run(label, seed, out) for seed in args.seeds if finished_or_allowed(label, seed, out, args)]
        if not records:
            continue
        values = [r["best_val_test_acc"] for r in records]
        baseline = baseline or values  # the first arm, `default`
        metric = mean_std(values)
        reestimated = mean_std([r["bn_reestimated_test_acc"] for r in records])
        paired = paired_verdict([v - b for v, b in zip(values, baseline)], label, resolution=1 / 10_000)
        rows.append((label, metric, reestimated, values, paired, gradinit_facts(records[0])))
        print(f"{label}: {metric[0]:.3f} ± {metric[1]:.3f} | re-estimated BN {reestimated[0]:.3f} ± "
              f"{reestimated[1]:.3f} | seeds {', '.join(f'{v:.3f}' for v in values)}", flush=True)
    print(f"\n| arm | seeds | test acc (mean ± std) | after re-estimating BN | per seed | paired with default "
          f"[95% CI] | GradInit, first seed |\n|---|---|---|---|---|---|---|")
    for label, metric, reestimated, values, paired, facts in rows:
        interval = (f"{paired.mean:+.3f} [{paired.low:+.3f}, {paired.high:+.3f}]: {paired.word}"
                    if paired.low is not None else f"{paired.mean:+.3f} ({paired.word})")
        print(f"| {label} | {len(values)} | {metric[0]:.3f} ± {metric[1]:.3f} | {reestimated[0]:.3f} ± "
              f"{reestimated[1]:.3f} | {', '.join(f'{v:.3f}' for v in values)} | "
              f"{'' if label == 'default' else interval} | {facts} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
