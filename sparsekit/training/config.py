"""Every setting of a training run, declared once with its help text.

The CLI is generated from these fields (see `sparsekit.app.cli`), and the run record stores them
all, so a run can be repeated from its record alone.
"""
import os
from dataclasses import MISSING, asdict, dataclass, fields, replace
from typing import Any, Dict, Optional

from ..core.checks import finite_number, of_type, whole_number
from ..core.errors import SparsekitError
from ..core.fields import setting
from ..core.topk import check_sparsity


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
                                    "'shuffle=true' or 'invert=true' (ablations), 'round_epochs=2, rewind_steps=50' "
                                    "(lottery), 'update_every=100, drop_fraction=0.3, end_at=0.75' (rigl, set), "
                                    "'initial_sparsity=0, start_at=0, end_at=0.75' (gmp)")
    schedule: str = setting("one-shot", "when the mask is decided: 'one-shot' (before training; the dynamic methods "
                                        "gmp, set and rigl follow their own schedule) or 'gmp' (a score method's "
                                        "weights pruned gradually on the cubic schedule: --mask magnitude "
                                        "--schedule gmp is GMP)", choices=("one-shot", "gmp"), shapes_mask=True)
    distribution: Optional[str] = setting(None, "how many weights each layer keeps: global (one ranking), uniform "
                                                "or erk; default: the method's own (global for gmp, erk for set and "
                                                "rigl)", choices=("global", "uniform", "erk"), shapes_mask=True)
    # optimisation
    epochs: int = setting(30, "training epochs")
    batch_size: int = setting(128, "training batch size")
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
    # input pipeline and step on a GPU (see README "Scale out")
    num_workers: int = setting(0, "DataLoader worker processes decoding and augmenting images (cifar10/100, "
                                  "tinyimagenet; datasets held in memory need none)")
    pin_memory: bool = setting(False, "page-locked host batches, copied to the GPU without blocking")
    persistent_workers: bool = setting(False, "keep DataLoader workers alive between epochs (with --num-workers)")
    amp: str = setting("none", "mixed precision of forward and loss: bf16, or fp16 (with a gradient scaler)",
                       choices=("none", "bf16", "fp16"))
    channels_last: bool = setting(False, "channels-last memory layout for model and images (faster convolutions "
                                         "on recent GPUs)")
    compile: bool = setting(False, "torch.compile the model's training forward (CUDA; on a CPU it needs a C++ "
                                   "compiler)")
    # bookkeeping
    seed: int = setting(0, "seed for initialisation, mask and data order (CPU runs repeat exactly)")
    device: str = setting("cpu", "torch device: cpu, cuda, or auto")
    out: Optional[str] = setting(None, "directory for record.json, checkpoints and the final model")
    resume: bool = setting(False, "continue the interrupted run found in --out")
    overwrite: bool = setting(False, "replace a previous run found in --out")
    progress: bool = setting(True, "show progress bars")
    tensorboard: Optional[str] = setting(None, "also log every epoch's numbers for TensorBoard in this directory "
                                               "(needs the tensorboard package)")

    def validated(self) -> "TrainConfig":
        """This config, or one `SparsekitError` line naming the first setting that is wrong."""
        check_sparsity(self.sparsity)
        whole_number("epochs", self.epochs, 1)
        whole_number("batch_size", self.batch_size, 1)
        whole_number("mask_batches", self.mask_batches, 1)
        whole_number("mask_examples_per_class", self.mask_examples_per_class, 0)
        whole_number("num_workers", self.num_workers, 0)
        for name in ("max_batches", "train_examples"):
            if getattr(self, name) is not None:
                whole_number(name, getattr(self, name), 1)
        # torch.manual_seed takes at most 64 bits; larger seeds would fail after the run started.
        whole_number("seed", self.seed, 0, 2**64 - 1, accepted="in [0, 2**64)")
        finite_number("width", self.width, 0, low_open=True)
        finite_number("lr", self.lr, 0, low_open=True)
        finite_number("momentum", self.momentum, 0, 1, high_open=True)
        finite_number("weight_decay", self.weight_decay, 0)
        finite_number("warmup_epochs", self.warmup_epochs, 0)
        finite_number("lr_drop", self.lr_drop, 0, 1, low_open=True)  # a drop: a negative lr makes no sense
        for f in fields(self):  # the rest by declared type: text, True/False, optional text
            if f.type not in (int, float, Optional[int]):
                of_type(f.name, getattr(self, f.name), f.type)
            choices = f.metadata.get("choices")
            # None passed the type check above only where the setting is optional: "the default".
            if choices and getattr(self, f.name) is not None and getattr(self, f.name) not in choices:
                raise SparsekitError(f"{f.name} must be one of: {', '.join(choices)} (got {getattr(self, f.name)!r})")
        if self.nesterov and self.optimizer != "sgd":
            raise SparsekitError(f"nesterov applies to optimizer 'sgd' only (got optimizer {self.optimizer!r})")
        if self.nesterov and self.momentum <= 0:
            raise SparsekitError("nesterov needs momentum > 0 (torch's SGD refuses Nesterov without momentum)")
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
    if config is not None and not isinstance(config, TrainConfig):
        raise SparsekitError(f"config must be a TrainConfig (or None), got {type(config).__name__}")
    # Paths read naturally as pathlib.Path; the config stores them as text (it goes into JSON).
    overrides = {name: os.fspath(value) if isinstance(value, os.PathLike) else value
                 for name, value in overrides.items()}
    return replace(config or TrainConfig(), **overrides).validated()


def config_fields():
    """(name, type, default, help, choices) for every setting, in declaration order (the
    same shape as `recipe_fields`, so one function turns either into command-line flags)."""
    for f in fields(TrainConfig):
        default = f.default if f.default is not MISSING else None
        yield f.name, f.type, default, f.metadata["help"], f.metadata.get("choices")
