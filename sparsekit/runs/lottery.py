"""Lottery tickets (Frankle & Carbin 2019; Frankle et al. 2020): iterative magnitude pruning
(IMP) with rewinding.

Round k: train the network with the current mask; prune `prune_fraction` (20%) of the
REMAINING weights by |theta| (one ranking, or as a distribution counts per layer); rewind the
survivors to their values at the rewind point; repeat. The rewind point is the original
initialization (`rewind_steps=0`, the default) or a point early in round 1's training
("late rewinding", `rewind_steps=N` or `rewind_epochs=E`), which is what makes IMP work on
deeper networks. All of the model's state (BatchNorm included) is rewound.

With density d there are ceil(log d / log(1 - prune_fraction)) rounds: after round k < n the
density is (1 - prune_fraction)^k (rounded to a whole count); the last round prunes to
exactly round(d * N). Each round trains from scratch with a fresh optimizer and the full
learning-rate schedule of `round_epochs` epochs (the paper resumes the schedule at the rewind
step; the difference is small for early rewind points).

After `find_ticket(model, ...)` returns, the model's weights are set IN PLACE to the
rewind-point weights with the final mask applied: training the returned mask from that model
is training the lottery ticket (a run with `mask="lottery"` does exactly that: it is registered
as a mask source, a procedure, in `sparsity/registry.py`).

Rounds train with the `train` function given (`sparsekit.train`: a run reaches this procedure
through `train`, so it hands itself down) using `train_config` (only epochs, out and resume
changed) on `bundle` (a DataBundle; when only batches are given as data, the bundle is loaded
from `train_config.dataset`). With an out directory, round K's run record is written under
`out/lottery/round_K/` and the state after every round (mask, rewind weights) to
`out/lottery/state.pt`, atomically: calling again with the same out directory continues after
the last finished round (and inside an interrupted round, from its last epoch).
"""
import math
import shutil
from pathlib import Path
from typing import Callable, Dict, Optional

import torch

from ..core import atomic, formats
from ..core.errors import SparsekitError
from ..core.mask import Mask
from ..core.prunable import prunable_parameters
from ..core.callbacks import Callback
from ..core.topk import check_sparsity
from ..sparsity.distributions import check_distribution, keep_top_scores
from ..sparsity.registry import register_procedure
from ..training.config import TrainConfig, setting_fields

STATE_FORMAT = formats.LOTTERY_STATE
# Where the rounds keep their progress, under the run's out directory.
FOLDER = "lottery"
SUMMARY = "|theta| after training, pruned 20% per round with rewinding (iterative magnitude pruning)"
# The state files name the layer counts by the retired `scope` for the two it had: so a state
# written then is reused by the same rounds now.
_FINGERPRINT_SCOPE = {"global": "global", "uniform": "layerwise"}


@register_procedure("lottery", SUMMARY, follows_distribution=True, progress_folder=FOLDER)
def find_ticket(model, sparsity: float, data=None, *, train: Callable, train_config: Optional[TrainConfig] = None,
                bundle=None,
                out=None, distribution: Optional[str] = None, prune_first_layer: bool = True,
                prune_classifier: bool = False, round_epochs: Optional[int] = None, rewind_steps: int = 0,
                rewind_epochs: Optional[int] = None, prune_fraction: float = 0.2) -> Mask:
    """The lottery ticket's mask at `sparsity`, the model rewound in place (see the module
    docstring). `distribution` counts each round's kept weights per layer (default: one
    global ranking); `data` is a DataBundle or batches (then the bundle is loaded)."""
    sparsity = check_sparsity(sparsity)
    distribution = check_distribution(distribution or "global")
    if not 0.0 < prune_fraction < 1.0:
        raise SparsekitError(f"lottery prune_fraction must be in (0, 1), got {prune_fraction}")
    if data is None and bundle is None:
        raise SparsekitError("the lottery trains whole networks: pass data= (a DataBundle, or batches of (x, y))")
    params = prunable_parameters(model, prune_first_layer, prune_classifier)
    if not params:
        raise SparsekitError("the model has no prunable Conv or Linear weights")
    train_config = train_config if train_config is not None else TrainConfig()
    bundle = bundle if bundle is not None else _bundle_from(data, train_config)
    out = out if out is not None else train_config.out
    # Rounds are plain training (recipe=None: the default section), whatever recipe then trains the ticket.
    round_config = train_config.with_changes(epochs=int(round_epochs or train_config.epochs), mask_file=None,
                                             out=None, resume=False, overwrite=True, recipe=None)
    rewind_step = _rewind_step(round_config, bundle, rewind_steps, rewind_epochs)
    schedule = round_sparsities(sparsity, prune_fraction)

    store = _RoundStore(Path(out) / FOLDER if out else None)
    fingerprint = {"config": _what_rounds_train_with(round_config),
                   "sparsity": sparsity, "scope": _FINGERPRINT_SCOPE.get(distribution, distribution),
                   "rewind_step": rewind_step, "prune_fraction": prune_fraction, "weights": list(params)}
    saved = store.load(fingerprint, restart=train_config.overwrite)
    if saved is None:
        saved = {"rounds_done": 0, "mask": {name: torch.ones(p.shape, dtype=torch.bool) for name, p in params.items()},
                 "rewind": _snapshot(model) if rewind_step == 0 else None}
        store.save(fingerprint, saved)

    mask = Mask(saved["mask"])
    rewind = saved["rewind"]
    for round_index in range(saved["rounds_done"] + 1, len(schedule) + 1):
        capture = RewindPoint(rewind_step) if rewind is None else None
        if round_index > 1:
            model.load_state_dict(rewind)
        trained = _train_round(train, round_config, model, mask, bundle, capture, store.round_dir(round_index))
        rewind = rewind if capture is None else capture.weights
        mask = Mask(keep_top_scores(_surviving_magnitudes(trained, mask), schedule[round_index - 1], distribution))
        store.save(fingerprint, {"rounds_done": round_index, "mask": dict(mask), "rewind": rewind})

    if rewind is not None:
        model.load_state_dict(rewind)
    mask.apply(model)
    return mask


def _what_rounds_train_with(config) -> dict:
    """The settings that change what the rounds compute: every one that may not change on
    resume, except the masking section's (which method to run: this one, with its own
    sparsity, layer counts and weights in the fingerprint)."""
    return {f.name: getattr(config, f.name) for section, f in setting_fields()
            if section != "masking" and not f.metadata.get("resumable")}


def round_sparsities(sparsity: float, prune_fraction: float = 0.2):
    """Target sparsity after each round: 1 - (1 - f)^k, the last one exactly `sparsity`."""
    density = 1.0 - sparsity
    if density >= 1.0:
        return []
    # The small slack keeps d = 0.8^k from asking for a (k+1)-th round through rounding error.
    rounds = max(1, math.ceil(math.log(density) / math.log(1.0 - prune_fraction) - 1e-9))
    return [1.0 - (1.0 - prune_fraction) ** k for k in range(1, rounds)] + [sparsity]


def _bundle_from(data, train_config):
    from .. import data as datasets

    if datasets.is_bundle(data):
        return data

    return datasets.load(train_config.dataset, root=train_config.data_root, download=train_config.download,
                         batch_size=train_config.batch_size, seed=train_config.seed)


def _rewind_step(config, bundle, rewind_steps: int, rewind_epochs: Optional[int]) -> int:
    steps_per_epoch = config.steps_per_epoch(len(bundle.train))
    if rewind_epochs is not None:
        if rewind_steps:
            raise SparsekitError("lottery takes rewind_steps or rewind_epochs, not both")
        rewind_steps = int(rewind_epochs) * steps_per_epoch
    total = config.epochs * steps_per_epoch
    if not 0 <= int(rewind_steps) <= total:
        raise SparsekitError(f"lottery rewind point must be within round 1's {total} training steps, "
                             f"got step {rewind_steps}")
    return int(rewind_steps)


def _snapshot(model) -> Dict[str, torch.Tensor]:
    return {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}


def _surviving_magnitudes(model, mask: Mask) -> Dict[str, torch.Tensor]:
    """|theta| of the kept weights; pruned ones score -inf so a round prunes only survivors."""
    params = dict(model.named_parameters())
    return {name: params[name].detach().abs().cpu().masked_fill(~keep, -float("inf")) for name, keep in mask.items()}


def _train_round(train: Callable, config, model, mask: Mask, bundle, capture, run_dir: Optional[Path]):
    interrupted = run_dir is not None and (run_dir / "checkpoint.pt").is_file()
    # A round left by an interrupted lottery resumes; the run's own overwrite already cleared
    # what it meant to (and resume with overwrite is refused as a contradiction).
    settings = config.with_changes(out=str(run_dir) if run_dir else None, resume=interrupted,
                                   overwrite=config.overwrite and not interrupted)
    return train(settings, model=model, mask=mask, data=bundle,
                 callbacks=[capture] if capture is not None else []).model


class _RoundStore:
    """The lottery's state on disk (or nowhere, without an out directory)."""

    def __init__(self, directory: Optional[Path]):
        self.directory = directory

    def round_dir(self, index: int) -> Optional[Path]:
        return self.directory / f"round_{index}" if self.directory else None

    def load(self, fingerprint, restart: bool):
        path = self.directory / "state.pt" if self.directory else None
        if self.directory is not None:  # the run holds its out's lock: no live writer here
            atomic.remove_stale_temporaries(self.directory)
        if path is None or not path.is_file():
            return None
        try:
            saved = atomic.torch_load(path, lambda reason: f"{path}: corrupted lottery state ({reason}); pass "
                                                           f"overwrite=True (--overwrite) to start over")
        except SparsekitError:
            if not restart:
                raise
            saved = None  # damaged, and the caller allows starting over
        if saved is not None and not restart:
            formats.check(saved, "lottery state", path)
        if formats.is_kind(saved, "lottery state") and _same_rounds(saved.get("fingerprint"), fingerprint):
            return saved["state"]
        if not restart:
            raise SparsekitError(f"{self.directory} holds a lottery run with other settings; pass overwrite=True "
                                 f"(--overwrite) to start over, or choose another out")
        shutil.rmtree(self.directory)
        return None

    def save(self, fingerprint, state) -> None:
        if self.directory:
            atomic.torch_save({"format": STATE_FORMAT, "fingerprint": fingerprint, "state": state},
                              self.directory / "state.pt")


def _same_rounds(saved, fingerprint) -> bool:
    """Whether saved rounds are those `fingerprint` asks for. A state written before a setting
    existed does not name it: it ran with that setting's default (as a resumed run reads it)."""
    if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
        return False
    try:
        before = TrainConfig.from_record(saved["config"]).to_dict()
    except SparsekitError:  # a value no longer accepted: not rounds this run can reuse
        return False
    return ({**saved, "config": {name: before.get(name) for name in fingerprint["config"]}} == fingerprint)


class RewindPoint(Callback):
    """Snapshots the whole model state after `step` optimizer steps of round 1; the snapshot
    goes into the round's checkpoints, so an interrupted round 1 keeps it."""

    def __init__(self, step: int):
        self.step = step
        self.weights = None

    def on_step(self, state) -> None:
        if state.step == self.step:
            self.weights = _snapshot(state.model)

    def state_dict(self):
        return {"weights": self.weights}

    def load_state_dict(self, saved) -> None:
        self.weights = saved["weights"]
