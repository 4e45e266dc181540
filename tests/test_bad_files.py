"""Bad input, by family: files the kit reads back (run records, study plans) and the files
`export` writes. Each is refused in one `SparsekitError` line (CLI: `error:` and exit 2)
before anything is written, and what was there is left as it was."""
import json

import pytest

import sparsekit as sk
from sparsekit.app.cli import main
from study import report as study_report
from study.plan import PLAN_FORMAT
from sparsekit.runs.rerun import read_record, rerun

TINY = dict(dataset="digits", model="resnet20", width=0.25, epochs=1, max_batches=1, progress=False, seed=0)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("made") / "run"
    sk.train(**TINY, out=str(out))
    return out


def tree(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*"))


def one_error_line(capsys, argv) -> str:
    assert main(argv) == 2, argv
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert captured.out == ""
    return captured.err


def damaged_copy(finished_run, folder, change):
    """The finished run's record.json, changed by `change(record) -> what to write`, in `folder`."""
    record = json.loads((finished_run / "record.json").read_text())
    folder.mkdir(parents=True)
    (folder / "record.json").write_text(json.dumps(change(record)))
    return folder / "record.json"


# ---- rerun: a record of the wrong shape -------------------------------------------------------
@pytest.mark.parametrize("change,expected", [
    (lambda r: dict(r, recipe=["ghost_skip"]), "the record's 'recipe' must be a table"),
    (lambda r: dict(r, config="lr=0.1"), "the record's 'config' must be a table"),
    (lambda r: dict(r, mask_source=7), "the record's 'mask_source' must be a table"),
    (lambda r: dict(r, environment=dict(r["environment"], torch_threads="many")), "torch_threads must be a whole"),
    (lambda r: dict(r, format="sparsekit.record/7"), "its format is 'sparsekit.record/7'"),
    (lambda r: "just text", "it holds a str"),
    (lambda r: {k: v for k, v in r.items() if k != "format"}, "it has no format entry"),
])
def test_rerun_of_a_damaged_record_is_one_line_and_trains_nothing(tmp_path, capsys, finished_run, change, expected):
    path = damaged_copy(finished_run, tmp_path / "damaged", change)
    err = one_error_line(capsys, ["rerun", str(path), "--out", str(tmp_path / "again")])
    assert expected in err, err
    assert not (tmp_path / "again").exists()
    with pytest.raises(sk.SparsekitError, match="record"):  # the Python door says the same
        rerun(path, tmp_path / "again")


def test_rerun_into_the_recorded_runs_own_folder_is_refused_even_with_overwrite(tmp_path, capsys, finished_run):
    before = tree(finished_run)
    err = one_error_line(capsys, ["rerun", str(finished_run), "--out", str(finished_run), "--overwrite"])
    assert "the recorded run's own folder" in err and tree(finished_run) == before


def test_a_record_of_a_newer_format_is_named_with_its_version(tmp_path, finished_run):
    path = damaged_copy(finished_run, tmp_path / "newer", lambda r: dict(r, format="sparsekit.record/2"))
    with pytest.raises(sk.SparsekitError) as refused:
        read_record(path)
    assert "'sparsekit.record/2'" in str(refused.value) and "sparsekit.record/1" in str(refused.value)


# ---- report: malformed runs, plans and output paths ------------------------------------------
@pytest.mark.parametrize("change,expected", [
    (lambda r: dict(r, config=[["lr", 0.1]]), "the record's 'config' must be a table"),
    (lambda r: dict(r, sweep="grid"), "the record's 'sweep' must be a table"),
    (lambda r: [r], "it holds a list"),
    (lambda r: dict(r, format="sparsekit.record/3"), "its format is 'sparsekit.record/3'"),
])
def test_report_over_a_damaged_record_writes_nothing(tmp_path, capsys, finished_run, change, expected):
    damaged_copy(finished_run, tmp_path / "runs" / "bad", change)
    before = tree(tmp_path)
    err = one_error_line(capsys, ["report", str(tmp_path / "runs")])
    assert expected in err and tree(tmp_path) == before, err


def runs_folder(tmp_path, finished_run):
    folder = tmp_path / "runs"
    damaged_copy(finished_run, folder / "a", lambda r: r)
    return folder


@pytest.mark.parametrize("where,expected", [
    ("file", "is a file, not a directory"),
    ("under-file", "is under a file"),
])
def test_report_out_onto_a_file_writes_nothing(tmp_path, capsys, finished_run, where, expected):
    folder = runs_folder(tmp_path, finished_run)
    (tmp_path / "notes.md").write_text("mine\n")
    out = tmp_path / "notes.md" if where == "file" else tmp_path / "notes.md" / "report"
    before = tree(tmp_path)
    assert expected in one_error_line(capsys, ["report", str(folder), "--out", str(out)])
    assert tree(tmp_path) == before and (tmp_path / "notes.md").read_text() == "mine\n"


def test_report_with_an_unknown_metric_leaves_no_results_csv(tmp_path, capsys, finished_run):
    folder = runs_folder(tmp_path, finished_run)
    before = tree(tmp_path)
    assert "no column 'top5_acc'" in one_error_line(capsys, ["report", str(folder), "--metric", "top5_acc"])
    assert tree(tmp_path) == before


@pytest.mark.parametrize("plan,expected", [
    ({"format": PLAN_FORMAT, "grid": {"masks": ["random"]}, "convergence": [0.2]}, "'convergence' must be a table"),
    ({"format": PLAN_FORMAT, "grid": ["random"], "convergence": {}}, "'grid' must be a table"),
    ({"format": PLAN_FORMAT, "convergence": {}}, "'grid' is missing from plan.json"),
    ({"format": PLAN_FORMAT, "grid": {"masks": "random", "sparsities": [0.9], "arms": [], "seeds": [0]},
      "convergence": {}}, "grid 'masks' must be a list"),
    ({"format": PLAN_FORMAT, "grid": {}, "convergence": {}, "metric": 3}, "'metric' must be text"),
    ({"preset": "tost", "recipes": {"tost": {}}}, "'preset' must be a table"),
])
def test_a_study_plan_of_the_wrong_shape_writes_nothing(tmp_path, capsys, plan, expected):
    (tmp_path / "runs").mkdir()
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    before = tree(tmp_path)
    assert study_report.main([str(tmp_path)]) == 2  # the study's own report command
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err
    assert tree(tmp_path) == before


# ---- export: where its files go -----------------------------------------------------------------
def test_onnx_where_it_cannot_be_written_is_refused_before_the_export_is_written(tmp_path, capsys, finished_run):
    (tmp_path / "a-file").write_text("x")
    before = tree(tmp_path)
    err = one_error_line(capsys, ["export", str(finished_run), "--out", str(tmp_path / "net.skx"),
                                  "--onnx", str(tmp_path / "a-file" / "net.onnx")])
    assert "--onnx" in err and tree(tmp_path) == before


@pytest.mark.parametrize("onnx", ["net.skx", "./net.skx", "sub/../net.skx"])
def test_onnx_naming_the_export_itself_is_refused(tmp_path, capsys, monkeypatch, finished_run, onnx):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    err = one_error_line(capsys, ["export", str(finished_run), "--out", "net.skx", "--onnx", onnx])
    assert "name the same file" in err and not (tmp_path / "net.skx").exists()


@pytest.mark.parametrize("name", ["model.pt", "record.json", "mask.pt"])
def test_export_onto_the_runs_own_files_is_refused_even_with_overwrite(capsys, finished_run, name):
    before = tree(finished_run)
    err = one_error_line(capsys, ["export", str(finished_run), "--out", str(finished_run / name), "--overwrite"])
    assert "a file of the run being exported" in err and tree(finished_run) == before


def test_export_into_a_directory_is_refused(tmp_path, capsys, finished_run):
    err = one_error_line(capsys, ["export", str(finished_run), "--out", str(tmp_path)])
    assert "is a directory" in err


def test_export_path_is_checked_before_any_work(tmp_path, monkeypatch):
    from sparsekit.export import exporter

    model = sk.models.build("resnet20", 10, in_channels=1, width=0.25, input_size=8)
    (tmp_path / "a-file").write_text("x")
    monkeypatch.setattr(exporter, "trace", lambda *a: pytest.fail("the export started"))
    with pytest.raises(sk.SparsekitError, match="export path's folder"):
        sk.export(model, sk.Mask.dense(model), path=tmp_path / "a-file" / "net.skx")


def test_a_study_report_with_a_metric_no_run_recorded_writes_nothing(tmp_path, capsys):
    (tmp_path / "plan.json").write_text(json.dumps({"preset": {}, "recipes": {"default": {}}}))
    run = tmp_path / "runs" / "random-0.9-seed0-default"
    run.mkdir(parents=True)
    (run / "record.json").write_text(json.dumps({"finished": True, "best_val_test_acc": 0.5, "epochs": []}))
    before = tree(tmp_path)
    with pytest.raises(sk.SparsekitError, match="no finished run records 'top5_acc'"):
        study_report.write_study_report(tmp_path, out=tmp_path / "r", metric="top5_acc")
    assert tree(tmp_path) == before
