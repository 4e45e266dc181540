"""The name -> model-class table; each architecture file registers itself here on import."""
from ..core.registry import Registry

MODELS = Registry("model")
