"""Every setting of a training run, declared once with its help text.

The CLI is generated from these fields (see `sparsekit.cli`), and the run record stores them
all, so a run can be repeated from its record alone.
"""
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any, Dict, Optional

from ..errors import SparsekitError
from ..topk import check_sparsity


def setting(default, help: str, choices=None, **extra):
    return field(default=default, metadata={"help": help, "choices": choices, **extra})


@dataclass(frozen=True)
class TrainConfig:
    # data and model
    dataset: str = setting("digits", "dataset name (see `sparsekit list`)")
    data_root: str = setting("data", "directory holding downloaded datasets")
    download: bool = setting(False, "download the dataset if it is missing")
    model: str = setting("resnet20", "model name (see `sparsekit list`)")
    width: float = setting(1.0, "channel-width multiplier of the model")
    train_examples: Optional[int] = setting(None, "train on a fixed class-balanced subset of this many training "
                                                  "examples (datasets held in memory: digits, fashion_mnist)")
    # mask
    mask: str = setting("random", "mask method (see `sparsekit list`); --sparsity 0 trains the dense network")
    mask_file: Optional[str] = setting(None, "use this saved mask, or the zeros of this checkpoint, instead of --mask")
    sparsity: float = setting(0.9, "fraction of prunable weights removed, in [0, 1)")
    scope: str = setting("global", "rank scores over all layers or per layer", choices=("global", "layerwise"))
    prune_first_layer: bool = setting(True, "let the mask prune the first conv layer")
    prune_classifier: bool = setting(False, "let the mask prune the final linear classifier (the ToST release "
                                            "keeps it dense; Synaptic-Flow prunes it)")
    mask_examples_per_class: int = setting(10, "data-driven mask methods (SNIP, GraSP) score on this many training "
                                               "examples of every class (the references' 10); 0 = use --mask-batches")
    mask_batches: int = setting(1, "with --mask-examples-per-class 0: training batches shown to SNIP and GraSP")
    mask_options: str = setting("", "options of the mask method as 'name=value, ...', e.g. 'rounds=10' (synflow), "
                                    "'shuffle=true' or 'invert=true' (ablations), 'round_epochs=2, rewind_steps=50' (lottery)")
    # optimisation
    epochs: int = setting(30, "training epochs")
    batch_size: int = setting(128, "training batch size")
    optimizer: str = setting("sgd", "optimizer", choices=("sgd", "adam", "adamw"))
    lr: float = setting(0.1, "peak learning rate")
    momentum: float = setting(0.9, "SGD momentum")
    nesterov: bool = setting(False, "use Nesterov momentum with SGD")
    weight_decay: float = setting(2e-4, "weight decay on all parameters (the ToST release's value)")
    schedule: str = setting("cosine", "learning-rate schedule", choices=("cosine", "multistep", "constant"))
    milestones: str = setting("0.5,0.75", "multistep: where the lr drops, as fractions of the run")
    lr_drop: float = setting(0.1, "multistep: factor applied at each milestone")
    warmup_epochs: float = setting(0.0, "linear learning-rate warm-up length in epochs")
    max_batches: Optional[int] = setting(None, "cap on training batches per epoch (quick smoke runs)")
    # bookkeeping
    seed: int = setting(0, "seed for initialisation, mask and data order (CPU runs repeat exactly)")
    device: str = setting("cpu", "torch device: cpu, cuda, or auto")
    out: Optional[str] = setting(None, "directory for record.json, checkpoints and the final model")
    resume: bool = setting(False, "continue the interrupted run found in --out")
    overwrite: bool = setting(False, "replace a previous run found in --out")
    progress: bool = setting(True, "show progress bars")

    def validated(self) -> "TrainConfig":
        check_sparsity(self.sparsity)
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr, "width": self.width,
                    "mask_batches": self.mask_batches}
        for name, value in positive.items():
            if not value > 0:
                raise SparsekitError(f"{name} must be positive, got {value}")
        if self.mask_examples_per_class < 0:
            raise SparsekitError(f"mask_examples_per_class must be >= 0, got {self.mask_examples_per_class}")
        if self.train_examples is not None and self.train_examples <= 0:
            raise SparsekitError(f"train_examples must be positive, got {self.train_examples}")
        if self.max_batches is not None and self.max_batches <= 0:
            raise SparsekitError(f"max_batches must be positive, got {self.max_batches}")
        if self.weight_decay < 0 or self.warmup_epochs < 0 or self.momentum < 0:
            raise SparsekitError("weight_decay, warmup_epochs and momentum must be >= 0")
        for f in fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                raise SparsekitError(f"{f.name} must be one of: {', '.join(choices)} (got {getattr(self, f.name)!r})")
        self.milestone_fractions()
        if self.resume and not self.out:
            raise SparsekitError("resume needs the run's directory: pass out= (CLI: --out DIR)")
        return self

    def milestone_fractions(self):
        try:
            values = [float(v) for v in str(self.milestones).split(",") if v.strip()]
        except ValueError:
            raise SparsekitError(f"milestones must be comma-separated fractions, got {self.milestones!r}") from None
        if any(not 0 < v < 1 for v in values):
            raise SparsekitError(f"milestones must be fractions of the run in (0, 1), got {self.milestones!r}")
        return sorted(values)

    def steps_per_epoch(self, batches_per_epoch: int) -> int:
        """Optimizer steps in one epoch of `batches_per_epoch` batches (max_batches caps it)."""
        return min(batches_per_epoch, self.max_batches or batches_per_epoch)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def make_config(config: Optional[TrainConfig] = None, **overrides) -> TrainConfig:
    """A validated config: `config` (or the defaults) with `overrides` applied."""
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise SparsekitError(f"unknown setting {unknown[0]!r}; settings are: {', '.join(sorted(known))}")
    return replace(config or TrainConfig(), **overrides).validated()


def config_fields():
    """(name, type, default, help, choices) for every setting, in declaration order (the
    same shape as `recipe_fields`, so one function turns either into command-line flags)."""
    for f in fields(TrainConfig):
        default = f.default if f.default is not MISSING else None
        yield f.name, f.type, default, f.metadata["help"], f.metadata.get("choices")
