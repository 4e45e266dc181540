"""`export(model, mask)`: a trained masked network -> one file a plain module runs fast.

Pipeline, one way: trace into units (graph) -> fold BN and ghost branches (fold) -> remove
dead units (dead_units) -> store the weights compressed (storage) -> time dense vs sparse per
layer (kernels) -> the runtime network (runtime), saved atomically when `path` is given.
"""
import copy
import os
from collections.abc import Mapping, Sequence
from typing import Dict, List, Optional

import torch
from torch import nn

from ..core import atomic
from ..core.checks import whole_number
from ..core.errors import SparsekitError
from ..models.input_size import check_runs_on
from ..training.run_dir import check_file_location
from . import dead_units, fold, kernels, storage
from .graph import Node, trace
from .runtime import FILE_FORMAT, ExportedNet, from_payload

KERNEL_MODES = ("auto", "dense", "sparse", "tiled")
DEFAULT_INPUT_SHAPE = (3, 32, 32)  # for a model that does not say what it was built for


def _check_arguments(model, mask, batch_size, input_shape, kernel_mode, path) -> None:
    if not isinstance(model, nn.Module):
        raise SparsekitError(f"export takes a torch nn.Module (a trained model), got {type(model).__name__}")
    if mask is not None and not isinstance(mask, Mapping):
        raise SparsekitError(f"export's mask must be a sparsekit.Mask (or None: the weights as they are), got "
                             f"{type(mask).__name__}")
    whole_number("export batch_size", batch_size, 1)
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise SparsekitError(f"export path must be a file path, got {type(path).__name__}")
        check_file_location(path, "export path")
    if kernel_mode not in KERNEL_MODES:
        raise SparsekitError(f"export kernels must be one of: {', '.join(KERNEL_MODES)} (got {kernel_mode!r})")


def _input_shape(model: nn.Module, given) -> tuple:
    """The checked (channels, height, width) the export traces at; the model must run on it."""
    shape = getattr(model, "input_shape", DEFAULT_INPUT_SHAPE) if given is None else given
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence) or len(shape) != 3 or \
            any(isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in shape):
        raise SparsekitError(f"export input_shape must be (channels, height, width), got {shape!r}")
    first = next((m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))), None)
    if isinstance(first, nn.Conv2d) and first.in_channels != shape[0]:
        raise SparsekitError(f"export input_shape {tuple(shape)} has {shape[0]} channels, but the model's first "
                             f"layer takes {first.in_channels}; pass input_shape=({first.in_channels}, H, W)")
    check_runs_on(model, shape, type(model).__name__, "export input_shape")
    return tuple(shape)


def _nonzero(nodes: List[Node]) -> int:
    return sum(int((n.affine.weight != 0).sum()) for n in nodes if n.op in ("conv", "linear"))


def _fold_units(nodes: List[Node]) -> None:
    """Convs and linears become affine layers named by the user's modules; activations become
    data (already done in `graph` for all but the recipe's ghost neurons)."""
    for node in nodes:
        if node.op == "conv":
            node.extra["name"] = node.module.name
            node.affine = fold.fold_conv_bn(node.module, node.module.name)
        elif node.op == "linear":
            node.affine = fold.fold_linear(node.module)
        elif node.op == "act" and "act" not in node.extra:
            node.extra["act"] = fold.activation_spec(node.module)


def _index_or_none(indices: torch.Tensor, identity_size: int, tensors: Dict, key: str) -> Optional[str]:
    """Store an index list unless it is 0..n-1 over a tensor of exactly n channels."""
    if indices.numel() == identity_size and torch.equal(indices, torch.arange(identity_size)):
        return None
    tensors[key] = indices.clone()
    return key


def _layer_step(node: Node, key: str, kept_out, kept_in, tensors: Dict) -> Dict:
    affine = node.affine
    weight, bias = affine.weight[kept_out], affine.bias[kept_out]
    spec = {"op": node.op, "name": node.extra["name"], "out_channels": int(kept_out.numel())}
    if node.op == "conv" and dead_units.conv_kind(node) == "grouped":  # every channel kept (see dead_units)
        spec["groups"] = affine.groups
    elif node.op == "conv" and affine.groups > 1:  # depthwise: each kept output reads its own channel
        gather = _index_or_none(dead_units.positions(kept_out, kept_in), kept_in.numel(), tensors, key + ".gather")
        spec.update(groups=int(kept_out.numel()), gather=gather)
    else:
        weight = weight[:, kept_in]
        spec["groups"] = 1
    if node.op == "conv":
        spec.update(stride=affine.stride, padding=affine.padding)
    tensors[key + ".weight"] = storage.encode_weight(weight)
    tensors[key + ".bias"] = bias.float()
    return dict(spec, weight=key + ".weight", bias=key + ".bias")


def _add_step(node: Node, key: str, kept: List[torch.Tensor], out_slot: int, tensors: Dict) -> Dict:
    """An addition (or channel scale) of the output's channels, picked from operands that hold more."""
    kept_out, picks = kept[out_slot], []
    for position, operand in enumerate(node.inputs):
        picks.append(_index_or_none(dead_units.positions(kept_out, kept[operand]), kept[operand].numel(),
                                    tensors, f"{key}.pick{position}"))
    return {"op": "add", "picks": picks}


def _emit(nodes: List[Node], plan: Dict):
    """The runtime's steps and tensors; identity nodes vanish (their slot aliases the input)."""
    kept = plan["kept"]
    steps, tensors, slot, input_shapes = [], {}, {0: 0}, {}
    for index, node in enumerate(nodes[:-1]):
        out_slot, source = index + 1, node.inputs[0]
        if node.op == "identity":
            slot[out_slot] = slot[source]
            continue
        key = f"step{len(steps)}"
        if node.op in ("conv", "linear"):
            spec = _layer_step(node, key, kept[out_slot], kept[source], tensors)
            input_shapes[len(steps)] = (node.input_shape[0], int(kept[source].numel())) + tuple(node.input_shape[2:])
        elif node.op in ("add", "mul"):
            spec = dict(_add_step(node, key, kept, out_slot, tensors), op=node.op)
        elif node.op == "act":
            spec = {"op": "act", **node.extra["act"]}
        elif node.op == "maxpool":
            pool = node.module
            spec = {"op": "maxpool", "kernel": pool.kernel_size, "stride": pool.stride, "padding": pool.padding}
        elif node.op == "avgpool":
            pool = node.module
            spec = {"op": "avgpool", "kernel": pool.kernel_size, "stride": pool.stride, "padding": pool.padding,
                    "ceil_mode": pool.ceil_mode, "count_include_pad": pool.count_include_pad}
        elif node.op == "adaptive_avgpool":
            spec = {"op": "adaptive_avgpool", "size": list(node.extra["size"])}
        else:
            spec = {"op": node.op}
        spec["inputs"] = [slot[i] for i in node.inputs]
        steps.append(spec)
        slot[out_slot] = len(steps)
    return steps, tensors, slot[nodes[-1].inputs[0]], input_shapes


def export(model: nn.Module, mask=None, batch_size: int = 1, path=None,
           input_shape: Optional[Sequence[int]] = None, kernels_mode: str = "auto",
           remove_dead: bool = True) -> ExportedNet:
    """Fold, shrink, compress and time `model` (with `mask` applied, in eval mode) for CPU
    inference at `batch_size`; the result computes the masked-dense model's function.
    Written to `path` (one file, see `load_exported`) when given; `.report` says what changed.
    `kernels_mode` "dense"/"sparse"/"tiled" forces one kernel everywhere (a tiled layer whose
    kernel cannot be built here runs dense); `remove_dead=False` keeps every channel (both only
    to measure what each part buys). `input_shape` (channels, height, width) defaults to the
    shape `sparsekit.models.build` built the model for, else (3, 32, 32)."""
    _check_arguments(model, mask, batch_size, input_shape, kernels_mode, path)
    input_shape = _input_shape(model, input_shape)
    work = copy.deepcopy(model).cpu().float().eval()
    if mask is not None:
        mask.apply(work)
    nodes = trace(work, (batch_size,) + input_shape)
    _fold_units(nodes)
    masked_nonzero = sum(int((n.module.weight != 0).sum()) for n in nodes if n.op == "linear") + sum(
        int((n.module.conv.weight != 0).sum()) for n in nodes if n.op == "conv")
    total = sum(n.affine.weight.numel() for n in nodes if n.op in ("conv", "linear"))
    folded_nonzero = _nonzero(nodes)
    plan = dead_units.shrink(nodes, input_shape[0], remove_dead)
    steps, tensors, output, input_shapes = _emit(nodes, plan)
    timings = kernels.choose(steps, tensors, input_shapes, kernels_mode)
    payload = {"format": FILE_FORMAT, "steps": steps, "tensors": tensors, "output": output,
               "input_shape": list(input_shape), "batch_size": batch_size}
    runner = {"payload": payload, "steps_ms": None, "plan_ms": None}
    if kernels_mode == "auto":  # a forced kernel runs step by step, as asked
        sample = torch.randn((batch_size,) + tuple(input_shape), generator=torch.Generator().manual_seed(0))
        runner = kernels.choose_runner(payload, timings, sample)
    payload = runner.pop("payload")
    net = from_payload(payload)
    net.payload = payload
    net.report = {
        "weights_total": total, "nonzero_masked": masked_nonzero, "nonzero_after_fold": folded_nonzero,
        "ghost_centre_taps_added": sum(n.affine.centre_taps_added for n in nodes if n.op == "conv"),
        "nonzero_stored": sum(_stored_nonzero(tensors[s["weight"]]) for s in steps if "weight" in s),
        "layers": plan["removed"], "kernels": {steps[i]["name"]: t for i, t in timings.items()},
        "runner": dict(runner, chosen=payload.get("runner", "steps")),
        "weight_bytes": sum(storage.stored_bytes(tensors[s["weight"]]) for s in steps if "weight" in s)}
    if path is not None:
        atomic.torch_save(payload, path)
    return net


def _stored_nonzero(stored: Dict) -> int:
    if stored["encoding"] == "dense":
        return int((stored["values"] != 0).sum())
    return int(stored["values"].numel())


def load_exported(path, kernels: Optional[str] = None) -> ExportedNet:
    """`runtime.load_exported` with sparsekit's one-line errors for a missing or foreign file."""
    from pathlib import Path

    if not isinstance(path, (str, os.PathLike)):
        raise SparsekitError(f"load_exported takes the exported file's path, got {type(path).__name__}")
    if not Path(path).is_file():
        raise SparsekitError(f"exported network file not found: {path}")
    payload = atomic.torch_load(path, lambda reason: f"{path}: cannot read the exported network ({reason})")
    try:
        return from_payload(payload, kernels)
    except (ValueError, KeyError, RuntimeError) as exc:
        raise SparsekitError(f"{path}: not a usable sparsekit exported network ({exc})") from None
