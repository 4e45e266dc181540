"""Runs: settings -> a built run (data, model, mask, recipe) -> training, and the procedures
made of whole trainings (the lottery ticket, Ramanujan sampling), which register themselves
as mask methods from up here."""
from . import lottery, ramanujan  # noqa: F401  (each registers itself as a mask method)
from .launch import prepare, train  # noqa: F401
