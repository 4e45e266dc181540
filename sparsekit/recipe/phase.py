"""The early phase shared by the ghost tricks: where it ends and how far along it is.

The abstract introduces ghost neurons and ghost skip connections "at the early stage of
training"; the early phase is given as a fraction of the run's optimizer steps, so the same
recipe means the same thing for a 2-epoch smoke test and a 182-epoch CIFAR run. Everything
here is a pure function of the step, which is what makes a resumed run rebuild exactly the
state the uninterrupted one had.
"""
from dataclasses import dataclass

from ..core.callbacks import Callback
from ..core.checks import finite_number
from ..core.fields import setting

GHOST_MODES = ("early", "keep")


@dataclass(frozen=True)
class EarlyPhaseSettings:
    """Shared by the ghost tricks (a setting of the recipe, not a trick of its own)."""
    early_phase: float = setting(0.25, "length of the ghosts' early phase, as a fraction of the run's steps, in (0, 1]")


def check_early_phase(recipe) -> None:
    value = recipe.early_phase
    finite_number("recipe early_phase", value, 0, 1, low_open=True)  # a fraction of the run's steps


def mode_phrase(mode: str, early_phase: float) -> str:
    return f"for the first {early_phase:.0%} of steps" if mode == "early" else "all run"


def early_phase_steps(fraction: float, total_steps: int) -> int:
    """Optimizer steps in the early phase (at least one, at most the whole run)."""
    return min(max(1, total_steps), max(1, round(fraction * total_steps)))


def ghost_strength(step: int, fraction: float, total_steps: int) -> float:
    """How much of a ghost is left before optimizer step `step` (0-based): 1 at the start,
    falling linearly to 0 when the early phase ends (0 means: remove the ghost)."""
    return max(0.0, 1.0 - step / early_phase_steps(fraction, total_steps))


class EarlyPhaseTrick(Callback):
    """A trick that fades out over the early phase: after every step (and on resume) it is
    told its remaining strength, and once that reaches 0 it is asked to leave the network.
    Subclasses define `active()`, `set_strength(s)` and `remove(state)`."""

    def __init__(self, mode: str, early_phase: float):
        self.mode, self.early_phase = mode, early_phase

    def on_resume(self, state) -> None:
        self._follow_schedule(state)

    def on_step(self, state) -> None:
        self._follow_schedule(state)

    def _follow_schedule(self, state) -> None:
        if self.mode == "keep" or not self.active():
            return
        strength = ghost_strength(state.step, self.early_phase, state.total_steps)
        if strength > 0.0:
            self.set_strength(strength)
        else:
            self.remove(state)
