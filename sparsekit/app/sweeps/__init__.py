"""Sweeps: a grid of training settings, every point one resumable run, on this machine's
cores or on Ray (see `engine.sweep`); `read_spec` reads one from a TOML file."""
from .engine import SweepResult, sweep
from .progress import GridInterrupted
from .spec import Point, expand
from .spec_file import read_spec

__all__ = ["GridInterrupted", "Point", "SweepResult", "expand", "read_spec", "sweep"]
