"""`Recipe`: which ToST tricks a run uses, as one frozen, serialisable dataclass.

    import sparsekit as sk
    sk.train(mask="snip", sparsity=0.95, recipe=sk.Recipe.tost())
    sk.train(mask="snip", sparsity=0.95, recipe=sk.Recipe(label_smoothing=0.1))

Each field is declared once with its help text (as in `TrainConfig`); the CLI's recipe flags
are generated from them. Two presets turn on all four tricks, and differ in one thing:

- `Recipe.release()` (`--recipe tost-release`): what the public release (VITA-Group/ToST)
  runs. Ghost neurons (pswish, beta 2) and ghost skip branches (alpha 1) stay for the whole
  run, so the trained network carries dense ghost-branch weights beside the mask (the run
  record counts them apart: `parameters`); GradInit as released; label smoothing 0.1.
  With the trainer's default prunable set (convolutions only, dense classifier) this is the
  release's set-up.
- `Recipe.tost()` (`--recipe tost`): the abstract's reading, which introduces the ghosts "at
  the early stage of training": both anneal away over the first 25% of steps, leaving
  exactly the masked original network, so its accuracy belongs to a network with the mask's
  sparsity and nothing else.
"""
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Dict, List, Mapping

from ..core.checks import finite_number, whole_number
from ..core.errors import SparsekitError
from ..core.callbacks import Callback
from ..core.fields import setting
from .ghost_neurons import GhostNeurons
from .ghost_skip import GhostSkip
from .gradinit import GradInit
from .label_smoothing import LabelSmoothing
from .scaled_init import ScaledInit

GHOST_NEURON_KINDS = ("off", "swish", "pswish", "mish")
GHOST_MODES = ("early", "keep")
INIT_KINDS = ("none", "gradinit", "scaled")
PRESETS = ("default", "tost", "tost-release")

# The four tricks of the ToST recipe, each independent: name -> what a toggle shows.
TRICKS: Dict[str, str] = {
    "ghost_neurons": "ghost neurons",
    "ghost_skip": "ghost skip connections",
    "modified_init": "modified initialization",
    "label_smoothing": "label smoothing",
}

# The `Recipe` field that switches each trick on.
TRICK_FIELDS: Dict[str, str] = {"ghost_neurons": "ghost_neurons", "ghost_skip": "ghost_skip",
                                "modified_init": "init", "label_smoothing": "label_smoothing"}


@dataclass(frozen=True)
class Recipe:
    # 1. ghost neurons
    ghost_neurons: str = setting("off", "smooth activation replacing every ReLU/ReLU6", choices=GHOST_NEURON_KINDS)
    ghost_neurons_beta: float = setting(2.0, "pswish: beta of x*sigmoid(beta*x) (the release's 2)")
    ghost_neurons_mode: str = setting("early", "ghost neurons: 'early' anneals back to the original ReLUs over the "
                                      "early phase; 'keep' stays smooth all run (the release)", choices=GHOST_MODES)
    # 2. ghost skip connections
    ghost_skip: bool = setting(False, "dense 1x1 conv + BN branches beside the 3x3 convs (J1, J2 in residual blocks)")
    ghost_skip_alpha: float = setting(1.0, "ghost skip: branch scale alpha at the start (the release's 1)")
    ghost_skip_mode: str = setting("early", "ghost skip: 'early' anneals alpha to 0 over the early phase, then "
                                   "removes the branches; 'keep' keeps them all run (the release)", choices=GHOST_MODES)
    early_phase: float = setting(0.25, "length of the ghosts' early phase, as a fraction of the run's steps, in (0, 1]")
    # 3. modified initialisation
    init: str = setting("none", "rescale the masked network's init: GradInit-style scalars, or 1/sqrt(layer "
                        "density)", choices=INIT_KINDS)
    init_iterations: int = setting(180, "gradinit: scalar-optimisation iterations (the release's 180)")
    init_lr: float = setting(1e-2, "gradinit: Adam learning rate of the scalars")
    init_eta: float = setting(0.1, "gradinit: look-ahead step length eta")
    init_gamma: float = setting(1.0, "gradinit: gradient-norm bound gamma")
    init_batch_size: int = setting(0, "gradinit: examples per half-batch (the release's --gradinit-bsize); 0 = the "
                                   "training batch size, as the release does by default")
    init_masked: bool = setting(False, "gradinit: restrict the gradient and the look-ahead step to the kept weights "
                                "(a variant; the release masks neither)")
    # 4. label smoothing
    label_smoothing: float = setting(0.0, "label smoothing a: target 1-a on the true class, a/(C-1) elsewhere; 0 = off")

    def __post_init__(self):
        # None reads naturally as "off" for the two string toggles.
        if self.init is None:
            object.__setattr__(self, "init", "none")
        if self.ghost_neurons is None:
            object.__setattr__(self, "ghost_neurons", "off")
        for f in fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                raise SparsekitError(f"recipe {f.name} must be one of: {', '.join(choices)} "
                                     f"(got {getattr(self, f.name)!r})")
        for name in ("ghost_skip", "init_masked"):
            if not isinstance(getattr(self, name), bool):
                raise SparsekitError(f"recipe {name} must be True or False, got {getattr(self, name)!r}")
        positive = {"ghost_neurons_beta": self.ghost_neurons_beta, "ghost_skip_alpha": self.ghost_skip_alpha,
                    "init_iterations": self.init_iterations, "init_lr": self.init_lr, "init_eta": self.init_eta,
                    "init_gamma": self.init_gamma}
        for name, value in positive.items():  # finite too: an infinite alpha or lr trains to NaN
            finite_number(f"recipe {name}", value, 0, low_open=True)
        whole_number("recipe init_iterations", self.init_iterations, 1)
        whole_number("recipe init_batch_size", self.init_batch_size, 0, accepted=">= 0 (0 = the training batch size)")
        if not _is_number(self.early_phase) or not 0 < self.early_phase <= 1:
            raise SparsekitError(f"recipe early_phase must be a fraction of the run in (0, 1], "
                                 f"got {self.early_phase!r}")
        if not _is_number(self.label_smoothing) or not 0 <= self.label_smoothing < 1:
            raise SparsekitError(f"recipe label_smoothing must be in [0, 1) (0 = off), got {self.label_smoothing!r}")

    # ---- presets -------------------------------------------------------------------
    @classmethod
    def default(cls) -> "Recipe":
        """Plain training: every trick off."""
        return cls()

    @classmethod
    def tost(cls) -> "Recipe":
        """The abstract's reading: all four tricks, ghosts in the early phase only."""
        return cls(ghost_neurons="pswish", ghost_skip=True, init="gradinit", label_smoothing=0.1)

    @classmethod
    def release(cls) -> "Recipe":
        """What the public release runs: all four tricks, ghosts kept all run."""
        return cls.tost().with_changes(ghost_neurons_mode="keep", ghost_skip_mode="keep")

    @classmethod
    def preset(cls, name: str) -> "Recipe":
        builders = {"default": cls.default, "tost": cls.tost, "tost-release": cls.release}
        if name not in builders:
            raise SparsekitError(f"unknown recipe {name!r}; choose one of: {', '.join(PRESETS)}")
        return builders[name]()

    def preset_name(self) -> str:
        """The preset this recipe equals, or "custom"."""
        return next((name for name in PRESETS if Recipe.preset(name) == self), "custom")

    def with_changes(self, **changes) -> "Recipe":
        """This recipe with some fields changed (validated)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise SparsekitError(f"unknown recipe setting {unknown[0]!r}; settings are: {', '.join(sorted(known))}")
        return replace(self, **changes)

    # ---- serialising ---------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "Recipe":
        """The recipe a `to_dict()` (e.g. a run record's "recipe") describes; missing fields
        take their defaults."""
        return cls().with_changes(**dict(values or {}))

    # ---- using ---------------------------------------------------------------------
    def callbacks(self) -> List[Callback]:
        """One callback per trick that is on: architecture first (so the init sees the
        network as it will train), then the init, then the loss."""
        hooks: List[Callback] = []
        if self.ghost_neurons != "off":
            hooks.append(GhostNeurons(self.ghost_neurons, self.ghost_neurons_beta, self.ghost_neurons_mode,
                                      self.early_phase))
        if self.ghost_skip:
            hooks.append(GhostSkip(self.ghost_skip_alpha, self.ghost_skip_mode, self.early_phase))
        if self.init == "gradinit":
            hooks.append(GradInit(self.init_iterations, self.init_lr, self.init_eta, self.init_gamma,
                                  self.init_masked, self.init_batch_size))
        elif self.init == "scaled":
            hooks.append(ScaledInit())
        if self.label_smoothing > 0:
            hooks.append(LabelSmoothing(self.label_smoothing))
        return hooks

    def describe(self) -> str:
        """One line naming the tricks that are on."""
        parts = []
        if self.ghost_neurons != "off":
            beta = f"(beta={self.ghost_neurons_beta:g})" if self.ghost_neurons == "pswish" else ""
            parts.append(f"ghost neurons {self.ghost_neurons}{beta} {self._mode(self.ghost_neurons_mode)}")
        if self.ghost_skip:
            parts.append(f"ghost skip alpha={self.ghost_skip_alpha:g} {self._mode(self.ghost_skip_mode)}")
        if self.init == "gradinit":
            masked = ", masked" if self.init_masked else ""
            parts.append(f"gradinit ({self.init_iterations} iterations{masked})")
        elif self.init == "scaled":
            parts.append("init scaled by 1/sqrt(density)")
        if self.label_smoothing > 0:
            parts.append(f"label smoothing {self.label_smoothing:g}")
        return "; ".join(parts) if parts else "default training (no recipe tricks)"

    def _mode(self, mode: str) -> str:
        return f"for the first {self.early_phase:.0%} of steps" if mode == "early" else "all run"


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def recipe_fields():
    """(name, type, default, help, choices) for every recipe setting, in declaration order."""
    for f in fields(Recipe):
        yield f.name, f.type, f.default, f.metadata["help"], f.metadata.get("choices")
