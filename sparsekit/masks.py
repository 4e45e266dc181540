"""`sparsekit.masks`: the public face of the mask methods (`compute`, `scores`, `available`,
`describe`), with every method registered, those made of whole trainings included, and the
`Sparsifier` interface a run trains with (`OneShot`; `dynamic_sparsifier` for gmp, set, rigl)."""
from .sparsity import METHODS, available, compute, describe, scores  # noqa: F401
from .sparsity import OneShot, Sparsifier, dynamic_sparsifier  # noqa: F401
from .sparsity import registry  # noqa: F401
from . import runs  # noqa: F401  (registers lottery and ramanujan)
