"""The table of dataset names; each dataset module registers its builder here.

A builder takes a `LoadOptions` and returns a `DataBundle`.
"""
from ..core.registry import Registry

datasets = Registry("dataset")
