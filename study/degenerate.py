"""Degenerate cells (REANALYSIS.md, rule 1): a mask that leaves no path of kept weights from the
input to the output (an emptied layer every path passes through, or a block whose every way
through is emptied) cuts the network, whose output then cannot depend on its input; no recipe can
train it.

Decided from the committed mask files alone, on the run's network in float64, evaluation mode:
- **cut** (the rule): no path of kept weights joins the input to the output. Tested with every
  weight made positive (|w|, masked), every BatchNorm the identity and every bias zero, on a
  positive input: each output is then a sum of positive products, one per path, so it is zero
  exactly when no path is left; nothing cancels and no ReLU is shut by a sign.
- **cut at initialisation** (the pre-registered detection, kept beside it): the masked network,
  freshly initialised (seed 0), gives the same output for two random inputs. It can also fire on a
  network that has a path, when the judge's random weights happen to shut a ReLU on it for every
  input (a channel fed by one negative weight from a ReLU's non-negative output, BatchNorm at its
  initial statistics); training, whose BatchNorm normalises each batch, is not shut that way.
  PLAN.md of the addendum ("Changes after results were seen") says why the rule now decides by
  the path test.
The layers that cut the dense network when emptied alone are the "must-pass" layers; a cut mask's
report names those it empties (ResNet-20: the stem convolution; every later convolution has a
shortcut beside it).
"""
import json
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

import torch

from sparsekit import models
from sparsekit.core.errors import SparsekitError

from .plan import parse_run_name

# (input channels, classes, image side) of the datasets a study has trained on: the cut test
# needs the network's shape only, not the data.
GEOMETRY = {"fashion_mnist": (1, 10, 28), "digits": (1, 10, 8), "cifar10": (3, 10, 32), "cifar100": (3, 100, 32)}


def _output(model: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(inputs)


def _inputs(model: torch.nn.Module) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn((2,) + tuple(model.input_shape), generator=generator, dtype=torch.float64)


def input_reaches_output(model: torch.nn.Module) -> bool:
    """False when the (float64, eval-mode) model gives the same output for two random inputs:
    the pre-registered detection, which depends on the model's weights (see the module's note)."""
    outputs = _output(model, _inputs(model))
    return not torch.equal(outputs[0], outputs[1])


def path_remains(model: torch.nn.Module) -> bool:
    """Whether a path of non-zero weights joins the (eval-mode) model's input to its output:
    every weight as its absolute value, every bias zero, BatchNorm the identity, a positive input;
    the output is then non-zero exactly when a path is left (whatever the weights' signs)."""
    import copy

    positive = copy.deepcopy(model)
    with torch.no_grad():
        for name, parameter in positive.named_parameters():
            if name.endswith("bias"):
                parameter.zero_()
            elif parameter.dim() > 1:
                parameter.abs_()
            else:  # a BatchNorm scale
                parameter.fill_(1.0)
        for module in positive.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.zero_()
                module.running_var.fill_(1.0 - module.eps)  # divides by exactly 1
        inputs = _inputs(positive).abs()[:1] + 1.0
        return bool((_output(positive, inputs) != 0).any())


def _masked_copy(model: torch.nn.Module, mask: Mapping[str, torch.Tensor]) -> torch.nn.Module:
    import copy

    masked = copy.deepcopy(model)
    parameters = dict(masked.named_parameters())
    missing = sorted(set(mask) - set(parameters))
    if missing:
        raise SparsekitError(f"the mask names layers the network does not have: {', '.join(missing[:3])}")
    with torch.no_grad():
        for name, keep in mask.items():
            parameters[name].mul_(keep.to(parameters[name].dtype))
    return masked


def must_pass_layers(model: torch.nn.Module, names) -> List[str]:
    """The layers among `names` that, zeroed alone in the dense network, cut its input off."""
    parameters = dict(model.named_parameters())
    return [name for name in names
            if not path_remains(_masked_copy(model, {name: torch.zeros_like(parameters[name])}))]


def judge_mask(model: torch.nn.Module, mask: Mapping[str, torch.Tensor],
               must_pass: Optional[List[str]] = None) -> Dict:
    """{"cut": no path of kept weights is left (the rule), "cut_at_init": the pre-registered
    detection, "empty_must_pass": [layers the input must pass through that keep no weight]}
    (`must_pass`: the network's must-pass layers when already known)."""
    masked = _masked_copy(model, mask)
    must_pass = must_pass_layers(model, list(mask)) if must_pass is None else must_pass
    empty = [name for name in must_pass if name in mask and not bool(mask[name].any())]
    return {"cut": not path_remains(masked), "cut_at_init": not input_reaches_output(masked), "empty_must_pass": empty}


def network_of(record: dict) -> torch.nn.Module:
    """The run's network, freshly initialised (seed 0), float64, evaluation mode."""
    config = record["config"]
    if config.get("dataset") not in GEOMETRY:
        raise SparsekitError(f"no input geometry known for dataset {config.get('dataset')!r}: cannot judge its masks")
    channels, classes, side = GEOMETRY[config["dataset"]]
    torch.manual_seed(0)
    model = models.build(config["model"], classes, in_channels=channels, width=config.get("width", 1.0),
                         input_size=side)
    return model.double().eval()


def read_mask(path: Path) -> Dict[str, torch.Tensor]:
    saved = torch.load(path, map_location="cpu", weights_only=True)
    return saved["mask"] if isinstance(saved, dict) and "mask" in saved else saved


def cell_degeneracy(directory) -> Dict[Tuple[str, float], Dict]:
    """{(mask, sparsity): {"degenerate": bool, "seeds": {seed: judge_mask(...)}}} from every
    `runs/*-default/mask.pt` (the mask all arms of a (mask, sparsity, seed) train, but `capacity`)."""
    found: Dict[Tuple[str, float], Dict] = {}
    networks: Dict[str, Tuple[torch.nn.Module, List[str]]] = {}
    for path in sorted(Path(directory).glob("runs/*-default/mask.pt")):
        parsed = parse_run_name(path.parent.name)
        record = _record(path.parent)
        if parsed is None or record is None:
            continue
        key = json.dumps({k: record["config"].get(k) for k in ("dataset", "model", "width")}, sort_keys=True)
        mask = read_mask(path)
        if key not in networks:
            model = network_of(record)
            networks[key] = model, must_pass_layers(model, list(mask))
        judged = judge_mask(*networks[key][:1], mask, must_pass=networks[key][1])
        cell = found.setdefault(parsed[:2], {"degenerate": False, "seeds": {}})
        cell["seeds"][parsed[2]] = judged
        cell["degenerate"] = cell["degenerate"] or judged["cut"]
    return found


def _record(folder: Path) -> Optional[dict]:
    try:
        return json.loads((folder / "record.json").read_text())
    except (OSError, ValueError):
        return None
