"""Reusing a GradInit search within one process, only where the caller asks for it.

A study trains the same masked network from the same initialisation under several recipes,
and GradInit is deterministic, so the second identical search of a cell can be read back
instead of recomputed. That is the caller's decision (a study, a notebook's grid), never the
trick's: plain runs always search, and a run whose search was read back says so in its record
(`init.reused`).

    with reuse_searches():
        for recipe in recipes:
            sk.train(..., recipe=recipe)
"""
import copy
from collections import OrderedDict
from contextlib import contextmanager
from typing import Dict, Iterator, Optional

_active: Optional["OrderedDict[str, Dict[str, object]]"] = None
_size = 0


@contextmanager
def reuse_searches(size: int = 4) -> Iterator[None]:
    """Inside the block, identical searches (same network, weights, mask, data and settings)
    run once; the `size` most recent results are kept."""
    global _active, _size
    previous = (_active, _size)
    _active, _size = OrderedDict(), size
    try:
        yield
    finally:
        _active, _size = previous


def lookup(key: str) -> Optional[Dict[str, object]]:
    """A copy of the search stored under `key`, or None (also when reuse is off)."""
    if _active is None or key not in _active:
        return None
    return copy.deepcopy(_active[key])


def store(key: str, log: Dict[str, object]) -> None:
    if _active is None:
        return
    _active[key] = copy.deepcopy(log)
    while len(_active) > _size:
        _active.popitem(last=False)


def active() -> bool:
    return _active is not None
