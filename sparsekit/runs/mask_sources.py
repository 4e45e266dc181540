"""The one mask-source registry (`sparsekit.sparsity.registry`) seen from a whole `TrainConfig`,
for callers that hold one (the command line, sweeps, the notebooks' checks).

Every source, the procedures made of trainings included, is an entry of that registry: the
lottery ticket (`lottery.py`) and Ramanujan sampling (`ramanujan.py`) register themselves there
from this folder (imported by `runs/__init__.py`), because they train.
"""
from typing import Dict, List

from ..sparsity import registry, source_kinds, sources
from ..training.config import TrainConfig

# Folders under a run's out where a procedure keeps its progress (see `RunDirectory`).
PROGRESS_FOLDERS = registry.progress_folders()


def available() -> List[str]:
    """Every name a run's `mask` setting accepts."""
    return registry.available()


def describe() -> Dict[str, str]:
    """Every name a run's `mask` setting accepts -> one line on what it does."""
    return registry.describe()


def method_rows() -> List[Dict[str, object]]:
    return registry.method_rows()


def check(config: TrainConfig, mask_given: bool) -> None:
    """`sources.check` on the config's masking section."""
    sources.check(config.masking, given=mask_given)


def changes_in_training(config: TrainConfig) -> bool:
    return sources.changes_in_training(config.masking)


def scoring_batches(config: TrainConfig, data) -> list:
    """The batches a run's data-driven mask methods score on (`source_kinds.scoring_batches`)."""
    return source_kinds.scoring_batches(config.masking, data)
