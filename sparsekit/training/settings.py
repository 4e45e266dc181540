"""The two sections of a run's settings that the training loop reads itself: how it optimises
(`OptimizationSettings`) and how the run is kept (`RunSettings`: seed, device, files, display)."""
from dataclasses import dataclass
from typing import List, Optional

from ..core.checks import finite_number, whole_number
from ..core.errors import SparsekitError
from ..core.fields import check_declared, setting


@dataclass(frozen=True)
class OptimizationSettings:
    epochs: int = setting(30, "training epochs")
    optimizer: str = setting("sgd", "optimizer", choices=("sgd", "adam", "adamw"))
    lr: float = setting(0.1, "peak learning rate")
    momentum: float = setting(0.9, "SGD momentum")
    nesterov: bool = setting(False, "use Nesterov momentum with SGD")
    weight_decay: float = setting(2e-4, "weight decay on all parameters (the ToST release's value)")
    lr_schedule: str = setting("cosine", "learning-rate schedule", choices=("cosine", "multistep", "constant"))
    milestones: str = setting("0.5,0.75", "multistep: where the lr drops, as fractions of the run")
    lr_drop: float = setting(0.1, "multistep: factor applied at each milestone")
    warmup_epochs: float = setting(0.0, "linear learning-rate warm-up length in epochs")
    max_batches: Optional[int] = setting(None, "cap on training batches per epoch (quick smoke runs)")
    amp: str = setting("none", "mixed precision of forward and loss: bf16, or fp16 (with a gradient scaler)",
                       choices=("none", "bf16", "fp16"))

    def __post_init__(self):
        whole_number("epochs", self.epochs, 1)
        if self.max_batches is not None:
            whole_number("max_batches", self.max_batches, 1)
        finite_number("lr", self.lr, 0, low_open=True)
        finite_number("momentum", self.momentum, 0, 1, high_open=True)
        finite_number("weight_decay", self.weight_decay, 0)
        finite_number("warmup_epochs", self.warmup_epochs, 0)
        finite_number("lr_drop", self.lr_drop, 0, 1, low_open=True)  # a drop: a negative lr makes no sense
        check_declared(self)
        if self.nesterov and self.optimizer != "sgd":
            raise SparsekitError(f"nesterov applies to optimizer 'sgd' only (got optimizer {self.optimizer!r})")
        if self.nesterov and self.momentum <= 0:
            raise SparsekitError("nesterov needs momentum > 0 (torch's SGD refuses Nesterov without momentum)")
        self.milestone_fractions()

    def milestone_fractions(self) -> List[float]:
        try:
            values = [float(v) for v in str(self.milestones).split(",") if v.strip()]
        except ValueError:
            raise SparsekitError(f"milestones must be comma-separated fractions, got {self.milestones!r}") from None
        if any(not 0 < v < 1 for v in values):
            raise SparsekitError(f"milestones must be fractions of the run in (0, 1), got {self.milestones!r}")
        return sorted(values)


@dataclass(frozen=True)
class RunSettings:
    seed: int = setting(0, "seed for initialisation, mask and data order (CPU runs repeat exactly)", shapes_mask=True)
    device: str = setting("cpu", "torch device: cpu, cuda, or auto", resumable=True)
    out: Optional[str] = setting(None, "directory for record.json, checkpoints and the final model", resumable=True)
    resume: bool = setting(False, "continue the interrupted run found in --out", resumable=True)
    overwrite: bool = setting(False, "replace a previous run found in --out", resumable=True)
    progress: bool = setting(True, "show progress bars", resumable=True)
    tensorboard: Optional[str] = setting(None, "also log every epoch's numbers for TensorBoard in this directory "
                                               "(needs the tensorboard package)", resumable=True)
    test_every: str = setting("epoch", "evaluate the test split every epoch, or only when validation accuracy "
                              "improves and at the last epoch (the same best_val_test_acc, less time)",
                              choices=("epoch", "best-val"))
    bn_reestimate_batches: int = setting(0, "diagnostic: also record the test accuracy of the best-validation "
                                         "weights after re-estimating BatchNorm statistics over at most this many "
                                         "training batches (0: off)")

    def __post_init__(self):
        # torch.manual_seed takes at most 64 bits; larger seeds would fail after the run started.
        whole_number("seed", self.seed, 0, 2**64 - 1, accepted="in [0, 2**64)")
        whole_number("bn_reestimate_batches", self.bn_reestimate_batches, 0)
        check_declared(self)
        if self.resume and not self.out:
            raise SparsekitError("resume needs the run's directory: pass out= (CLI: --out DIR)")
        if self.resume and self.overwrite:  # continue a run and replace it: one must give way, so say which
            raise SparsekitError("resume and overwrite contradict each other: resume=True (--resume) continues the "
                                 "run in out, overwrite=True (--overwrite) trains it anew; pass one of them")
