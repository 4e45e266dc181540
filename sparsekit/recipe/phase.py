"""The early phase shared by the ghost tricks: where it ends and how far along it is.

The abstract introduces ghost neurons and ghost skip connections "at the early stage of
training"; the early phase is given as a fraction of the run's optimizer steps, so the same
recipe means the same thing for a 2-epoch smoke test and a 182-epoch CIFAR run. Everything
here is a pure function of the step, which is what makes a resumed run rebuild exactly the
state the uninterrupted one had.
"""


def early_phase_steps(fraction: float, total_steps: int) -> int:
    """Optimizer steps in the early phase (at least one, at most the whole run)."""
    return min(max(1, total_steps), max(1, round(fraction * total_steps)))


def ghost_strength(step: int, fraction: float, total_steps: int) -> float:
    """How much of a ghost is left before optimizer step `step` (0-based): 1 at the start,
    falling linearly to 0 when the early phase ends (0 means: remove the ghost)."""
    return max(0.0, 1.0 - step / early_phase_steps(fraction, total_steps))
