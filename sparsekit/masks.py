"""`sparsekit.masks`: the public face of the mask methods (`compute`, `scores`, `available`,
`describe`) and the `Sparsifier` interface a run trains with (`OneShot`; `dynamic_sparsifier`
for gmp, set, rigl). The procedures made of trainings are `sparsekit.runs.lottery.find_ticket`
and `sparsekit.runs.ramanujan.sample_mask`; a run reaches them by name (`mask="lottery"`)."""
from .sparsity import METHODS, available, compute, describe, scores  # noqa: F401
from .sparsity.registry import methods_with_scores  # noqa: F401
from .sparsity import OneShot, Sparsifier, dynamic_sparsifier  # noqa: F401
from .sparsity import registry  # noqa: F401
