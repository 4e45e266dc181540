"""Mask methods: `compute(method, model, sparsity, ...)`, `scores(...)`, `available()`.

Each method is one file that registers itself; importing it here is all it takes to add one.
A static method is a scoring function (`registry.py` cuts any scores to a distribution or
pattern); a dynamic one is a `Sparsifier` (`sparsifier.py`) that changes the mask during
training (`dynamic_*.py`, on the `schedules`), chosen by `plan.dynamic_sparsifier`.
Procedures made of whole trainings (lottery, ramanujan) are not methods here: they live above
training, in `sparsekit.runs`, which calls them as mask sources.
"""
from .registry import METHODS, available, compute, describe, scores  # noqa: F401
from . import random_uniform  # noqa: F401  (registers "random"; "erk" is it at ERK densities)
from . import erk, grasp, magnitude, snip, synflow  # noqa: F401  (each registers itself)
from . import dynamic_gmp, dynamic_rigl, dynamic_set  # noqa: F401  (masks that change during training)
from .plan import SCHEDULES, check_plan, dynamic_sparsifier  # noqa: F401
from .sparsifier import OneShot, Sparsifier  # noqa: F401
