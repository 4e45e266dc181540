"""The width of the addendum's VGG-16 (issue 52, item 7): a run must stay within about twice a
ResNet-20 x0.5 run of the converged study. Each network trains one epoch at the study's settings
(plan.json's fixed settings, the regime's 20,000 images, the same validation and test
evaluation), one torch thread, in one process, the networks alternated round by round; the
process's CPU seconds are counted (on a shared machine wall seconds also count the time other
processes held the core), and the ratio of the median CPU seconds chooses the width.

    python study/vgg_width_timing.py --widths 0.25 0.375 0.5 --rounds 2 \
        --out benchmarks/results/study-addendum/vgg-width-timing.json
"""
import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
FIRST_STUDY = ROOT / "benchmarks" / "results" / "study-converged"


def one_epoch(plan: dict, regime: dict, model: str, width: float, mask: str, distribution, out: Path) -> float:
    """CPU seconds of one training epoch plus its evaluation, as a study run spends them."""
    import sparsekit as sk

    settings = dict(plan["fixed"], model=model, width=width, train_examples=regime["train_examples"], epochs=1,
                    warmup_epochs=0.0, mask=mask, sparsity=0.98, seed=0, progress=False, out=str(out))
    if distribution:
        settings["distribution"] = distribution
    began = time.process_time()
    sk.train(**settings)
    return time.process_time() - began


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=float, nargs="+", default=[0.25, 0.375, 0.5])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=None, help="write the timings here as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    plan = json.loads((FIRST_STUDY / "plan.json").read_text())
    regime = json.loads((FIRST_STUDY / "regime.json").read_text())
    networks = [("resnet20", 0.5, "random", None)] + [("vgg16", w, "random", "erk") for w in args.widths]
    seconds = {f"{m}x{w}": [] for m, w, _, _ in networks}
    with tempfile.TemporaryDirectory() as scratch:
        for round_index in range(args.rounds):
            for model, width, mask, distribution in networks:
                run_dir = Path(scratch) / f"{model}-{width}-{round_index}"
                seconds[f"{model}x{width}"].append(one_epoch(plan, regime, model, width, mask, distribution, run_dir))
                print(f"round {round_index}: {model} x{width}: {seconds[f'{model}x{width}'][-1]:.1f} s", flush=True)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    base = median["resnet20x0.5"]
    result = {"seconds": seconds, "median_seconds": median,
              "ratio_to_resnet20x0.5": {name: value / base for name, value in median.items()},
              "torch_threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
              "torch": torch.__version__,
              "settings": "process CPU seconds of one epoch at the converged study's fixed settings, 20,000 "
                          "training images, random 98% (VGG: ERK distribution), seed 0, validation and test "
                          "evaluated as a study run does; networks alternated round by round in one process"}
    print(json.dumps(result["ratio_to_resnet20x0.5"], indent=1))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
