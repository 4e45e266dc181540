"""Networks from installed packages by name: `build("torchvision:resnet18", ...)`,
`build("timm:resnet18d", ...)`.

The package's own builder makes the network, untrained (never any downloaded weights), with
the data's number of classes and input channels; the user's module names stay the parameter
names. `FAMILIES` is the one list of what is tested (`tests/test_external_models.py` runs each
through masks, every recipe preset, training and export) and what is refused, and why; the
command line's `sparsekit list` and the README read it.
"""
import importlib
from typing import Callable, Dict, NamedTuple

from torch import nn

from ..core.errors import SparsekitError

PACKAGES = ("torchvision", "timm")
WIDTH_ARGUMENT = "width_mult"  # the torchvision builders that scale their channels take this


class Family(NamedTuple):
    package: str
    example: str  # a model name in that package
    works: bool
    note: str


FAMILIES = (
    Family("torchvision", "resnet18", True, "ResNet-18/34 (basic blocks), ResNet-50+ (bottlenecks)"),
    Family("torchvision", "mobilenet_v2", True, "inverted residuals, ReLU6; width via --width"),
    Family("torchvision", "mobilenet_v3_small", True, "Hardswish, squeeze-excitation; width via --width"),
    Family("torchvision", "vgg11_bn", True, "plain conv + BN stacks; the 7x7 classifier input is kept whole"),
    Family("torchvision", "efficientnet_b0", True, "SiLU, squeeze-excitation, stochastic depth; ghost neurons "
                                                   "refused (no ReLU to replace)"),
    Family("torchvision", "regnet_x_400mf", True, "grouped convs (kept whole by the export)"),
    Family("timm", "resnet18", True, "timm's ResNet"),
    Family("timm", "resnet18d", True, "ResNet-D: deep stem, average-pool shortcuts"),
    Family("timm", "mobilenetv3_small_050", True, "timm's MobileNetV3 (BatchNormAct units)"),
    Family("timm", "convnext_atto", False, "LayerNorm over channels and per-channel layer scale after "
                                           "convolutions without BatchNorm: no BN to fold, no unit the recipe "
                                           "and the export know; refused by name"),
    Family("torchvision", "vit_b_16", False, "attention, LayerNorm and reshapes are outside the export's "
                                             "vocabulary (conv, linear, activations, pooling, add, channel scale)"),
)


def is_external(name) -> bool:
    return isinstance(name, str) and ":" in name


def _package(package: str):
    if package not in PACKAGES:
        raise SparsekitError(f"unknown model package {package!r} in --model; use torchvision:NAME or timm:NAME")
    try:
        return importlib.import_module(package)
    except ImportError:
        raise SparsekitError(f"--model {package}:... needs the {package} package: pip install {package} "
                             f"(or pip install sparsekit[{package}])") from None


def _torchvision_builder(name: str) -> Callable[..., nn.Module]:
    models = _package("torchvision").models
    names = models.list_models(module=models)  # classification networks only
    if name not in names:
        raise SparsekitError(f"unknown torchvision model {name!r}; choose one of: {', '.join(names)}")
    return models.get_model_builder(name)


def set_input_channels(model: nn.Module, in_channels: int) -> None:
    """Give the first conv `in_channels` inputs (torchvision's builders assume RGB), same
    settings and name, Kaiming-normal fan-out like torchvision's own convs."""
    name, stem = next(((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), (None, None))
    if stem is None or stem.in_channels == in_channels:
        return
    new = nn.Conv2d(in_channels, stem.out_channels, stem.kernel_size, stride=stem.stride, padding=stem.padding,
                    dilation=stem.dilation, groups=1, bias=stem.bias is not None, padding_mode=stem.padding_mode)
    nn.init.kaiming_normal_(new.weight, mode="fan_out", nonlinearity="relu")
    if new.bias is not None:
        nn.init.zeros_(new.bias)
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


def _torchvision(name: str, num_classes: int, in_channels: int, width: float) -> nn.Module:
    builder = _torchvision_builder(name)
    options: Dict[str, object] = {"weights": None, "num_classes": num_classes}
    if width != 1.0:
        if not name.startswith("mobilenet"):
            raise SparsekitError(f"torchvision:{name} has no width multiplier; use --width 1 (only the MobileNets "
                                 f"take one)")
        options[WIDTH_ARGUMENT] = width
    model = builder(**options)
    set_input_channels(model, in_channels)
    return model


def _timm(name: str, num_classes: int, in_channels: int, width: float) -> nn.Module:
    timm = _package("timm")
    if name not in timm.list_models():
        raise SparsekitError(f"unknown timm model {name!r}; see timm.list_models()")
    if width != 1.0:
        raise SparsekitError(f"timm:{name}: --width applies to the kit's and torchvision's MobileNets only; "
                             f"pick a narrower timm variant by name instead (e.g. mobilenetv3_small_050)")
    return timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=in_channels)


def check_external(spec: str) -> None:
    """Refuse, in one line, a `package:model` name that `build_external` could not build."""
    package, _, name = spec.partition(":")
    module = _package(package)
    if package == "torchvision":
        _torchvision_builder(name)
    elif name not in module.list_models():
        raise SparsekitError(f"unknown timm model {name!r}; see timm.list_models()")


def build_external(spec: str, num_classes: int, in_channels: int, width: float) -> nn.Module:
    """An untrained network of an installed package, named `package:model`."""
    package, _, name = spec.partition(":")
    _package(package)
    build = _torchvision if package == "torchvision" else _timm
    return build(name, num_classes, in_channels, width)
