"""Where a run's mask comes from: every run holds a sparsifier, calls its `initial_mask` once and
records its `source`; settings naming the retired `scope` train the mask its distribution gives;
the run directory keeps only the progress folders its caller names."""
import pytest
import torch

import sparsekit as sk
from sparsekit.runs import mask_sources
from sparsekit.sparsity import OneShot
from sparsekit.training.run_dir import RunDirectory

RUN = dict(dataset="digits", model="resnet20", width=0.25, epochs=1, max_batches=1, progress=False, seed=1)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture
def initial_masks(monkeypatch):
    """The sparsifiers whose initial_mask a run called, in order."""
    called = []
    for kind in (OneShot, type(sk.masks.dynamic_sparsifier("rigl", _net(), 0.5))):
        original = kind.initial_mask

        def counted(self, model, data, original=original):
            called.append(self)
            return original(self, model, data)

        monkeypatch.setattr(kind, "initial_mask", counted)
    return called


def _net():
    torch.manual_seed(0)
    return sk.models.build("resnet20", 10, in_channels=1, width=0.25, input_size=8)


@pytest.mark.parametrize("settings, source", [
    (dict(mask="snip", sparsity=0.9), {"method": "snip", "sparsity": 0.9}),
    (dict(mask="random", sparsity=0.8, distribution="erk"), {"method": "random", "sparsity": 0.8, "distribution": "erk"}),
    (dict(mask="rigl", sparsity=0.9), {"method": "rigl", "sparsity": 0.9, "schedule": "one-shot", "distribution": "erk"}),
])
def test_every_run_calls_its_sparsifiers_initial_mask_once_and_records_its_source(settings, source, initial_masks):
    run = sk.train(**RUN, **settings)
    assert len(initial_masks) == 1 and initial_masks[0].source == source
    assert run["mask_source"] == source


def test_a_given_mask_and_a_mask_file_go_through_a_sparsifier_too(tmp_path, initial_masks):
    mask = sk.masks.compute("magnitude", _net(), 0.7)
    path = mask.save(tmp_path / "mask.pt")
    given = sk.train(**RUN, mask=mask)
    from_file = sk.train(**RUN, mask_file=str(path))
    assert [s.source for s in initial_masks] == [{"method": "given"}, {"method": "file", "path": str(path)}]
    assert given.mask.same_as(mask) and from_file.mask.same_as(mask)
    assert given["mask_source"] == {"method": "given"}


def test_a_mask_computed_elsewhere_keeps_where_it_came_from_in_the_record():
    mask = sk.masks.compute("magnitude", _net(), 0.7)
    source = {"method": "magnitude", "sparsity": 0.7, "computed_once": True}
    run = sk.train(**RUN, mask=OneShot.of(mask, source))
    assert run["mask_source"] == source and run.mask.same_as(mask)


def test_settings_naming_the_retired_scope_train_the_mask_of_the_distribution_it_meant():
    old = sk.train(**RUN, mask="magnitude", sparsity=0.8, scope="layerwise")
    assert old["config"]["distribution"] == "uniform" and "scope" not in old["config"]
    now = sk.train(**RUN, mask="magnitude", sparsity=0.8, distribution="uniform")
    assert old.mask.same_as(now.mask)
    assert sk.TrainConfig.from_record({**now["config"], "distribution": None, "scope": "layerwise"}) == \
        sk.TrainConfig.from_record(now["config"])
    assert sk.TrainConfig(scope="global") == sk.TrainConfig()  # the old default: the method's own counts


def test_the_lottery_is_a_source_of_the_one_registry_and_trains_its_rounds_in_the_run(tmp_path):
    assert "lottery" in sk.masks.available() and sk.masks.METHODS.get("lottery").kind == "procedure"
    run = sk.train(**RUN, mask="lottery", sparsity=0.36, mask_options={"round_epochs": 1}, out=str(tmp_path))
    assert run["mask_source"] == {"method": "lottery", "sparsity": 0.36}
    assert (tmp_path / "lottery" / "round_2" / "record.json").is_file()


def test_the_run_directory_keeps_only_the_progress_folders_its_caller_names(tmp_path):
    (tmp_path / "lottery").mkdir()
    (tmp_path / "lottery" / "state.pt").write_bytes(b"rounds")
    with RunDirectory(tmp_path, resume=False, overwrite=False, progress=mask_sources.PROGRESS_FOLDERS):
        pass
    with pytest.raises(sk.SparsekitError, match="not a sparsekit run's"):
        with RunDirectory(tmp_path, resume=False, overwrite=False):
            pass


def test_a_procedure_that_trains_whole_runs_is_refused_in_a_data_parallel_run_before_it_joins(tmp_path):
    from sparsekit.sparsity import sources

    with pytest.raises(sk.SparsekitError, match="cannot be computed inside a data-parallel run"):
        sources.check(sk.TrainConfig(mask="lottery").masking, parallel=True)
    sources.check(sk.TrainConfig(mask="ramanujan").masking, parallel=True)  # no whole runs: it may
    path = sk.masks.compute("magnitude", _net(), 0.5).save(tmp_path / "ticket.pt")
    sources.check(sk.TrainConfig(mask="lottery", mask_file=str(path)).masking, parallel=True)
