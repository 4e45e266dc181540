"""Every mask method: exact counts, repeatable, ablations, options, lottery rounds and resume,
and one call away from `train` and the command line."""
import json
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

import sparsekit as sk
from sparsekit import SparsekitError, masks
from helpers import QUICK_CLI
from sparsekit.app.cli import main
from sparsekit.runs import lottery as lottery_module, mask_sources
from sparsekit.sparsity.erk import erk_counts, erk_densities
from sparsekit.sparsity.options import parse_options
from sparsekit.models import build
from sparsekit.core.topk import keep_count

torch.set_num_threads(1)

SPARSITIES = [0.0, 0.5, 0.9, 0.98, 0.99, 0.999]
QUICK = QUICK_CLI
# Lottery trains once per round: the grid uses a tiny MLP, and halves per round at the
# highest targets (still ending exactly on the target) to keep the test quick.
LOTTERY_FRACTION = {0.98: 0.5, 0.99: 0.5, 0.999: 0.5}


@pytest.fixture(scope="module")
def digits():
    return sk.data.load("digits", batch_size=64)


@pytest.fixture(scope="module")
def batches(digits):
    digits.train.set_epoch(0)
    return [next(iter(digits.train))]


def resnet(seed=0):
    torch.manual_seed(seed)
    return build("resnet20", 10, in_channels=1, width=0.25, input_size=8)


def tiny_mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))


def quick_config(**changes):
    return sk.TrainConfig(epochs=1, max_batches=1, batch_size=64, progress=False).with_changes(**changes)


def method_options(method, sparsity, digits):
    if method == "synflow":
        return {"rounds": 10}
    if method == "lottery":
        return {"train_config": quick_config(), "bundle": digits,
                "prune_fraction": LOTTERY_FRACTION.get(sparsity, 0.2)}
    return {}


def find_ticket(*args, **options):
    return lottery_module.find_ticket(*args, train=sk.train, **options)


def assert_exact(mask, sparsity, scope):
    if scope == "global":
        assert mask.num_kept() == keep_count(mask.num_total(), 1 - sparsity)
    else:
        for name, keep in mask.items():
            assert int(keep.sum()) == keep_count(keep.numel(), 1 - sparsity), name


# ---- exact counts, every method --------------------------------------------------------
@pytest.mark.parametrize("sparsity", SPARSITIES)
@pytest.mark.parametrize("method", ["random", "erk", "magnitude", "snip", "grasp", "synflow"])
def test_every_method_keeps_the_exact_count(method, sparsity, digits, batches):
    for distribution in [None, "uniform"]:  # the method's own (exact in total) and exact per layer
        mask = masks.compute(method, resnet(), sparsity, data=batches, distribution=distribution,
                             **method_options(method, sparsity, digits))
        assert_exact(mask, sparsity, "layerwise" if distribution else "global")


@pytest.mark.filterwarnings("ignore:layer collapse")  # global magnitude empties the tiny MLP's first layer
@pytest.mark.parametrize("sparsity", SPARSITIES)
def test_lottery_hits_the_exact_final_count(sparsity, digits):
    mask = find_ticket(tiny_mlp(), sparsity, data=digits, **method_options("lottery", sparsity, digits))
    assert_exact(mask, sparsity, "global")


def test_lottery_layerwise_is_exact_per_layer(digits):
    mask = find_ticket(tiny_mlp(), 0.7, data=digits, distribution="uniform", train_config=quick_config())
    assert_exact(mask, 0.7, "layerwise")


def test_synflow_default_hundred_rounds_is_exact():
    mask = masks.compute("synflow", resnet(), 0.99)
    assert_exact(mask, 0.99, "global")


@pytest.mark.parametrize("method", ["random", "erk", "magnitude", "snip", "grasp", "synflow"])
def test_same_seed_same_mask_other_seed_differs_for_random_methods(method, batches):
    options = {"rounds": 5} if method == "synflow" else {}
    first = masks.compute(method, resnet(), 0.9, data=batches, seed=3, **options)
    again = masks.compute(method, resnet(), 0.9, data=batches, seed=3, **options)
    assert first.same_as(again)
    if method in ("random", "erk"):
        assert not first.same_as(masks.compute(method, resnet(), 0.9, data=batches, seed=4))


def test_data_methods_need_data_and_say_so():
    with pytest.raises(SparsekitError, match="'snip' scores weights with data"):
        masks.compute("snip", resnet(), 0.9)


# ---- options: one mechanism for every method ---------------------------------------------
def test_unknown_option_names_the_method_and_what_it_accepts(batches):
    with pytest.raises(SparsekitError, match=r"'synflow' has no option 'round'; it accepts: rounds, float64"):
        masks.compute("synflow", resnet(), 0.9, round=3)
    with pytest.raises(SparsekitError, match=r"'snip' has no option 'temperature'; it accepts: shuffle, invert"):
        masks.compute("snip", resnet(), 0.9, data=batches, temperature=3)
    with pytest.raises(SparsekitError, match="'random' has no option 'rounds'"):
        masks.compute("random", resnet(), 0.9, rounds=3)


def test_one_registry_names_every_source_and_offers_a_score_method_no_training_context(batches):
    # The procedures made of trainings are entries like any method; only they receive a run's inputs.
    with pytest.raises(SparsekitError, match="'snip' has no option 'train_config'"):
        masks.compute("snip", resnet(), 0.9, data=batches, train_config=sk.TrainConfig())
    assert masks.available() == mask_sources.available()
    assert {"lottery", "ramanujan", "snip", "rigl"} <= set(masks.available())
    kinds = {row["name"]: row["kind"] for row in masks.method_rows()}
    assert (kinds["lottery"], kinds["ramanujan"], kinds["snip"], kinds["rigl"]) == \
        ("procedure", "procedure", "score", "dynamic")
    with pytest.raises(SparsekitError, match="unknown mask method 'nope'; choose one of: .*lottery.*ramanujan"):
        masks.compute("nope", resnet(), 0.9)


def test_options_text_parses_types():
    assert parse_options("rounds=10, float64=true, input_shape=1,8,8, name=abc, lr=0.5") == {
        "rounds": 10, "float64": True, "input_shape": (1, 8, 8), "name": "abc", "lr": 0.5}
    assert parse_options("") == {}
    with pytest.raises(SparsekitError, match="name=value"):
        parse_options("rounds")


# ---- ablations ---------------------------------------------------------------------------
def test_shuffle_keeps_layer_counts_but_moves_positions(batches):
    mask = masks.compute("snip", resnet(), 0.9, data=batches)
    shuffled = masks.compute("snip", resnet(), 0.9, data=batches, shuffle=True)
    assert [int(k.sum()) for k in mask.values()] == [int(k.sum()) for k in shuffled.values()]
    moved = sum(int((mask[n] & ~shuffled[n]).sum()) for n in mask)
    assert moved > 0.5 * mask.num_kept()  # random positions overlap only by chance (~density)


def test_invert_keeps_exactly_the_lowest_scores(batches):
    net = resnet()
    scores = masks.scores("magnitude", net)
    inverted = masks.compute("magnitude", net, 0.8, invert=True)
    flat = torch.cat([s.reshape(-1) for s in scores.values()])
    kept = torch.cat([inverted[n].reshape(-1) for n in scores])
    assert int(kept.sum()) == keep_count(flat.numel(), 0.2)
    assert float(flat[kept].max()) <= float(flat[~kept].min())


def test_invert_applies_to_any_static_method_not_to_a_dynamic_one():
    # random's scores are random ranks: the inverted mask is another random mask of the same counts.
    mask, inverted = masks.compute("random", resnet(), 0.9), masks.compute("random", resnet(), 0.9, invert=True)
    assert [int(k.sum()) for k in mask.values()] == [int(k.sum()) for k in inverted.values()]
    assert not any(bool((mask[n] & inverted[n]).any()) for n in mask if int(mask[n].sum()) * 2 <= mask[n].numel())
    with pytest.raises(SparsekitError, match="no shuffle or invert"):
        masks.compute("rigl", resnet(), 0.9, invert=True)


# ---- ERK ---------------------------------------------------------------------------------
shapes = st.lists(st.one_of(st.tuples(st.integers(1, 40), st.integers(1, 40)),
                            st.tuples(st.integers(1, 24), st.integers(1, 24), st.sampled_from([1, 3]),
                                      st.sampled_from([1, 3]))), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(shapes, st.floats(0.0, 1.0))
def test_erk_counts_sum_exactly_and_respect_capacity(layer_shapes, density):
    sizes = [math.prod(s) for s in layer_shapes]
    counts = erk_counts(layer_shapes, density)
    assert sum(counts) == keep_count(sum(sizes), density)
    assert all(0 <= c <= n for c, n in zip(counts, sizes))
    densities = erk_densities(layer_shapes, density)
    assert all(0.0 <= d <= 1.0 for d in densities)
    assert sum(d * n for d, n in zip(densities, sizes)) == pytest.approx(density * sum(sizes), abs=1e-6)


# ---- lottery -----------------------------------------------------------------------------
def test_lottery_rounds_follow_the_schedule_and_records_are_written(tmp_path, digits):
    net = tiny_mlp()
    init = {k: v.clone() for k, v in net.state_dict().items()}
    mask = find_ticket(net, 0.6, data=digits, train_config=quick_config(), out=tmp_path)
    total = mask.num_total()
    rounds = math.ceil(math.log(0.4) / math.log(0.8))
    for k in range(1, rounds + 1):
        record = json.loads((tmp_path / "lottery" / f"round_{k}" / "record.json").read_text())
        # Round k trains the mask left by round k - 1: density 0.8^(k-1) of the weights.
        assert sum(layer["kept"] for layer in record["layers"]) == keep_count(total, 0.8 ** (k - 1))
    assert not (tmp_path / "lottery" / f"round_{rounds + 1}").exists()
    assert mask.num_kept() == keep_count(total, 0.4)
    # Rewind 0: the model now holds its initial weights, masked -- the lottery ticket.
    for name, value in init.items():
        expected = value * mask[name] if name in mask else value
        assert torch.equal(net.state_dict()[name], expected), name


def test_lottery_keeps_the_largest_weights_of_its_trained_round(digits):
    """One round (sparsity 0.2): the ticket keeps exactly the 80% of weights with the largest
    |theta| after the round's training, not after initialization."""
    trained = {}

    def train_and_remember(settings, **options):
        run = sk.train(settings, **options)
        trained.update({name: p.detach().clone() for name, p in run.model.named_parameters()})
        return run

    net = tiny_mlp()
    initial = {name: p.detach().clone() for name, p in net.named_parameters()}
    mask = lottery_module.find_ticket(net, 0.2, data=digits, train=train_and_remember,
                                      train_config=quick_config(max_batches=3, lr=0.5))
    magnitudes = torch.cat([trained[name].abs().flatten() for name in mask])
    threshold = magnitudes.topk(keep_count(magnitudes.numel(), 0.8)).values[-1]
    for name, keep in mask.items():
        assert torch.equal(keep, trained[name].abs() >= threshold), name
    at_init = torch.cat([initial[name].abs().flatten() for name in mask])
    init_threshold = at_init.topk(keep_count(at_init.numel(), 0.8)).values[-1]
    assert not all(torch.equal(keep, initial[name].abs() >= init_threshold) for name, keep in mask.items())


def test_lottery_late_rewinding_restores_the_weights_after_that_step(digits):
    config = quick_config(max_batches=3, lr_schedule="constant")  # so a 2-step run matches its first 2 steps
    net = tiny_mlp()
    mask = find_ticket(net, 0.2, data=digits, train_config=config, rewind_steps=2)
    # Independently: the same dense training stopped after 2 steps.
    reference = tiny_mlp()
    sk.train(config.with_changes(max_batches=2), model=reference,
             mask=sk.Mask.dense(reference), data=digits)
    for name, value in reference.state_dict().items():
        expected = value * mask[name] if name in mask else value
        assert torch.allclose(net.state_dict()[name], expected), name
    with pytest.raises(SparsekitError, match="rewind point must be within"):
        find_ticket(tiny_mlp(), 0.2, data=digits, train_config=config, rewind_steps=99)


def test_lottery_resumes_after_an_interruption(tmp_path, digits, monkeypatch):
    uninterrupted = tiny_mlp()
    expected = find_ticket(uninterrupted, 0.6, data=digits, train_config=quick_config())

    real_round, calls = lottery_module._train_round, []

    def crash_in_round_three(*args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_round(*args)

    monkeypatch.setattr(lottery_module, "_train_round", crash_in_round_three)
    with pytest.raises(KeyboardInterrupt):
        find_ticket(tiny_mlp(), 0.6, data=digits, train_config=quick_config(), out=tmp_path)
    calls.clear()
    monkeypatch.setattr(lottery_module, "_train_round", lambda *args: calls.append(args) or real_round(*args))
    net = tiny_mlp()
    resumed = find_ticket(net, 0.6, data=digits, train_config=quick_config(), out=tmp_path)
    assert len(calls) == 3  # rounds 3, 4 and 5 only
    assert resumed.same_as(expected)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), uninterrupted.state_dict().values()))
    with pytest.raises(SparsekitError, match="holds a lottery run with other settings"):
        find_ticket(tiny_mlp(), 0.5, data=digits, train_config=quick_config(), out=tmp_path)


def test_lottery_needs_a_valid_prune_fraction(digits):
    with pytest.raises(SparsekitError, match="prune_fraction"):
        find_ticket(tiny_mlp(), 0.5, data=digits, prune_fraction=1.5)


# ---- train and the command line ----------------------------------------------------------
def test_train_passes_mask_options_and_records_the_analysis():
    # Typed values in Python; the command line's text form reads into the same values.
    run = sk.train(dataset="digits", model="resnet20", width=0.25, epochs=1, max_batches=1, progress=False,
                   mask="synflow", sparsity=0.9, mask_options={"rounds": 3, "shuffle": True})
    assert run["config"]["mask_options"] == {"rounds": 3, "shuffle": True}
    assert sk.TrainConfig(mask_options="rounds=3, shuffle=true").mask_options == {"rounds": 3, "shuffle": True}
    assert run.mask.num_kept() == keep_count(run.mask.num_total(), 0.1)
    assert set(run["analysis"]) >= {"dead_units", "dead_units_total", "collapsed_layers"}


@pytest.mark.parametrize("method", mask_sources.available())
def test_cli_trains_with_every_method(method, tmp_path, capsys):
    sparsity = "0.3" if method == "lottery" else "0.9"  # lottery: two short rounds
    code = main(["train", "--dataset", "digits", "--model", "resnet20", "--mask", method, "--sparsity", sparsity,
                 "--out", str(tmp_path), *QUICK])
    assert code == 0, capsys.readouterr().err
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["mask_source"]["method"] == method
    assert round(record["density"] * sum(r["total"] for r in record["layers"])) == \
        keep_count(sum(r["total"] for r in record["layers"]), 1 - float(sparsity))
    if method == "lottery":
        assert (tmp_path / "lottery" / "round_2" / "record.json").is_file()


def test_cli_mask_command_saves_the_mask_train_would_use(tmp_path, capsys):
    common = ["--dataset", "digits", "--model", "resnet20", "--width", "0.25", "--sparsity", "0.9", "--seed", "2"]
    assert main(["mask", "--method", "snip", *common, "--out", str(tmp_path / "snip.pt")]) == 0
    printed = capsys.readouterr().out
    assert "overall" in printed and "stem.conv.weight" in printed and "path from input to output: yes" in printed
    saved = sk.Mask.load(tmp_path / "snip.pt")
    assert main(["train", "--mask", "snip", *common, "--epochs", "1", "--max-batches", "1", "--no-progress",
                 "--out", str(tmp_path / "run")]) == 0
    assert saved.same_as(sk.Mask.load(tmp_path / "run" / "mask.pt"))


def test_cli_mask_command_says_when_the_mask_cuts_the_network(tmp_path, capsys):
    # random at 99.9% keeps none of the digits ResNet-20's 36 stem weights: no path from the input
    common = ["--dataset", "digits", "--model", "resnet20", "--width", "0.25", "--sparsity", "0.999", "--seed", "0"]
    assert main(["mask", "--method", "random", *common, "--out", str(tmp_path / "cut.pt")]) == 0
    printed = capsys.readouterr().out
    assert "path from input to output: none: the mask cuts the network" in printed
    assert "effective density: 0.0000 (0 of " in printed  # every kept weight sits off any path
    assert not sk.Mask.load(tmp_path / "cut.pt")["stem.conv.weight"].any()


def test_cli_mask_command_reports_bad_options(tmp_path, capsys):
    assert main(["mask", "--method", "snip", "--out", str(tmp_path / "m.pt"), "--mask-options", "rounds=2"]) == 2
    assert "error: mask method 'snip' has no option 'rounds'" in capsys.readouterr().err


def test_cli_mask_command_never_replaces_a_file_silently(tmp_path, capsys):
    target = tmp_path / "mine.pt"
    target.write_bytes(b"the user's own file")
    assert main(["mask", "--method", "random", "--width", "0.25", "--out", str(target)]) == 2
    assert "already exists" in capsys.readouterr().err and target.read_bytes() == b"the user's own file"
    assert main(["mask", "--method", "random", "--width", "0.25", "--out", str(target), "--overwrite"]) == 0
    assert sk.Mask.load(target).num_total() > 0


def test_damaged_lottery_state_is_a_one_line_error_unless_starting_over(tmp_path):
    from sparsekit.runs.lottery import _RoundStore

    store = _RoundStore(tmp_path / "lottery")
    (tmp_path / "lottery").mkdir()
    (tmp_path / "lottery" / "state.pt").write_bytes(b"\x00damaged")
    with pytest.raises(SparsekitError, match="corrupted lottery state") as info:
        store.load({"any": 1}, restart=False)
    assert "\n" not in str(info.value)
    assert store.load({"any": 1}, restart=True) is None and not (tmp_path / "lottery").exists()
