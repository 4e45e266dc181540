"""Pieces several test files share (imported like `fake_datasets`: tests/ is on sys.path)."""
import importlib.util
import sys
from pathlib import Path

from torch import nn

import sparsekit as sk
from sparsekit import models

# Command-line flags that make any `sparsekit train` a two-batch smoke run.
QUICK_CLI = ["--epochs", "1", "--max-batches", "2", "--width", "0.25", "--no-progress"]


class FakeState:
    """The few TrainState fields the ghost callbacks read or call."""

    def __init__(self, model, total_steps=8):
        self.model, self.step, self.total_steps = model, 0, total_steps
        self.forgotten = []

    def forget_parameters(self, params):
        self.forgotten += list(params)


class Interrupt(sk.Callback):
    """Simulates a crash: raises KeyboardInterrupt as epoch `at_epoch` (0-based) starts."""

    def __init__(self, at_epoch: int):
        self.at_epoch = at_epoch

    def on_epoch_start(self, state):
        if state.epoch == self.at_epoch:
            raise KeyboardInterrupt


def prunable_weight_count(width: float, classifier: bool = False, first_layer: bool = True) -> int:
    """Prunable weights of the digits ResNet-20 under the default prunable set (every conv;
    its one Linear, the classifier, stays dense unless `classifier`; the first conv only
    with `first_layer`), counted straight from its modules (independently of
    sparsekit.core.prunable)."""
    model = models.build("resnet20", 10, in_channels=1, width=width, input_size=8)
    kinds = (nn.Conv2d, nn.Linear) if classifier else (nn.Conv2d,)
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return sum(m.weight.numel() for m in layers[0 if first_layer else 1:] if isinstance(m, kinds))


def benchmark_script(name: str, register: bool = False):
    """benchmarks/NAME.py imported as the module NAME; `register` also puts it in sys.modules,
    for worker processes that find its functions by the module's name."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
