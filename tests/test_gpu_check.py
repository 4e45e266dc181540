"""benchmarks/gpu_check.py at tiny size on the CPU (the GPU run is its real use; see benchmarks/README.md)."""
import sys
from pathlib import Path

import torch

from helpers import benchmark_script
import sparsekit as sk
from sparsekit.models import build

ROOT = Path(__file__).resolve().parents[1]


def _gpu_check():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    return benchmark_script("gpu_check")


def test_gpu_check_runs_on_the_cpu_at_tiny_size(capsys):
    gpu_check = _gpu_check()
    # width 0.5: channels_last is refused below it on a CPU without AVX-512 (memory_layout.py)
    argv = ["--device", "cpu", "--width", "0.5", "--batch-size", "8", "--blocks", "2", "--steps", "2",
            "--images", "64", "--amp", "bf16", "--channels-last", "--num-workers", "1"]
    assert gpu_check.main(argv) == 0
    printed = capsys.readouterr().out
    assert "pruned weights exactly zero: yes; mask hash unchanged: yes" in printed
    assert "sparsekit / plain throughput:" in printed and "RigL update (all layers, installed):" in printed


def test_gpu_check_notices_a_pruned_weight_that_moved():
    gpu_check = _gpu_check()
    torch.manual_seed(0)
    model = build("resnet32", 10, in_channels=3, width=0.25)
    mask = sk.masks.compute("erk", model, 0.9, seed=0)
    mask.apply(model)
    assert gpu_check.pruned_weights_are_zero(model, mask)
    name, keep = next(iter(mask.items()))
    with torch.no_grad():
        dict(model.named_parameters())[name].view(-1)[(~keep).view(-1).nonzero()[0]] = 1e-30
    assert not gpu_check.pruned_weights_are_zero(model, mask)
