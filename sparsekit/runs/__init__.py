"""Runs: settings -> a built run (data, model, mask, recipe) -> training, and where a run's
mask comes from (`mask_sources`), the procedures made of whole trainings included (the lottery
ticket, Ramanujan sampling)."""
from . import mask_sources  # noqa: F401
from .launch import prepare, train  # noqa: F401
