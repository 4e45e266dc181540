"""The settings test's table: for every field of `TrainConfig` and `Recipe`, a value other than
its default, what makes it matter and the evidence that it changed what ran; the groups of fields
that share a run; what each entry point does not offer, and why (tests/test_settings_reach_the_run.py)."""
import dataclasses
from typing import Any, Dict

import sparsekit as sk
from sparsekit.app import experiments
from sparsekit.app.sweeps.spec import SWEEP_OWNED
from sparsekit.training.config import setting_fields

CONFIG_FIELDS = [f.name for _, f in setting_fields()]
RECIPE_FIELDS = [f.name for f in dataclasses.fields(sk.Recipe)]
# Tiny runs: two steps on the digits at a quarter of ResNet-20's width.
BASE = {"dataset": "digits", "width": 0.25, "epochs": 1, "max_batches": 2, "batch_size": 32, "progress": False}
GRADINIT = {"init": "gradinit", "init_iterations": 2}


@dataclasses.dataclass
class Case:
    value: Any
    needs: Dict[str, Any] = dataclasses.field(default_factory=dict)  # what makes the field matter
    shows: str = "result"  # the evidence: see `changed_what_ran`
    before: Any = None  # the field's value in the run compared with, if not its default (a cheaper one)


# Placeholders, made per run: "<cifar>" a data root (not the default) holding CIFAR-10 files,
# "<empty>" an empty folder, "<out>" a new run folder, "<finished>"/"<interrupted>" one holding that
# run finished/stopped after epoch 1, "<mask-file>" a saved mask of the run's model.
CASES = {
    # data
    "dataset": Case("cifar10", {"data_root": "<cifar>"}),
    "data_root": Case("<cifar>", {"dataset": "cifar10"}),  # other files than the default root's
    "download": Case(True, {"dataset": "cifar10", "data_root": "<empty>"}, shows="refused without"),
    "train_examples": Case(100),
    "batch_size": Case(16),
    "num_workers": Case(1, {"dataset": "cifar10", "data_root": "<cifar>"}, shows="loader"),
    "pin_memory": Case(True, {"dataset": "cifar10", "data_root": "<cifar>"}, shows="loader"),
    "persistent_workers": Case(True, {"dataset": "cifar10", "data_root": "<cifar>", "num_workers": 1},
                               shows="loader"),
    # network
    "model": Case("resnet32"),
    # Wider than BASE: at 0.5 no strided 1x1 convolution (shortcut or ghost) has fewer than 8 input
    # channels, so channels_last is accepted on every CPU (sparsekit.training.memory_layout).
    "width": Case(0.5),
    "channels_last": Case(True, {"width": 0.5}, shows="channels last"),
    "compile": Case(True, shows="compiled"),
    # masking
    "mask": Case("snip"),
    "mask_file": Case("<mask-file>"),
    "sparsity": Case(0.5),
    "distribution": Case("erk"),
    "schedule": Case("gmp", {"mask": "magnitude"}),
    "pattern": Case("2:4", {"prune_first_layer": False}),
    "prune_first_layer": Case(False),
    "prune_classifier": Case(True),
    "mask_examples_per_class": Case(2, {"mask": "snip"}),
    "mask_batches": Case(2, {"mask": "snip", "mask_examples_per_class": 0}),
    "mask_options": Case({"shuffle": True}, {"mask": "magnitude"}),
    # optimization
    "epochs": Case(2),
    "optimizer": Case("adam"),
    "lr": Case(0.05),
    "momentum": Case(0.5),
    "nesterov": Case(True),
    "weight_decay": Case(0.01),
    "lr_schedule": Case("multistep"),
    "milestones": Case("0.25", {"lr_schedule": "multistep", "epochs": 2}),
    "lr_drop": Case(0.5, {"lr_schedule": "multistep", "epochs": 2}),
    "warmup_epochs": Case(1.0),
    "max_batches": Case(3),
    "amp": Case("bf16"),
    # run
    "seed": Case(1),
    "device": Case("auto", shows="device"),
    "out": Case("<out>", shows="files"),
    "resume": Case(True, {"out": "<interrupted>", "epochs": 2}, shows="refused without"),
    "overwrite": Case(True, {"out": "<finished>"}, shows="refused without"),
    "progress": Case(False, shows="no progress bar", before=True),
    "tensorboard": Case("<empty>", shows="tensorboard"),
    # a learning rate that trains nothing: validation stalls at chance, so some epoch does not improve it
    "test_every": Case("best-val", {"epochs": 4, "lr": 1e-9}, shows="test skipped"),
    "bn_reestimate_batches": Case(1, shows="bn diagnostic"),
    # recipe
    "ghost_neurons": Case("pswish"),
    "ghost_neurons_beta": Case(1.5, {"ghost_neurons": "pswish"}),
    "ghost_neurons_mode": Case("keep", {"ghost_neurons": "pswish"}),
    "ghost_skip": Case(True),
    "ghost_skip_alpha": Case(0.5, {"ghost_skip": True}),
    "ghost_skip_mode": Case("keep", {"ghost_skip": True}),
    "init": Case("gradinit", {"init_iterations": 2}),
    "init_iterations": Case(3, {"init": "gradinit"}, before=2),  # against 2, not 180 iterations
    "init_lr": Case(0.05, GRADINIT),
    "init_eta": Case(0.2, {**GRADINIT, "init_gamma": 1e9}),  # a gamma nothing exceeds: look-ahead steps
    "init_gamma": Case(1e9, GRADINIT),
    "init_batch_size": Case(8, GRADINIT),
    "init_variant": Case("masked", GRADINIT),
    "init_order": Case("after-ghosts", {**GRADINIT, "init_variant": "masked", "ghost_skip": True}),
    "label_smoothing": Case(0.1),
    "early_phase": Case(0.5, {"ghost_skip": True, "epochs": 2}),
}

# Runs that set several fields at once (every field in one group; a group's settings must agree).
GROUPS = {
    "core": ["model", "width", "channels_last", "compile", "mask", "sparsity", "distribution", "prune_classifier",
             "mask_examples_per_class", "mask_options", "epochs", "momentum", "nesterov", "weight_decay", "lr",
             "lr_schedule", "milestones", "lr_drop", "warmup_epochs", "max_batches", "amp", "seed", "device",
             "progress", "tensorboard", "out", "batch_size", "train_examples", "test_every", "bn_reestimate_batches",
             *RECIPE_FIELDS],
    "files": ["dataset", "data_root", "download", "num_workers", "pin_memory", "persistent_workers", "optimizer",
              "schedule"],
    "pattern": ["pattern", "prune_first_layer", "mask_batches", "overwrite"],
    "resume": ["resume", "mask_file"],
}
GROUP_SETTINGS = {"core": {"mask": "snip"}, "files": {"data_root": "<empty>", "mask": "magnitude"},
                  "pattern": {"mask": "snip"}}

# The fields an entry point does not offer, and why; it must refuse each of them.
NOT_OFFERED = {
    "sweep": {name: "the sweep gives each run its folder, resumes it and keeps it quiet" for name in SWEEP_OWNED},
    "notebook": {name: "a notebook's experiment sets what the course varies; the rest is TrainConfig's "
                       "default (train anything else with sk.train)"
                 for name in CONFIG_FIELDS if name not in experiments.COURSE_DEFAULTS},
}
ENTRY_POINTS = ["python", "config", "cli", "sweep", "notebook"]
# What an entry point decides itself, for every run.
ENTRY_SETS = {"sweep": {"progress": False}}
