"""Static masks train exactly as they did before the Sparsifier redesign.

The values below were recorded from main just before it (commit e445478), with
`width=0.25, epochs=1, max_batches=3, seed=3` on digits: a digest of the mask's kept
positions, the kept count, the sum of |weights| after training and the final test accuracy;
"release" is the release's recipe with 5 GradInit iterations (`RELEASE`), to keep the test quick.
Recorded with one torch thread, which the test sets too: the thread count changes the order of
each sum, so the weights of a run depend on it (see README, "Determinism").
The same seeds must give the same results (CPU runs repeat exactly on one torch version).
"""
import hashlib

import pytest
import torch

import sparsekit as sk

RELEASE = sk.Recipe.release().with_changes(init_iterations=5)

RECORDED = [
    (dict(mask="random", sparsity=0.9), None, "82cfbe74b38ce6aa", 1690, 556.691378, 0.10027855153203342),
    (dict(mask="snip", sparsity=0.95), None, "67d2cc5e44b9e7cc", 845, 591.657981, 0.10027855153203342),
    (dict(mask="erk", sparsity=0.9), "release", "112fce8c1a27e438", 1690, 1745.665006, 0.13370473537604458),
    (dict(mask="magnitude", sparsity=0.8, scope="layerwise"), None, "c811155a20dafc86", 3381, 1205.967623,
     0.08913649025069638),
    (dict(mask="synflow", sparsity=0.9, mask_options="rounds=5"), None, "9d1f8a43a81f6af7", 1690, 838.165037,
     0.13370473537604458),
    (dict(mask="grasp", sparsity=0.9), "release", "2c23b8441f265702", 1690, 2343.974414, 0.10027855153203342),
]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def mask_digest(mask) -> str:
    digest = hashlib.sha256()
    for name in sorted(mask):
        digest.update(name.encode())
        digest.update(mask[name].flatten().to(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def weight_sum(model) -> float:
    return float(sum(p.double().abs().sum() for p in model.state_dict().values() if p.is_floating_point()))


@pytest.mark.parametrize("settings, recipe, digest, kept, weights, test_acc", RECORDED,
                         ids=[f"{s['mask']}-{r or 'default'}" for s, r, *_ in RECORDED])
def test_static_mask_runs_repeat_the_values_recorded_before_the_redesign(settings, recipe, digest, kept, weights,
                                                                         test_acc):
    run = sk.train(dataset="digits", model="resnet20", width=0.25, epochs=1, max_batches=3, progress=False, seed=3,
                   recipe=RELEASE if recipe == "release" else recipe, **settings)
    assert mask_digest(run.mask) == digest
    assert run.mask.num_kept() == kept
    assert weight_sum(run.model) == pytest.approx(weights, rel=1e-6)
    assert run["epochs"][-1]["test_acc"] == pytest.approx(test_acc, abs=1e-9)
