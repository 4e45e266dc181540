"""The run record: everything needed to read, compare and repeat a run, as one JSON file.

`build` writes what the trainer knows (settings, mask, epochs, counts, environment); every
other entry is a section declared by the callback that owns it (`Callback.record_section`).
"""
import os
import platform
import time
from typing import Any, Dict, List

import torch

from ..core import formats, threads
from ..core.errors import SparsekitError
from ..core.version import VERSION as __version__, code_version
from ..analysis import summarize
from ..core.machine import cpu_identity
from ..core.mask_digest import mask_digest
from ..core.prunable import dense_prefixes
from .state import TrainState

FORMAT = formats.RECORD
# Environment variables that choose the CPU kernels or the thread count, recorded when set.
MATH_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA",
                  "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "OPENBLAS_CORETYPE")


def math_settings() -> Dict[str, str]:
    return {name: os.environ[name] for name in MATH_VARIABLES if name in os.environ}


class RunRecord(dict):
    """The record as a dict (what `record.json` holds), plus the trained `model` and `mask`."""

    model = None
    mask = None


def best_epoch(epochs: List[Dict[str, Any]]) -> int:
    """Index of the epoch with the best validation accuracy (the earliest on a tie)."""
    return max(range(len(epochs)), key=lambda i: (epochs[i]["val_acc"], -i))


@torch.no_grad()
def nonzero_density(state: TrainState) -> float:
    """Fraction of the masked weights that are non-zero in the model right now."""
    params = dict(state.model.named_parameters())
    total = sum(keep.numel() for keep in state.mask.values())
    nonzero = sum(int((params[name] != 0).sum()) for name in state.mask)
    return nonzero / total if total else 1.0


def parameter_counts(model, mask) -> Dict[str, int]:
    """Where the network's parameters are: the weights the mask covers (total and kept), the
    dense ghost branches the recipe adds beside it, and every other parameter (BatchNorm,
    biases, layers outside the prunable set such as a dense classifier). `in_use` is what
    the trained network computes with, so no comparison hides extra weights."""
    ghost_prefixes = dense_prefixes(model)
    counts = {"masked_total": sum(k.numel() for k in mask.values()),
              "masked_kept": sum(int(k.sum()) for k in mask.values()), "ghost_branches": 0, "other_dense": 0}
    for name, param in model.named_parameters():
        if name in mask:
            continue
        key = "ghost_branches" if any(name.startswith(p) for p in ghost_prefixes) else "other_dense"
        counts[key] += param.numel()
    counts["in_use"] = counts["masked_kept"] + counts["ghost_branches"] + counts["other_dense"]
    return counts


# The entries `build` writes itself; no callback may declare one of them as its section.
OWN_ENTRIES = frozenset({
    "format", "finished", "config", "recipe", "mask_source", "epochs", "density", "sparsity", "nonzero_density",
    "parameters", "layers", "seconds", "analysis", "mask_history", "environment", "mask_digest",
    "parameters_at_start", "recipe_preset", "sparsifier", "test_acc", "best_val_epoch", "best_val_acc",
    "best_val_test_acc", "bn_reestimated_test_acc", "diverged", "network"})


def check_sections(callbacks) -> None:
    """Refuse, before any work, a callback whose record section is one of the trainer's entries."""
    for callback in callbacks.callbacks:
        if callback.record_section in OWN_ENTRIES:
            raise SparsekitError(f"{type(callback).__name__} declares the record section "
                                 f"{callback.record_section!r}, which the trainer writes itself")


def network_arguments(state: TrainState) -> Dict[str, Any]:
    """How to build the trained network again (`models.build`'s arguments), so reading a run
    back (export, rerun checks) needs neither the dataset's files nor a guess."""
    data = state.data
    return {"model": state.config.model, "num_classes": getattr(data, "num_classes", None),
            "in_channels": getattr(data, "in_channels", None), "input_size": getattr(data, "image_size", None),
            "width": state.config.width}


def build(state: TrainState, finished: bool) -> RunRecord:
    epochs = state.epochs
    record = RunRecord(
        format=FORMAT,
        finished=finished,
        config=state.config.to_dict(),
        recipe=state.recipe,
        mask_source=state.mask_source,
        epochs=epochs,
        density=state.mask.density(),
        sparsity=state.mask.sparsity(),
        nonzero_density=nonzero_density(state),
        parameters=parameter_counts(state.model, state.mask),
        layers=[{k: row[k] for k in ("name", "shape", "density", "kept", "total")} for row in state.mask.layer_table()],
        seconds=state.seconds(),
        analysis=summarize(state.model, state.mask, path_from_input_at_start=state.path_from_input_at_start,
                           effective_density_at_start=state.effective_density_at_start),
        mask_history=list(state.mask_history),  # empty when the mask never changed
        environment={"sparsekit": __version__, "code": code_version(), "torch": torch.__version__, "python": platform.python_version(),
                     "device": str(state.device),
                     # CPU results depend on it: torch splits sums over threads in a different order.
                     "torch_threads": torch.get_num_threads(),
                     # how many were chosen and why (the kit's thread policy, or the user's count)
                     "threads": threads.last().as_record() if threads.last() else None,
                     # Which kernels ran: another instruction set rounds differently, and short
                     # runs at high sparsity can grow that into different accuracies.
                     "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                     # and two CPUs of the same instruction set can still round differently
                     "cpu": cpu_identity(), "math_settings": math_settings(),
                     "written": time.strftime("%Y-%m-%dT%H:%M:%S")},
        mask_digest=mask_digest(state.mask),
        parameters_at_start=state.parameters_at_start,
        network=network_arguments(state),
    )
    if state.recipe_preset is not None:
        record["recipe_preset"] = state.recipe_preset
    if state.sparsifier is not None:
        record["sparsifier"] = state.sparsifier.describe(state.total_steps)
    record.update(state.callbacks.record_sections(state))
    if epochs:
        best = best_epoch(epochs)
        record.update(test_acc=epochs[-1]["test_acc"], best_val_epoch=best + 1,
                      best_val_acc=epochs[best]["val_acc"], best_val_test_acc=epochs[best]["test_acc"])
        if "bn_reestimated_test_acc" in epochs[best]:  # a diagnostic, recorded when asked for
            record["bn_reestimated_test_acc"] = epochs[best]["bn_reestimated_test_acc"]
    return record
