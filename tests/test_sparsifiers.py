"""Sparsifiers: the one-shot wrapper, the schedules, and one update of GMP, SET and RigL, each
checked against an independent computation written here (plain sorting on Python lists)."""
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import sparsekit as sk
from sparsekit import masks
from sparsekit.analysis import mask_change, plot_mask_history
from sparsekit.sparsity import OneShot, Sparsifier, dynamic_sparsifier
from sparsekit.sparsity import schedules
from sparsekit.sparsity.prune_regrow import derived_seed
from sparsekit.training.masking import MaskEnforcer


def tiny_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 10), nn.ReLU(), nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 3))


def with_gradients(model, seed=1):
    torch.manual_seed(seed)
    model(torch.randn(5, 12)).square().sum().backward()
    return model


def fake_state(model, mask, step, total_steps):
    return SimpleNamespace(model=model, mask=mask, step=step, total_steps=total_steps)


def sparsifier(method, model, sparsity=0.7, **options):
    return dynamic_sparsifier(method, model, sparsity, prune_classifier=True, seed=4, options=options)


# ---- the interface -------------------------------------------------------------------------
def test_one_shot_computes_once_and_never_updates():
    model = tiny_net()
    calls = []
    one_shot = OneShot(lambda m, d: calls.append(1) or masks.compute("magnitude", m, 0.5), "magnitude")
    mask = one_shot.initial_mask(model, None)
    assert mask.same_as(masks.compute("magnitude", model, 0.5)) and calls == [1]
    assert one_shot.update(fake_state(model, mask, 10, 100)) is None
    assert one_shot.state_dict() == {} and one_shot.describe()["schedule"] == "one-shot"
    assert isinstance(one_shot, Sparsifier)


def test_static_methods_have_no_dynamic_sparsifier():
    for method in ("random", "magnitude", "snip", "erk"):
        assert dynamic_sparsifier(method, tiny_net(), 0.5) is None


def test_dynamic_methods_are_listed_and_compute_their_starting_mask():
    assert {"gmp", "set", "rigl"} <= set(masks.available())
    model = tiny_net()
    total = sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight") and p.dim() == 2) - 24
    for method in ("set", "rigl"):
        mask = masks.compute(method, model, 0.7)
        assert mask.num_kept() == int(0.3 * mask.num_total() + 0.5) and mask.num_total() == total
        assert mask.same_as(masks.compute(method, model, 0.7))  # seeded
    assert masks.compute("gmp", model, 0.7).density() == 1.0  # GMP starts dense
    start = masks.compute("gmp", model, 0.7, initial_sparsity=0.2)
    assert start.num_kept() == int(0.8 * start.num_total() + 0.5)


def test_bad_dynamic_options_fail_with_one_line():
    model = tiny_net()
    for method, options, message in [
            ("rigl", {"drop_fraction": 1.5}, "drop_fraction must be in"),
            ("set", {"update_every": 0}, "update_every must be"),
            ("gmp", {"initial_sparsity": 0.9}, "above the target"),
            ("gmp", {"start_at": 0.8, "end_at": 0.5}, "after end_at"),
            ("rigl", {"distribution": "banana"}, "unknown distribution"),
            ("rigl", {"rounds": 3}, "has no option 'rounds'")]:
        with pytest.raises(sk.SparsekitError, match=message):
            sparsifier(method, model, **options)
    with pytest.raises(sk.SparsekitError, match="own schedule"):
        dynamic_sparsifier("rigl", model, 0.5, schedule="gmp")
    with pytest.raises(sk.SparsekitError, match="score method that needs no data"):
        dynamic_sparsifier("snip", model, 0.5, schedule="gmp")
    with pytest.raises(TypeError):  # the retired scope is no keyword of the API (settings holding it map it)
        dynamic_sparsifier("set", model, 0.5, scope="layerwise")


# ---- schedules -----------------------------------------------------------------------------
def test_gmp_schedule_is_the_cubic_of_zhu_and_gupta():
    s_i, s_f, t0, t_end = 0.1, 0.9, 20, 80
    for t in range(0, 100):
        if t < t0:
            expected = s_i
        elif t >= t_end:
            expected = s_f
        else:
            expected = s_f + (s_i - s_f) * (1 - (t - t0) / (t_end - t0)) ** 3
        assert schedules.gmp_sparsity(t, s_i, s_f, t0, t_end) == pytest.approx(expected, abs=1e-15)
    assert schedules.gmp_sparsity(t0, s_i, s_f, t0, t_end) == pytest.approx(s_i, abs=1e-15)
    updates = [t for t in range(100) if schedules.is_gmp_update(t, 0, 75, 7)]
    assert updates == list(range(0, 75, 7)) + [75]


def test_rigl_fraction_is_the_cosine_decay():
    for t in range(0, 120, 7):
        expected = 0.3 * (1 + math.cos(math.pi * t / 100)) / 2 if t < 100 else 0.0
        assert schedules.cosine_fraction(t, 0.3, 100) == pytest.approx(expected, abs=1e-15)
    assert schedules.cosine_fraction(0, 0.3, 100) == 0.3


def test_update_interval_rule_for_short_runs():
    assert schedules.update_interval(100, 75_000) == 100  # a long run: the paper's interval
    assert schedules.update_interval(100, 150) == 15  # a course run: ten updates in the window
    assert schedules.update_interval(100, 3) == 1
    assert schedules.step_at(0.75, 200) == 150 and schedules.step_at(1.0, 200) == 199


# ---- one update of each method, against an independent computation -------------------------
def flat(tensor):
    return tensor.detach().reshape(-1).tolist()


def expected_swap(keep, magnitude, growth, count):
    """Drop the `count` kept weights of smallest magnitude (ties: the later one first), then
    grow the `count` best growth scores outside the survivors (ties: the earlier one first)."""
    keep, magnitude, growth = flat(keep), flat(magnitude), flat(growth)
    kept = [i for i, k in enumerate(keep) if k]
    dropped = set(sorted(kept, key=lambda i: (magnitude[i], -i))[:count])
    survivors = set(kept) - dropped
    outside = [i for i in range(len(keep)) if i not in survivors]
    grown = set(sorted(outside, key=lambda i: (-growth[i], i))[:count])
    return [i in survivors or i in grown for i in range(len(keep))]


def test_rigl_update_matches_a_hand_computation():
    model = with_gradients(tiny_net())
    rigl = sparsifier("rigl", model, update_every=5, distribution="uniform")
    mask = rigl.initial_mask(model, None)
    total, step = 40, 10  # window end 30, interval min(5, 3) = 3: step 9 updates, step 10 does not
    assert rigl.update(fake_state(model, mask, step, total)) is None
    step = 9
    new = rigl.update(fake_state(model, mask, step, total))
    fraction = 0.3 * (1 + math.cos(math.pi * step / 30)) / 2
    params = dict(model.named_parameters())
    for name, keep in mask.items():
        count = int(fraction * int(keep.sum()))
        want = expected_swap(keep, params[name].abs(), params[name].grad.abs(), count)
        assert flat(new[name]) == want, name
        assert int(new[name].sum()) == int(keep.sum())  # the layer's count never changes
        assert count > 0


def test_rigl_can_exclude_just_dropped_weights():
    model = with_gradients(tiny_net())
    rigl = sparsifier("rigl", model, update_every=1, regrow_dropped=False)
    mask = rigl.initial_mask(model, None)
    new = rigl.update(fake_state(model, mask, 1, 100))
    params = dict(model.named_parameters())
    for name, keep in mask.items():
        dropped = keep & ~new[name]
        grown = new[name] & ~keep
        assert int(dropped.sum()) == int(grown.sum()) > 0
        # grown only where the mask never held a weight: the largest |gradient| there
        outside = [i for i, k in enumerate(flat(keep)) if not k]
        grad = flat(params[name].grad.abs())
        best = set(sorted(outside, key=lambda i: (-grad[i], i))[:int(grown.sum())])
        assert set(torch.nonzero(grown.reshape(-1)).reshape(-1).tolist()) == best


def test_set_update_matches_a_hand_computation_with_the_seeded_generator():
    model = tiny_net()
    set_method = sparsifier("set", model, update_every=2)
    mask = set_method.initial_mask(model, None)
    new = set_method.update(fake_state(model, mask, 4, 100))
    generator = torch.Generator().manual_seed(derived_seed(4, purpose=1))  # the run seed is 4
    params = dict(model.named_parameters())
    for name, keep in mask.items():
        draws = torch.rand(params[name].numel(), generator=generator, dtype=torch.float64)
        count = int(0.3 * int(keep.sum()))
        assert flat(new[name]) == expected_swap(keep, params[name].abs(), draws, count), name
    # its generator state is its checkpoint state: a copy continues with the same draws
    saved = set_method.state_dict()
    again = sparsifier("set", model, update_every=2)
    again.load_state_dict(saved)
    state = fake_state(model, new, 6, 100)
    assert set_method.update(state).same_as(again.update(state))


def test_gmp_update_matches_a_hand_computation():
    model = tiny_net()
    gmp = sparsifier("gmp", model, sparsity=0.8, update_every=10)
    mask = gmp.initial_mask(model, None)
    total = 100  # start 0, end 75, interval min(10, 7) = 7
    params = dict(model.named_parameters())
    for step in (7, 14):
        new = gmp.update(fake_state(model, mask, step, total))
        target = 0.8 + (0.0 - 0.8) * (1 - step / 75) ** 3
        names = list(mask)
        values = [(abs(v) if k else -1.0, i, n) for n in names
                  for i, (v, k) in enumerate(zip(flat(params[n]), flat(mask[n])))]
        count = int((1 - target) * len(values) + 0.5)
        order = sorted(range(len(values)), key=lambda j: (-values[j][0], j))[:count]
        chosen = {(values[j][2], values[j][1]) for j in order}
        for n in names:
            assert flat(new[n]) == [(n, i) in chosen for i in range(new[n].numel())], (step, n)
        assert not (new[n] & ~mask[n]).any()  # pruned weights never come back
        mask = new
    assert gmp.update(fake_state(model, mask, 8, total)) is None  # not an update step
    final = gmp.update(fake_state(model, mask, 75, total))
    assert final.num_kept() == int(0.2 * final.num_total() + 0.5)


def test_gmp_per_layer_targets_with_a_distribution():
    model = tiny_net()
    gmp = sparsifier("gmp", model, sparsity=0.8, distribution="uniform")
    mask = gmp.update(fake_state(model, gmp.initial_mask(model, None), 75, 100))
    for name, keep in mask.items():
        assert int(keep.sum()) == int(0.2 * keep.numel() + 0.5), name


def test_magnitude_on_the_gmp_schedule_is_gmp():
    model = tiny_net()
    a = dynamic_sparsifier("magnitude", model, 0.8, schedule="gmp", options={"update_every": 3}, seed=1)
    b = dynamic_sparsifier("gmp", model, 0.8, options={"update_every": 3}, seed=1)
    mask = a.initial_mask(model, None)
    for step in (3, 6, 75):
        state = fake_state(model, mask, step, 100)
        new = a.update(state)
        assert new.same_as(b.update(state))
        mask = new


# ---- the enforcer: what a change does to weights and optimizer state --------------------------
def test_replacing_the_mask_zeroes_grown_and_dropped_positions_and_their_optimizer_state():
    model = tiny_net()
    layer = model[1].weight
    old = sk.Mask({"1.weight": torch.arange(layer.numel()).reshape(layer.shape) % 2 == 0})
    enforcer = MaskEnforcer(model, old)
    enforcer.mask_weights()
    optimizer = torch.optim.Adam([layer], lr=0.1)
    layer.grad = torch.ones_like(layer)
    optimizer.step()
    new_keep = old["1.weight"].clone().reshape(-1)
    new_keep[0], new_keep[1] = False, True  # drop position 0, grow position 1
    new = sk.Mask({"1.weight": new_keep.reshape(layer.shape)})
    with torch.no_grad():
        layer.reshape(-1)[1] = 5.0  # even a stray value where a weight grows is reset
    enforcer.replace(new, optimizer)
    assert layer.reshape(-1)[0] == 0 and layer.reshape(-1)[1] == 0
    assert layer.reshape(-1)[2] != 0  # unchanged kept weights keep their values
    for value in optimizer.state[layer].values():
        if value.shape == layer.shape:
            assert value.reshape(-1)[0] == 0 and value.reshape(-1)[1] == 0 and value.reshape(-1)[2] != 0
    assert torch.equal(enforcer.pairs[0][1].bool(), new["1.weight"])


# ---- the history ---------------------------------------------------------------------------
def test_mask_change_entry_and_plot():
    before = sk.Mask({"a": torch.tensor([True, True, False, False]), "b": torch.tensor([True, False])})
    after = sk.Mask({"a": torch.tensor([True, False, True, False]), "b": torch.tensor([True, False])})
    entry = mask_change(before, after, step=7)
    assert entry["step"] == 7 and entry["dropped"] == 1 and entry["grown"] == 1
    assert entry["changed_fraction"] == pytest.approx(1 / 3) and entry["jaccard"] == pytest.approx(2 / 4)
    assert entry["layers"] == {"a": 0.5, "b": 0.5} and entry["density"] == pytest.approx(0.5)
    import matplotlib
    matplotlib.use("Agg")
    ax = plot_mask_history({"mask_history": [entry, dict(entry, step=9)]})
    assert len(ax.lines) == 2
    assert plot_mask_history([entry], what="density").lines
    assert "never changed" in plot_mask_history({"mask_history": []}).get_title()
    with pytest.raises(sk.SparsekitError, match="what must be"):
        plot_mask_history([], what="banana")
