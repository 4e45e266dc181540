"""Export a trained sparse network for fast CPU inference: `export(model, mask)` and
`load_exported(path)`. The runtime (`runtime.py`) imports only torch, so an exported file
runs without sparsekit's training code."""
from .exporter import export  # noqa: F401
from .runtime import load_exported  # noqa: F401
