"""No setting is accepted and then ignored: every field of `TrainConfig` (all sections) and of
`Recipe`, set to a value other than its default through every entry point, is in the run record,
and changes what runs.

The fields are read from the dataclasses, so a new field without a case in settings_cases.py fails
`test_every_field_has_a_case` by name. Two halves, to stay fast:

- what a field does: for each field, one tiny run with it changed against the same run without
  (`CASES`: the value, the settings that make it matter, and the evidence that it did);
- what reaches the run: through each entry point (Python keywords to `sk.train`, a `TrainConfig`,
  `sparsekit train`, a sweep point, a notebook's `ExperimentSettings`), a few runs that set
  every field the entry point offers at once; the record must hold each value and the whole
  config and recipe the trainer ran must be the one the settings describe. A field an entry
  point does not offer is in `NOT_OFFERED` with the reason, and the entry point refuses it.
"""
import contextlib
import dataclasses
import functools
import io
import json
from pathlib import Path
from typing import Any, Dict

import pytest
import torch
from sklearn.datasets import load_digits

import sparsekit as sk
from fake_datasets import write_cifar10
from settings_cases import (BASE, CASES, CONFIG_FIELDS, ENTRY_POINTS, ENTRY_SETS, GROUP_SETTINGS, GROUPS,
                            NOT_OFFERED, RECIPE_FIELDS, Case)
from sparsekit.app import cli, experiments
from sparsekit.training.config import TrainConfig, names_with
from sparsekit.training.spectral_probe import SpectralProbe

# The pinned-batches case asks for pinned memory as a GPU machine would; torch notes there is none.
pytestmark = pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true")


def test_every_field_has_a_case():
    missing = [name for name in CONFIG_FIELDS + RECIPE_FIELDS if name not in CASES]
    assert not missing, (f"settings without a case in tests/settings_cases.py: {', '.join(missing)}; add each one's "
                         f"non-default value and the evidence that it changes what runs")
    grouped = [name for names in GROUPS.values() for name in names]
    assert sorted(grouped) == sorted(CASES) and len(grouped) == len(set(grouped))


# ---- running ---------------------------------------------------------------------------------
class Observed(Exception):
    """Raised once a run has shown what it uses, where training it would show nothing more."""


class Observe(sk.Callback):
    """What a run actually used, where the record cannot say it."""

    def __init__(self, stop: bool = False):
        self.stop = stop

    def on_run_start(self, state):
        self.device = state.device
        loader = getattr(state.data.train, "loader", None)
        self.loader = {name: getattr(loader, name, None) for name in ("num_workers", "pin_memory",
                                                                      "persistent_workers")}
        # A conv whose layouts differ (with one input channel or a 1x1 kernel both orders agree).
        conv = next(p for p in state.model.parameters() if p.dim() == 4 and p.shape[1] > 1 and p.shape[2] > 1)
        self.channels_last = conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
        if self.stop:
            raise Observed


class StopAfterFirstEpoch(sk.Callback):
    def on_epoch_start(self, state):
        if state.epoch == 1:  # epoch 1's checkpoint is written: an interrupted run to resume
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("settings")
    for seed, folder in enumerate(("data", "elsewhere")):  # data/: the default root, seen from the workspace
        write_cifar10(str(root / folder / "cifar10"), per_batch=10, test_count=20, seed=seed)
    return root


@pytest.fixture(autouse=True)
def quick_and_observed(monkeypatch, workspace):
    """Runs start in the workspace (whose data/ holds CIFAR-10 files). The spectral probe (a measurement, not training) is skipped; `torch.compile` (minutes on a
    CPU) is recorded and passes the model through; a download writes CIFAR-10 files; and a run
    asks for pinned batches as if a GPU were there."""
    import torchvision.datasets.utils as tv_utils

    monkeypatch.chdir(workspace)
    monkeypatch.setattr("sklearn.datasets.load_digits", cached_digits)  # the same arrays, read once
    monkeypatch.setattr(SpectralProbe, "on_epoch_start", lambda self, state: None)
    monkeypatch.setattr(SpectralProbe, "on_run_end", lambda self, state: None)
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: compiled.append(model) or model)
    downloads = []
    monkeypatch.setattr(tv_utils, "download_and_extract_archive",
                        lambda url, folder, **kw: downloads.append(url) or write_cifar10(folder, 10, 20))
    monkeypatch.setattr("sparsekit.data.batches._cuda", lambda: True)
    return {"compiled": compiled, "downloads": downloads}


@functools.lru_cache(maxsize=None)
def _digits_once():
    return load_digits()


def cached_digits(*args, **kwargs):
    assert not args and not kwargs
    return _digits_once()


def resolve(settings: dict, tmp: Path, workspace: Path) -> dict:
    """The placeholders of `settings` made real (see CASES)."""
    made = dict(settings)
    for name, value in settings.items():
        if value == "<cifar>":
            made[name] = str(workspace / "elsewhere")
        elif value in ("<empty>", "<out>"):
            made[name] = str(fresh(tmp))
    for name, value in settings.items():
        if value == "<mask-file>":
            shaping = {k: v for k, v in made.items() if k in names_with("shapes_mask") and k != "mask_file"}
            mask = sk.runs.prepare(TrainConfig(**shaping).with_changes(mask="magnitude"))[2]
            made[name] = str(mask.save(fresh(tmp) / "mask.pt"))
    for name, value in settings.items():  # runs of the same settings, left in the folder
        if value in ("<finished>", "<interrupted>"):
            made[name] = str(fresh(tmp))
            before = {k: v for k, v in made.items() if k not in ("resume", "overwrite")}
            stop = [StopAfterFirstEpoch()] if value == "<interrupted>" else []
            with contextlib.suppress(KeyboardInterrupt):
                run_python(before, callbacks=stop)
    return made


def fresh(tmp: Path) -> Path:
    index = len(list(tmp.iterdir()))
    path = tmp / f"d{index}"
    path.mkdir()
    return path


def split(settings: dict):
    config = {k: v for k, v in settings.items() if k in CONFIG_FIELDS}
    recipe = {k: v for k, v in settings.items() if k in RECIPE_FIELDS}
    return config, recipe


def run_python(settings: dict, callbacks=()):
    config, recipe = split(settings)
    return sk.train(recipe=sk.Recipe(**recipe), callbacks=list(callbacks), **config)


# ---- what a field does ---------------------------------------------------------------------
@dataclasses.dataclass
class Outcome:
    record: Any = None
    error: Exception = None
    observed: Observe = None
    stderr: str = ""
    compiled: int = 0


def attempt(settings: dict, tmp: Path, workspace: Path, seen, stop: bool = False) -> Outcome:
    settings = resolve(settings, tmp, workspace)
    observe, stderr, compiled = Observe(stop=stop), io.StringIO(), len(seen["compiled"])
    outcome = Outcome(observed=observe, stderr=stderr)
    try:
        with contextlib.redirect_stderr(stderr):
            outcome.record = run_python(settings, callbacks=[observe])
    except sk.SparsekitError as error:
        outcome.error = error
    except Observed:  # the run was set up as it would train: what it uses is known
        pass
    outcome.stderr, outcome.compiled = stderr.getvalue(), len(seen["compiled"]) - compiled
    outcome.settings = settings
    return outcome


def digest(outcome: Outcome):
    """What a run computed: its final weights (names and values), its mask and its losses."""
    state = outcome.record.model.state_dict()
    weights = tuple((name, tuple(value.shape), float(value.double().sum()), float(value.double().abs().sum()))
                    for name, value in state.items())
    mask = tuple((name, tuple(keep.flatten().nonzero().flatten().tolist())) for name, keep in outcome.record.mask.items())
    losses = tuple((e["train_loss"], e["val_loss"]) for e in outcome.record["epochs"])
    return weights, mask, losses


def changed_what_ran(name: str, case: Case, changed: Outcome, unchanged: Outcome) -> bool:
    if case.shows == "refused without":  # the run only exists because of the setting
        return changed.error is None and isinstance(unchanged.error, sk.SparsekitError)
    assert changed.error is None and unchanged.error is None, (changed.error, unchanged.error)
    if case.shows == "result":
        return digest(changed) != digest(unchanged)
    if case.shows == "loader":
        return changed.observed.loader[name] == case.value != unchanged.observed.loader[name]
    if case.shows == "channels last":
        return changed.observed.channels_last and not unchanged.observed.channels_last
    if case.shows == "compiled":
        return changed.compiled == 1 and unchanged.compiled == 0
    if case.shows == "device":  # "auto" resolved to the machine's device
        return changed.observed.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    if case.shows == "files":
        return (Path(changed.settings["out"]) / "record.json").is_file()
    if case.shows == "no progress bar":
        return "step" in unchanged.stderr and "step" not in changed.stderr
    if case.shows == "tensorboard":
        return any(Path(changed.settings["tensorboard"]).rglob("events.out.tfevents.*"))
    if case.shows == "test skipped":  # an epoch that did not improve validation left the test split alone
        skipped = [[row["test_acc"] is None for row in outcome.record["epochs"]] for outcome in (changed, unchanged)]
        return any(skipped[0]) and not any(skipped[1])
    if case.shows == "bn diagnostic":
        return "bn_reestimated_test_acc" in changed.record and "bn_reestimated_test_acc" not in unchanged.record
    raise AssertionError(f"unknown evidence {case.shows!r}")


BASELINES: Dict[str, Outcome] = {}
# Evidence a run shows once it is set up (its loader, layout, compiled forward, device): no need to train.
SEEN_BEFORE_TRAINING = ("loader", "channels last", "compiled", "device")


@pytest.mark.parametrize("name", list(CASES))
def test_each_setting_changes_what_runs(name, tmp_path, workspace, quick_and_observed):
    case = CASES[name]
    without = {**BASE, **case.needs, **({name: case.before} if case.before is not None else {})}
    stop = case.shows in SEEN_BEFORE_TRAINING
    key = repr((stop, sorted(without.items())))
    if key not in BASELINES or any(str(v).startswith("<") for v in without.values()):
        BASELINES[key] = attempt(without, tmp_path, workspace, quick_and_observed, stop)
    unchanged = BASELINES[key]  # runs without placeholders are shared by the fields they serve
    changed = attempt({**without, name: case.value}, tmp_path, workspace, quick_and_observed, stop)
    assert changed_what_ran(name, case, changed, unchanged), f"{name}={case.value!r} changed nothing that ran"


# ---- what reaches the run, through every entry point -----------------------------------------
def cli_flags(settings: dict) -> list:
    flags = []
    for name, value in settings.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, dict):
            flags += [flag, ", ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in value.items())]
        elif value is not None:
            flags += [flag, str(value)]
    return flags


def via_python(settings):
    return run_python(settings)


def via_config(settings):
    config, recipe = split(settings)
    return sk.train(TrainConfig(**config, recipe=sk.Recipe(**recipe)))


def via_cli(settings):
    assert cli.main(["train", *cli_flags(settings)]) == 0
    return json.loads((Path(settings["out"]) / "record.json").read_text())


def via_sweep(settings):
    result = sk.sweep([settings], backend="inline", name=["point"], progress=False)
    assert not result.failures, result.failures
    return result.records["point"]


def via_notebook(settings):
    config, recipe = split(settings)
    experiment = experiments.ExperimentSettings(**config, recipe_options=recipe)
    return experiments.run_experiment(experiment)


ENTRY = {"python": via_python, "config": via_config, "cli": via_cli, "sweep": via_sweep, "notebook": via_notebook}


def plain(value):
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("group", list(GROUPS))
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_setting_reaches_the_run_through_every_entry_point(entry, group, tmp_path, workspace,
                                                                  quick_and_observed):
    refused = NOT_OFFERED.get(entry, {})
    offered = [name for name in GROUPS[group] if name not in refused]
    if not offered:
        pytest.skip(f"{entry} offers none of the {group} settings (see NOT_OFFERED)")
    wanted = {**BASE, **GROUP_SETTINGS.get(group, {})}
    for name in offered:
        wanted.update(CASES[name].needs)
    wanted.update({name: CASES[name].value for name in offered})
    if entry == "cli" and "out" not in wanted:
        wanted["out"] = "<out>"  # the command line's record is the file it writes
    settings = resolve({name: value for name, value in wanted.items() if name not in refused}, tmp_path, workspace)
    with contextlib.redirect_stderr(io.StringIO()):
        record = plain(dict(ENTRY[entry](settings)))
    config, recipe = split(settings)
    # The run used exactly what the settings describe: the fields set, and every other one at its default.
    assert record["config"] == plain(TrainConfig(**config, **ENTRY_SETS.get(entry, {})).to_dict())
    assert record["recipe"] == plain(sk.Recipe(**recipe).to_dict())
    for name in offered:  # ... and each value set is there, as given
        section = record["recipe"] if name in RECIPE_FIELDS else record["config"]
        assert section[name] == plain(settings[name]), name
        assert section[name] != plain(default_of(name)), name


def default_of(name):
    if name in RECIPE_FIELDS:
        return getattr(sk.Recipe(), name)
    return getattr(TrainConfig(), name)


@pytest.mark.parametrize("entry", sorted(NOT_OFFERED))
def test_what_an_entry_point_does_not_offer_it_refuses(entry, tmp_path):
    for name in NOT_OFFERED[entry]:
        value = CASES[name].value if not str(CASES[name].value).startswith("<") else str(tmp_path / name)
        with pytest.raises(sk.SparsekitError) as refusal:
            if entry == "sweep":
                sk.sweep([{name: value}], backend="inline", progress=False)
            else:
                experiments.ExperimentSettings(**{name: value})
        assert name in str(refusal.value) and "\n" not in str(refusal.value)


def test_recipe_fields_are_not_train_keywords_and_are_refused_as_such():
    for name in RECIPE_FIELDS:  # sk.train takes the recipe whole (recipe=), never a field alone
        with pytest.raises(sk.SparsekitError, match=f"unknown setting {name!r}"):
            sk.train(**{name: CASES[name].value})
