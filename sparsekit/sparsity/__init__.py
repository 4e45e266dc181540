"""Mask methods: `compute(method, model, sparsity, ...)`, `scores(...)`, `available()`.

Each method is one file that registers itself; importing it here is all it takes to add one.
Methods made of whole trainings (lottery, ramanujan) live above training, in `sparsekit.runs`,
and register themselves when it is imported (as `import sparsekit` does).
"""
from .registry import METHODS, available, compute, describe, scores  # noqa: F401
from . import random_uniform  # noqa: F401  (registers "random")
from . import erk, grasp, magnitude, snip, synflow  # noqa: F401  (each registers itself)
