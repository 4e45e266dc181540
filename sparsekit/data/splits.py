"""Fixed ways of holding out a validation set from an official training set.

The split seed is a constant, not the training seed: runs with different seeds must be
validated and tested on the same examples, or their numbers are not comparable.
"""
from typing import Tuple

import numpy as np

from ..core.errors import SparsekitError

SPLIT_SEED = 0

Indices = Tuple[np.ndarray, np.ndarray]  # (kept for training, held out for validation)


def random_holdout(num_examples: int, holdout: int, split_seed: int = SPLIT_SEED) -> Indices:
    """Hold out `holdout` examples chosen at random; both index arrays come back sorted."""
    if not 0 < holdout < num_examples:
        raise SparsekitError(f"cannot hold out {holdout} of {num_examples} examples "
                             "for validation; the training set is too small")
    permutation = np.random.default_rng(split_seed).permutation(num_examples)
    return np.sort(permutation[holdout:]), np.sort(permutation[:holdout])


def per_class_holdout(labels: np.ndarray, per_class: int,
                      split_seed: int = SPLIT_SEED) -> Indices:
    """Hold out `per_class` examples of every class; both index arrays come back sorted."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(split_seed)
    held = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) <= per_class:
            raise SparsekitError(f"class {label} has only {len(members)} training examples; "
                                 f"need more than {per_class} to hold out {per_class} "
                                 "for validation")
        held.append(rng.choice(members, per_class, replace=False))
    held = np.sort(np.concatenate(held))
    kept = np.setdiff1d(np.arange(len(labels)), held)
    return kept, held


def balanced_subset(indices: np.ndarray, labels: np.ndarray, count: int,
                    split_seed: int = SPLIT_SEED) -> np.ndarray:
    """`count` of `indices`, as equal a share of every class as the counts allow, chosen at
    random with a fixed seed (so every training seed sees the same subset); sorted."""
    indices, labels = np.asarray(indices), np.asarray(labels)
    classes = np.unique(labels)
    if count < len(classes) or count > len(indices):
        raise SparsekitError(f"train_examples must be between {len(classes)} (one per class) and "
                             f"{len(indices)} (all training examples), got {count}")
    rng = np.random.default_rng(split_seed)
    shuffled = [rng.permutation(indices[labels == label]) for label in classes]
    # Round-robin over the classes, so each class gives count // C (and the first count % C one more).
    chosen, depth = [], 0
    while len(chosen) < count:
        for members in shuffled:
            if depth < len(members) and len(chosen) < count:
                chosen.append(members[depth])
        depth += 1
    return np.sort(np.asarray(chosen))
