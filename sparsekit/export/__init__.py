"""Export a trained sparse network for fast CPU inference: `export(model, mask)` and
`load_exported(path)`. The runtime (`runtime.py`, with the register-tiled layers of `tiled.py`
and `tiled_kernel.py`, the whole-network native plan of `native_plan.py` and `native_ops.py`, and
the numba loops of `compiled.py` beside it) imports only torch (and
llvmlite and numba where installed), so an exported file also runs without sparsekit:
`runtime.load_exported(path)`."""
from .exporter import export, load_exported  # noqa: F401
