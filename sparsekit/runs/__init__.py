"""Runs: settings -> a built run (data, model, mask, recipe) -> training, and the mask sources
made of whole trainings (the lottery ticket, Ramanujan sampling), which register themselves in
the one mask-source registry (`sparsekit.sparsity.registry`)."""
from . import lottery, ramanujan  # noqa: F401  (each registers itself as a procedure)
from . import mask_sources  # noqa: F401
from .launch import prepare, train  # noqa: F401
