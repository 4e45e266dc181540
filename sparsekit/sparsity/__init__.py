"""Mask sources: `compute(method, model, sparsity, ...)`, `scores(...)`, `available()`, and the
run's `Sparsifier` from its settings (`sources.sparsifier_for`).

Each source is one file that registers itself in the one table (`registry.py`) as an entry of
its kind (`source_kinds.py`), which yields the run's `Sparsifier`; importing it here is all it
takes to add a score or dynamic method. A score method is a scoring function
(`registry.py` cuts any scores to a distribution or pattern); a dynamic one is a `Sparsifier`
(`sparsifier.py`) that changes the mask during training (`dynamic_*.py`, on the `schedules`).
Procedures made of trainings (lottery, ramanujan) register into the same table from
`sparsekit.runs`, where they live because they train.
"""
from .registry import METHODS, available, compute, describe, method_rows, scores  # noqa: F401
from . import random_uniform  # noqa: F401  (registers "random"; "erk" is it at ERK densities)
from . import erk, grasp, magnitude, snip, synflow  # noqa: F401  (each registers itself)
from . import dynamic_gmp, dynamic_rigl, dynamic_set  # noqa: F401  (masks that change during training)
from .sources import SCHEDULES, check_plan, dynamic_sparsifier, source_of, sparsifier_for  # noqa: F401
from .sparsifier import OneShot, Sparsifier  # noqa: F401
