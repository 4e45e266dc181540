"""GradInit as the ToST release runs it, checked against an independent computation of the
release's rule in parameter space (its `sum(p.grad * p) * init_norm / curr_norm`, with the
look-ahead made by swapping module attributes as the release does)."""
import copy
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import sparsekit as sk
from sparsekit import Mask, models
from sparsekit.core.prunable import prunable_parameters
from sparsekit.recipe import gradinit as gradinit_module
from sparsekit.recipe.gradinit import endless_batches, gradinit
from sparsekit.recipe.gradinit_rule import CONSTRAINT, LOOKAHEAD, RescaleAdam, scale_gradient
from sparsekit.recipe.search_cache import reuse_searches

torch.set_num_threads(1)


class Batches:
    """A fixed list of batches with the `set_epoch` of sparsekit's batch iterables."""

    def __init__(self, batches):
        self.batches = batches

    def set_epoch(self, epoch):
        pass

    def __iter__(self):
        return iter(self.batches)


def _toy(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 5 * 5, 3)).double()
    batches = [(torch.randn(6, 2, 5, 5, dtype=torch.float64), torch.randint(0, 3, (6,))) for _ in range(3)]
    return model, batches


def _release_scale_gradient(model, originals, scales, batches, eta, gamma):
    """The release's computation: parameters p = a * theta0 set in the model, gradients in
    parameter space, the look-ahead by replacing each parameter attribute by p - eta*g/|g|."""
    model = copy.deepcopy(model)
    names = list(originals)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for i, name in enumerate(names):
            params[name].copy_(scales[i] * originals[name])
    (x0, y0), (x1, y1), (x2, y2) = batches
    plist = [params[n] for n in names]
    loss = F.cross_entropy(model(torch.cat([x0, x1])), torch.cat([y0, y1]))
    grads = torch.autograd.grad(loss, plist, create_graph=True)
    norm = torch.sqrt(sum(g.square().sum() for g in grads))
    if norm.item() > gamma:
        branch = CONSTRAINT
        norm.backward()
    else:
        branch = LOOKAHEAD
        modules = dict(model.named_modules())
        swapped = []
        for name, g in zip(names, grads):
            module_name, attribute = name.rsplit(".", 1)
            module = modules[module_name]
            weight = module._parameters.pop(attribute)
            setattr(module, attribute, weight - (eta * g / norm).data)
            swapped.append((module, attribute, weight))
        objective = F.cross_entropy(model(torch.cat([x0, x2])), torch.cat([y0, y2])) / eta
        objective.backward()
    # A tensor of norm 0 (a zero-initialised bias) is skipped by the release: no scale gradient.
    grad = [float((p.grad * p.detach()).sum()) * float(originals[n].norm()) / float(p.detach().norm())
            if float(p.detach().norm()) > 0 else 0.0 for n, p in zip(names, plist)]
    return branch, torch.tensor(grad, dtype=torch.float64)


@pytest.mark.parametrize("gamma", [1e-9, 1e9], ids=["norm branch", "look-ahead branch"])
def test_scale_gradient_matches_the_release_rule(gamma):
    model, batches = _toy()
    model.train()
    originals = {n: p.detach().clone() for n, p in model.named_parameters()}
    torch.manual_seed(1)
    scales = (0.5 + torch.rand(len(originals), dtype=torch.float64))
    result = scale_gradient(model, originals, scales, tuple(batches[:2]), lambda: batches[2], 0.1, gamma)
    branch, expected = _release_scale_gradient(model, originals, scales, batches, 0.1, gamma)
    assert result.branch == branch
    assert torch.allclose(result.scale_grad, expected, atol=1e-6, rtol=0)


def test_look_ahead_is_first_order():
    """Differentiating through the step would add a second-order term; the release's rule
    (and ours) gives the gradient of L(theta - eta*g_fixed)/eta only."""
    model, batches = _toy(3)
    model.train()
    originals = {n: p.detach().clone() for n, p in model.named_parameters()}
    scales = torch.ones(len(originals), dtype=torch.float64)
    first_order = scale_gradient(model, originals, scales, tuple(batches[:2]), lambda: batches[2], 0.1, 1e9)
    from torch.func import functional_call

    a = scales.clone().requires_grad_(True)
    scaled = {n: a[i] * originals[n] for i, n in enumerate(originals)}
    (x0, y0), (x1, y1), (x2, y2) = batches
    loss = F.cross_entropy(functional_call(model, scaled, (torch.cat([x0, x1]),)), torch.cat([y0, y1]))
    g = torch.autograd.grad(loss, list(scaled.values()), create_graph=True)
    norm = torch.sqrt(sum(v.square().sum() for v in g))
    ahead = {n: scaled[n] - 0.1 * v / norm for n, v in zip(scaled, g)}
    second = F.cross_entropy(functional_call(model, ahead, (torch.cat([x0, x2]),)), torch.cat([y0, y2])) / 0.1
    (second_order,) = torch.autograd.grad(second, a)
    assert not torch.allclose(first_order.scale_grad, second_order, atol=1e-6)


def test_rescale_adam_keeps_one_first_moment_per_branch():
    floors = torch.tensor([0.01, 0.0], dtype=torch.float64)
    adam = RescaleAdam(floors, lr=0.1, clip=1.0)
    active = torch.tensor([True, True])
    scales = torch.ones(2, dtype=torch.float64)
    g1, g2 = torch.tensor([0.5, 3.0], dtype=torch.float64), torch.tensor([-0.2, 0.4], dtype=torch.float64)
    scales = adam.step(scales, g1, CONSTRAINT, active)
    scales = adam.step(scales, g2, LOOKAHEAD, active)
    # by hand: g1 clipped to [0.5, 1.0]; after step 2 the look-ahead moment holds g2 alone
    clipped = torch.tensor([0.5, 1.0], dtype=torch.float64)
    v1 = 0.001 * clipped ** 2
    s1 = 1 - 0.1 * (0.1 * clipped / 0.1) / ((v1 / 0.001).sqrt() + 1e-8)
    v2 = 0.999 * v1 + 0.001 * g2 ** 2
    s2 = s1 - 0.1 * (0.1 * g2 / 0.1) / ((v2 / (1 - 0.999 ** 2)).sqrt() + 1e-8)
    assert torch.allclose(scales, torch.maximum(s2, floors), atol=1e-12)
    # floors hold, and an inactive entry never moves
    pushed = adam.step(torch.tensor([0.011, 0.5], dtype=torch.float64), torch.tensor([1.0, 1.0], dtype=torch.float64),
                       CONSTRAINT, torch.tensor([True, False]))
    assert pushed[0] == pytest.approx(0.01) and pushed[1] == 0.5


@pytest.mark.parametrize("variant", ["masked-network-dense-gradient", "masked"])
def test_pruned_weights_stay_zero_and_bn_statistics_are_restored(variant):
    torch.manual_seed(0)
    model = models.build("resnet20", 10, in_channels=1, width=0.25, input_size=8)
    mask = Mask({n: torch.rand(p.shape) < 0.2 for n, p in prunable_parameters(model).items()})
    mask.apply(model)
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    batches = [(torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))) for _ in range(3)]
    log = gradinit(model, mask, Batches(batches), torch.device("cpu"), iterations=12, lr=0.05, variant=variant)
    params = dict(model.named_parameters())
    assert all(torch.all(params[n][~keep] == 0) for n, keep in mask.items())
    scales = log["scales"]
    assert scales.keys() == params.keys() and any(abs(s - 1) > 0.1 for s in scales.values())
    assert all(s >= 0.01 - 1e-7 for n, s in scales.items() if not n.endswith("bias"))
    assert all(torch.equal(b, buffers[n]) for n, b in model.named_buffers())
    assert log["variant"] == variant and sum(log["steps_by_objective"].values()) == 12
    assert log["reused"] is False and set(log["gradient_share"]) == {"first", "last"}


def test_masking_the_gradient_changes_its_norm():
    torch.manual_seed(0)
    model = models.build("resnet20", 10, in_channels=1, width=0.25, input_size=8)
    mask = Mask({n: torch.rand(p.shape) < 0.1 for n, p in prunable_parameters(model).items()})
    mask.apply(model)
    model.train()
    originals = {n: p.detach().clone() for n, p in model.named_parameters()}
    batches = [(torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))) for _ in range(3)]
    scales = torch.ones(len(originals))
    keep = {n: k.float() for n, k in mask.items()}
    full = scale_gradient(model, originals, scales, tuple(batches[:2]), lambda: batches[2], 0.1, 1e9)
    masked = scale_gradient(model, originals, scales, tuple(batches[:2]), lambda: batches[2], 0.1, 1e9, keep)
    assert masked.grad_norm < full.grad_norm


def test_an_identical_search_is_read_back_only_where_the_caller_asks(monkeypatch):
    torch.manual_seed(0)
    model = models.build("resnet20", 10, in_channels=1, width=0.25, input_size=8)
    mask = Mask({n: torch.rand(p.shape) < 0.3 for n, p in prunable_parameters(model).items()})
    mask.apply(model)
    twin, stranger = copy.deepcopy(model), copy.deepcopy(model)
    batches = Batches([(torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))) for _ in range(3)])
    searches = []
    real_search = gradinit_module._search
    monkeypatch.setattr(gradinit_module, "_search", lambda *a, **k: searches.append(1) or real_search(*a, **k))
    with reuse_searches():
        first = gradinit(model, mask, batches, torch.device("cpu"), iterations=3)
        second = gradinit(twin, mask, batches, torch.device("cpu"), iterations=3)
        gradinit(copy.deepcopy(twin), mask, batches, torch.device("cpu"), iterations=4)  # other settings
    assert len(searches) == 2 and (first["reused"], second["reused"]) == (False, True)
    assert {**second, "reused": False} == first
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), twin.state_dict().values()))
    gradinit(stranger, mask, batches, torch.device("cpu"), iterations=3)  # outside the block: a plain run searches
    assert len(searches) == 3


def test_gradient_share_splits_the_driven_norm_by_the_mask():
    """The record's share of the gradient on kept weights, against the same split computed here."""
    model, batches = _toy(3)
    mask = Mask({"0.weight": torch.rand(4, 2, 3, 3) < 0.25, "4.weight": torch.rand(3, 100) < 0.5})
    mask.apply(model)
    model.train()
    originals = {n: p.detach().clone() for n, p in model.named_parameters()}
    scales = torch.ones(len(originals), dtype=torch.float64)
    result = scale_gradient(model, originals, scales, tuple(batches[:2]), lambda: batches[2], 0.1, 1e9,
                            diagnose=mask)
    (x0, y0), (x1, y1), _ = batches
    loss = F.cross_entropy(model(torch.cat([x0, x1])), torch.cat([y0, y1]))
    params = dict(model.named_parameters())
    grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()))))
    kept = sum(float((grads[n][mask[n]] ** 2).sum()) for n in mask)
    pruned = sum(float((grads[n][~mask[n]] ** 2).sum()) for n in mask)
    other = sum(float((g ** 2).sum()) for n, g in grads.items() if n not in mask)
    total = kept + pruned + other
    assert result.parts["kept_norm"] == pytest.approx(math.sqrt(kept), rel=1e-9)
    assert result.parts["pruned_norm"] == pytest.approx(math.sqrt(pruned), rel=1e-9)
    assert result.parts["other_norm"] == pytest.approx(math.sqrt(other), rel=1e-9)
    assert result.parts["norm"] == pytest.approx(result.grad_norm, rel=1e-9)
    assert result.parts["kept_share"] == pytest.approx(kept / total, rel=1e-9)
    masked = scale_gradient(model, originals, scales, tuple(batches[:2]), lambda: batches[2], 0.1, 1e9,
                            {n: k.double() for n, k in mask.items()}, diagnose=mask)
    assert masked.parts["pruned_norm"] == 0 and masked.parts["kept_norm"] == pytest.approx(math.sqrt(kept))


def test_dense_then_mask_searches_the_dense_network_before_the_mask():
    run = sk.train(dataset="digits", model="resnet20", width=0.25, epochs=1, max_batches=1, progress=False,
                   mask="random", sparsity=0.9, recipe=sk.Recipe(init="gradinit", init_iterations=2))
    log = run["init"]
    assert log["variant"] == "dense-then-mask"
    # On the dense network the weights about to be pruned carry most of the gradient, and get scaled.
    assert log["gradient_share"]["first"]["pruned_norm"] > log["gradient_share"]["first"]["kept_norm"]
    assert all(torch.all(run.model.state_dict()[n][~keep] == 0) for n, keep in run.mask.items())


def test_the_init_runs_before_the_ghosts_unless_asked_otherwise():
    first = sk.Recipe.tost()
    later = first.with_changes(init_variant="masked", init_order="after-ghosts")
    assert [type(c).__name__ for c in first.callbacks()] == ["GradInit", "GhostNeurons", "GhostSkip",
                                                             "LabelSmoothing"]
    assert [type(c).__name__ for c in later.callbacks()] == ["GhostNeurons", "GhostSkip", "GradInit",
                                                             "LabelSmoothing"]
    with pytest.raises(sk.SparsekitError, match="after-ghosts"):
        first.with_changes(init_order="after-ghosts")


def test_a_recipe_written_before_variants_reads_as_what_it_ran():
    old = {**sk.Recipe.release().to_dict(), "init_masked": False}
    del old["init_variant"], old["init_order"]
    recipe = sk.Recipe.from_dict(old)
    assert (recipe.init_variant, recipe.init_order) == ("masked-network-dense-gradient", "after-ghosts")
    assert sk.Recipe.from_dict({**old, "init_masked": True}).init_variant == "masked"
    plain = {k: v for k, v in sk.Recipe().to_dict().items() if k not in ("init_variant", "init_order")}
    assert sk.Recipe.from_dict({**plain, "init_masked": False}) == sk.Recipe()


def test_half_batches_are_recut_to_the_asked_size():
    batches = Batches([(torch.arange(5.0).view(5, 1), torch.arange(5)) for _ in range(2)])
    stream = endless_batches(batches, batch_size=3)
    sizes = [len(next(stream)[1]) for _ in range(4)]
    assert sizes == [3, 3, 3, 3]
    first = next(endless_batches(batches, batch_size=0))
    assert len(first[1]) == 5 and not math.isnan(float(first[0].sum()))


def test_a_trick_that_cannot_serve_the_network_refuses_before_gradinit_searches(monkeypatch):
    monkeypatch.setattr(gradinit_module, "_search", lambda *a, **k: pytest.fail("GradInit searched first"))
    smooth = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.SiLU(), nn.AdaptiveAvgPool2d(1),
                           nn.Flatten(), nn.Linear(4, 10))
    with pytest.raises(sk.SparsekitError, match="already smooth"):
        sk.train(model=smooth, dataset="digits", mask="random", epochs=1, max_batches=1, progress=False,
                 recipe="tost")
