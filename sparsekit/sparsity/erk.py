"""ERK (Erdos-Renyi-Kernel, Evci et al. 2020) as a mask method: random scores cut to ERK layer
densities (the densities themselves: `erk_densities.py`, also the `erk` distribution).

`compute("erk", ...)` is `compute("random", ..., distribution="erk")`: the same scores from the
same seed, so the same mask.
"""
from . import random_uniform  # noqa: F401  (registers "random", which "erk" names)
from .erk_densities import erk_counts, erk_densities  # noqa: F401  (their long-standing home)
from .registry import register_alias

register_alias("erk", of="random", distribution="erk",
               summary="nothing: random positions at Erdos-Renyi-Kernel layer densities (small layers denser)")
