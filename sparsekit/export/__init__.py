"""Export a trained sparse network for fast CPU inference: `export(model, mask)` and
`load_exported(path)`. The runtime (`runtime.py`) imports only torch, so an exported file
also runs without sparsekit: `runtime.load_exported(path)`."""
from .exporter import export, load_exported  # noqa: F401
