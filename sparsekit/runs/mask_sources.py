"""Where a run's mask comes from, as the run's `Sparsifier`.

A run's mask comes from one of:
- a method of `sparsekit.sparsity`: a static one (scores cut to a distribution or pattern) or a
  dynamic one (a sparsifier that changes the mask during training);
- a procedure made of trainings, which lives here in `runs/` because it trains: the lottery
  ticket (`lottery.find_ticket`) and Ramanujan sampling (`ramanujan.sample_mask`). They are
  named like methods (`mask="lottery"`) but never go through the method registry;
- a mask file (`mask_file`) or a mask object given to `train`.

`sparsifier_for(config, model, given, train)` builds the run's sparsifier (`train` is the
function that trains a run, handed down by the run itself for the procedures' trainings); the run calls its
`initial_mask` and reads its `source`, the note of where the mask came from that the record
keeps. `check(config)` refuses a plan that cannot work before any work is done.
"""
import inspect
from pathlib import Path
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import nn

from .. import data as datasets
from .. import sparsity as methods
from ..core import checks
from ..core.errors import SparsekitError
from ..core.mask import Mask
from ..core.prunable import prunable_parameters
from ..sparsity import OneShot, Sparsifier, dynamic_sparsifier
from ..sparsity.ablations import shuffle_within_layers
from ..training import distributed
from ..training.config import TrainConfig
from . import lottery, ramanujan


@dataclass(frozen=True)
class Procedure:
    name: str
    find: Callable  # find(model, sparsity, data, *, ..., option=default) -> Mask
    summary: str
    distributions: bool  # whether it counts per layer by the run's distribution
    # The keywords a run fills in from its own settings, not options a user gives.
    filled: Tuple[str, ...]

    @property
    def options(self) -> Tuple[str, ...]:
        return tuple(name for name, p in inspect.signature(self.find).parameters.items()
                     if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in self.filled)


_FILLED = ("train", "train_config", "bundle", "out", "distribution", "prune_first_layer", "prune_classifier", "seed",
           "generator")
PROCEDURES: Dict[str, Procedure] = {
    "lottery": Procedure("lottery", lottery.find_ticket, lottery.SUMMARY, True, _FILLED),
    "ramanujan": Procedure("ramanujan", ramanujan.sample_mask, ramanujan.SUMMARY, False, _FILLED),
}
# Folders under a run's out where a procedure keeps its progress (see `RunDirectory`).
PROGRESS_FOLDERS = (lottery.FOLDER,)


def available() -> List[str]:
    """Every name a run's `mask` setting accepts."""
    return list(methods.available()) + list(PROCEDURES)


def describe() -> Dict[str, str]:
    """Every name a run's `mask` setting accepts -> one line on what it does."""
    return {**methods.registry.describe(), **{p.name: p.summary for p in PROCEDURES.values()}}


def method_rows() -> List[Dict[str, object]]:
    """`sparsity.registry.method_rows` with the procedures made of trainings."""
    return methods.registry.method_rows() + [
        {"name": p.name, "kind": "training", "summary": p.summary, "options": list(p.options) + ["shuffle"],
         "distributions": ["any"] if p.distributions else [], "default_distribution": "global" if p.distributions
         else None, "pattern": False} for p in PROCEDURES.values()]


def check(config: TrainConfig, mask_given: bool) -> None:
    """The mask method, its options and the mask file, checked before any work is done."""
    if mask_given or config.mask_file:
        if config.schedule != "one-shot":
            raise SparsekitError(f"schedule {config.schedule!r} prunes by a method's scores during training; a given "
                                 f"mask or --mask-file is trained as it is (use --schedule one-shot)")
        if not mask_given and not Path(config.mask_file).is_file():
            raise SparsekitError(f"mask or checkpoint file not found: {config.mask_file}")
        return
    procedure = PROCEDURES.get(config.mask)
    if procedure is not None:
        _check_procedure(procedure, config)
        return
    methods.check_plan(config.mask, config.schedule)
    if config.pattern is not None and changes_in_training(config):
        raise SparsekitError(f"pattern {config.pattern} is kept by one-shot masks only; mask {config.mask!r} with "
                             f"schedule {config.schedule!r} changes the mask during training")
    options = dict(config.mask_options)
    if config.schedule == "gmp" and config.mask != "gmp":  # the schedule's options beside the method's own
        options = {name: value for name, value in options.items() if name not in methods.plan.GMP_OPTIONS}
    methods.registry.check_options(config.mask, options)


def changes_in_training(config: TrainConfig) -> bool:
    """Whether the settings ask for a mask that changes during training (a dynamic method, or a
    score method on schedule "gmp"); a given mask, a mask file or a procedure's mask never does."""
    if config.mask_file or config.mask in PROCEDURES:
        return False
    return config.schedule != "one-shot" or methods.registry.is_dynamic(config.mask)


def check_parallel(config: TrainConfig, mask_given: bool) -> None:
    """What a data-parallel run cannot do, refused once the ranks have joined: a procedure made
    of whole runs (the lottery) would train on rank 0 while the other ranks wait in a collective."""
    name, procedure = config.mask, PROCEDURES.get(config.mask)
    trains_runs = procedure is not None and "train" in inspect.signature(procedure.find).parameters
    if distributed.active() and trains_runs and not config.mask_file and not mask_given:
        raise SparsekitError(f"the {name} mask cannot be computed inside a data-parallel run; compute it first "
                             f"(sparsekit mask --method {name} --out {name}.pt) and train it with --mask-file")


def _check_procedure(procedure: Procedure, config: TrainConfig) -> None:
    name = procedure.name
    if config.schedule != "one-shot":
        raise SparsekitError(f"mask method {name!r} finds its mask before training; use --schedule one-shot with it")
    if config.pattern is not None:
        raise SparsekitError(f"mask method {name!r} cannot build an N:M pattern; give the pattern to a static method")
    if config.distribution is not None and not procedure.distributions:
        raise SparsekitError(f"mask method {name!r} sets its own layer densities (its densities option); leave "
                             f"distribution out")
    _procedure_options(procedure, config.mask_options)


def _procedure_options(procedure: Procedure, options) -> Tuple[dict, bool]:
    """(the procedure's own options, shuffle), or a one-line error naming an option it lacks."""
    options = dict(options)
    shuffle = checks.boolean("shuffle", options.pop("shuffle", False))
    unknown = sorted(set(options) - set(procedure.options))
    if unknown:
        raise SparsekitError(f"mask method {procedure.name!r} has no option {unknown[0]!r}; it accepts: "
                             f"{', '.join(procedure.options + ('shuffle',))}")
    signature = inspect.signature(procedure.find).parameters
    for name, value in options.items():
        checks.of_type(f"mask method {procedure.name!r} option {name}", value, signature[name].annotation)
    return options, shuffle


def sparsifier_for(config: TrainConfig, model: nn.Module, given=None, train: Optional[Callable] = None) -> Sparsifier:
    """The run's sparsifier: the one given, a one-shot one around a given mask or a mask file,
    the dynamic one the settings ask for, or a one-shot one around the method's mask."""
    if isinstance(given, Sparsifier):
        return given
    if given is not None:
        return OneShot.of(given, {"method": "given"})
    if config.mask_file:
        return OneShot(lambda model, data: Mask.from_file(config.mask_file, model, config.prune_first_layer,
                                                          config.prune_classifier),
                       "file", source={"method": "file", "path": str(config.mask_file)})
    dynamic = None if config.mask in PROCEDURES else dynamic_sparsifier(
        config.mask, model, config.sparsity, schedule=config.schedule,
        distribution=config.distribution, prune_first_layer=config.prune_first_layer,
        prune_classifier=config.prune_classifier, seed=config.seed, options=dict(config.mask_options))
    if dynamic is not None:
        dynamic.source = {"method": config.mask, "sparsity": config.sparsity, "schedule": config.schedule,
                          "distribution": dynamic.distribution}
        return dynamic
    source = {"method": config.mask, "sparsity": config.sparsity}
    # Only when asked for, so records of runs without them stay as they were.
    source.update({name: getattr(config, name) for name in ("distribution", "pattern") if getattr(config, name)})
    return OneShot(lambda model, data: method_mask(config, model, data, train), config.mask, source=source)


def method_mask(config: TrainConfig, model: nn.Module, data, train: Optional[Callable] = None) -> Mask:
    """The mask `config.mask` gives `model`: a static method's on the scoring batches, or a
    procedure's (which may also train on the whole bundle `data`)."""
    procedure = PROCEDURES.get(config.mask)
    batches = scoring_batches(config, data)
    if procedure is None:
        return methods.compute(config.mask, model, config.sparsity, data=batches, distribution=config.distribution,
                               pattern=config.pattern, prune_first_layer=config.prune_first_layer,
                               prune_classifier=config.prune_classifier, seed=config.seed, **config.mask_options)
    return run_procedure(procedure, config, model, batches, data, train)


def scoring_batches(config: TrainConfig, data) -> list:
    """The batches a run's data-driven mask methods score on: `mask_examples_per_class` of
    every class in one batch (the references' choice), or the first `mask_batches` batches."""
    if config.mask_examples_per_class:
        return datasets.balanced_examples(data.train, config.mask_examples_per_class, data.num_classes)
    return datasets.first_batches(data.train, config.mask_batches)


def run_procedure(procedure: Procedure, config: TrainConfig, model: nn.Module, batches, bundle,
                  train: Optional[Callable] = None) -> Mask:
    options, shuffle = _procedure_options(procedure, config.mask_options)
    params = prunable_parameters(model, config.prune_first_layer, config.prune_classifier)
    methods.registry.check_keeps_some(sum(p.numel() for p in params.values()), config.sparsity)
    generator = torch.Generator().manual_seed(int(config.seed))
    filled = {"train": train, "train_config": config, "bundle": bundle, "out": config.out,
              "distribution": config.distribution, "prune_first_layer": config.prune_first_layer,
              "prune_classifier": config.prune_classifier, "seed": config.seed, "generator": generator}
    takes = inspect.signature(procedure.find).parameters
    mask = procedure.find(model, config.sparsity, batches, **options,
                          **{name: value for name, value in filled.items() if name in takes})
    # The shuffle ablation draws after the procedure, from the same generator (as it always has).
    return Mask(shuffle_within_layers(mask, generator)) if shuffle else mask

