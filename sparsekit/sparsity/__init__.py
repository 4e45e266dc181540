"""Mask methods: `compute(method, model, sparsity, ...)`, `scores(...)`, `available()`.

Each method is one file that registers itself; importing it here is all it takes to add one.
A run asks for a `Sparsifier` (`sparsifier.py`): a one-shot mask, or one that changes during
training (`dynamic_*.py`, on the `schedules`), chosen by `plan.dynamic_sparsifier`.
Methods made of whole trainings (lottery, ramanujan) live above training, in `sparsekit.runs`,
and register themselves when it is imported (as `import sparsekit` does).
"""
from .registry import METHODS, available, compute, describe, scores  # noqa: F401
from . import random_uniform  # noqa: F401  (registers "random")
from . import erk, grasp, magnitude, snip, synflow  # noqa: F401  (each registers itself)
from . import dynamic_gmp, dynamic_rigl, dynamic_set  # noqa: F401  (masks that change during training)
from .plan import SCHEDULES, check_plan, dynamic_sparsifier  # noqa: F401
from .sparsifier import OneShot, Sparsifier  # noqa: F401
