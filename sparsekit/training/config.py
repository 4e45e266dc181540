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
from ..sparsity.distributions import SCOPES, check_distribution
from ..sparsity.patterns import parse_pattern


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
    sparsity: float = setting(0.9, "fraction of prunable weights removed, in [0, 1) (with --pattern N:M: 1 - N/M, "
                                   "set by the pattern when left at 0.9)")
    scope: str = setting("global", "rank scores over all layers or per layer (the older name of --distribution "
                                   "global | uniform)", choices=("global", "layerwise"))
    distribution: Optional[str] = setting(None, "how many weights each layer keeps: global | uniform | erk (default: the method's own: global ranking for score methods)", shapes_mask=True)
    pattern: Optional[str] = setting(None, "N:M pattern: keep exactly N of every M consecutive weights along the input dimension, e.g. 2:4", shapes_mask=True)
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
            if choices and getattr(self, f.name) not in choices:
                raise SparsekitError(f"{f.name} must be one of: {', '.join(choices)} (got {getattr(self, f.name)!r})")
        if self.nesterov and self.optimizer != "sgd":
            raise SparsekitError(f"nesterov applies to optimizer 'sgd' only (got optimizer {self.optimizer!r})")
        if self.nesterov and self.momentum <= 0:
            raise SparsekitError("nesterov needs momentum > 0 (torch's SGD refuses Nesterov without momentum)")
        self.milestone_fractions()
        self._check_mask_layout()
        if self.resume and not self.out:
            raise SparsekitError("resume needs the run's directory: pass out= (CLI: --out DIR)")
        return self

    def _check_mask_layout(self) -> None:
        """distribution, pattern, scope and sparsity agree (what `compute` will check, before any work)."""
        if self.distribution is not None:
            check_distribution(self.distribution)
            # scope at its default "global" gives way to distribution; "layerwise" must agree with it.
            if self.scope != "global" and SCOPES[self.scope] != self.distribution:
                raise SparsekitError(f"scope {self.scope!r} means distribution {SCOPES[self.scope]!r}, which conflicts "
                                     f"with distribution {self.distribution!r}; give only distribution")
        if self.pattern is not None:
            pattern = parse_pattern(self.pattern)
            if abs(self.sparsity - pattern.sparsity) > 1e-9:
                raise SparsekitError(f"pattern {pattern} fixes the sparsity at 1 - N/M = {pattern.sparsity:g}, but "
                                     f"sparsity {self.sparsity!r} was given; leave sparsity at its default or set it "
                                     f"to {pattern.sparsity:g}")
            if self.distribution not in (None, "uniform"):
                raise SparsekitError(f"pattern {pattern} fixes every layer's count; it cannot follow distribution "
                                     f"{self.distribution!r} (leave distribution out)")

    def mask_distribution(self) -> Optional[str]:
        """The distribution to ask the mask method for: `distribution`, or what `scope` means
        when it is not at its default (None: the method's own)."""
        return self.distribution or (SCOPES[self.scope] if self.scope != "global" else None)

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
    config = replace(config or TrainConfig(), **overrides)
    return _with_pattern_sparsity(config).validated()


def _with_pattern_sparsity(config: TrainConfig) -> TrainConfig:
    """A pattern fixes the sparsity at 1 - N/M: a sparsity left at its default takes that value
    (so the record says what the mask is). Any other sparsity must equal it (`validated`)."""
    default = next(f.default for f in fields(TrainConfig) if f.name == "sparsity")
    if config.pattern is None or config.sparsity != default or not isinstance(config.pattern, str):
        return config
    return replace(config, sparsity=parse_pattern(config.pattern).sparsity)


def config_fields():
    """(name, type, default, help, choices) for every setting, in declaration order (the
    same shape as `recipe_fields`, so one function turns either into command-line flags)."""
    for f in fields(TrainConfig):
        default = f.default if f.default is not MISSING else None
        yield f.name, f.type, default, f.metadata["help"], f.metadata.get("choices")
