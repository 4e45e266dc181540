"""`sparsekit.masks`: the public face of the one mask-source registry (`compute`, `scores`,
`available`, `describe`, `method_rows`) and the `Sparsifier` interface a run trains with
(`OneShot`; `dynamic_sparsifier` for gmp, set, rigl; `sparsifier_for` from a run's masking
settings). `available()` names every source a run accepts: score methods, dynamic methods and
the procedures made of trainings (lottery, ramanujan), which register from `sparsekit.runs`."""
from .sparsity import METHODS, available, compute, describe, method_rows, scores  # noqa: F401
from .sparsity.registry import methods_with_scores  # noqa: F401
from .sparsity import OneShot, Sparsifier, dynamic_sparsifier, sparsifier_for  # noqa: F401
from .sparsity import registry  # noqa: F401
