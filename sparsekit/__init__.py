"""sparsekit: train sparse neural networks better, with any mask.

    import sparsekit as sk
    run = sk.train(dataset="digits", model="resnet20", mask="snip", sparsity=0.95)
    print(run["best_val_test_acc"])
"""
from .core.version import VERSION as __version__  # noqa: F401

from .core.errors import SparsekitError  # noqa: E402,F401
from .core.mask import Mask  # noqa: E402,F401
from .core.callbacks import Callback  # noqa: E402,F401
from .training import RunRecord, TrainConfig, TrainState  # noqa: E402,F401
from .runs import train  # noqa: E402,F401
from .recipe import Recipe  # noqa: E402,F401
from .export import export, load_exported  # noqa: E402,F401
from . import analysis, data, masks, models  # noqa: E402,F401  (sk.masks.compute, sk.models.build, ...)
from .app.sweeps import sweep  # noqa: E402,F401  (sk.sweep(grid=..., fixed=..., out=...))
from .report import results  # noqa: E402,F401  (sk.results.load(dir) -> DataFrame)
