"""Bad input, by family: sweeps (spec files and `sk.sweep`), the notebook runner, and the
TensorBoard folder. Each is refused in one line before any process starts or any file is
written."""
import pytest

import sparsekit as sk
from sparsekit.app import notebook_runner
from sparsekit.app.cli import main
from sparsekit.app.sweeps import backends, read_spec

FIXED = dict(dataset="digits", width=0.25, epochs=1, max_batches=1)


def tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def one_error_line(capsys, argv) -> str:
    assert main(argv) == 2, argv
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    return captured.err


@pytest.fixture
def no_worker(monkeypatch):
    """Fails the test if any sweep backend starts a run."""
    for name in ("run_local", "run_ray", "run_inline"):
        monkeypatch.setattr(backends, name, lambda *a, **k: pytest.fail("a run was started"))


# ---- sweep spec files -------------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", [
    ('[grid]\nmodel = ["resnet21"]\n', "unknown model 'resnet21'"),
    ('[grid]\nseed = [0]\n[fixed]\ndataset = "imagenet"\n', "unknown dataset 'imagenet'"),
    ('[grid]\nmodel = ["timm:no_such_net"]\n', "unknown timm model 'no_such_net'"),
    ('[grid]\nseed = [0]\n[sweep]\nworkers = "four"\n', "workers must be a whole number"),
    ('[grid]\nseed = [0]\n[sweep]\nout = ["a", "b"]\n', "the sweep's out must be a folder's path"),
    ('[grid]\nseed = [0]\n[sweep]\nname = 12\n', "the sweep's name must be a template"),
    ('[grid]\nseed = [0]\n[sweep]\ncpus_per_run = -1\nbackend = "ray"\n', "cpus_per_run must be"),
    ('[grid]\nseed = [0]\n[sweep]\naddress = "auto"\n', "address applies to the ray backend only"),
    ('[grid]\n[fixed]\nseed = 0\n', "the sweep's grid is empty"),
    # the axes `sk.sweep` takes as seeds= and recipes=, with its messages
    ('[grid]\nmask = ["snip"]\n[sweep]\nseeds = 3\n', "seeds must be a list of whole numbers"),
    ('[grid]\nmask = ["snip"]\n[sweep]\nseeds = []\n', "seeds must be a list of whole numbers"),
    ('[grid]\nmask = ["snip"]\n[sweep]\nseeds = [0, 1.5]\n', "seed must be a whole number"),
    ('[grid]\nmask = ["snip"]\n[sweep]\nseeds = ["0"]\n', "seed must be a whole number"),
    ('[grid]\nmask = ["snip"]\n[sweep]\nseeds = [0, 0]\n', "repeat a seed"),
    ('[grid]\nseed = [0]\n[sweep]\nseeds = [0, 1]\n', "'seed' is both a setting and the sweep's seeds"),
    ('[grid]\nmask = ["snip"]\n[recipes]\n', "recipes must be a table of label -> recipe"),
    ('recipes = "tost"\n[grid]\nmask = ["snip"]\n', "recipes must be a table ([recipes])"),
    ('[grid]\nmask = ["snip"]\n[recipes]\nmine = "no-such-preset"\n', "unknown recipe 'no-such-preset'"),
    ('[grid]\nmask = ["snip"]\n[recipes]\nmine = { smoothing = 0.1 }\n', "unknown recipe setting 'smoothing'"),
    ('[grid]\nrecipe = ["default"]\n[recipes]\ntost = "tost"\n', "'recipe' is set while the sweep's recipes"),
    ('[grid]\nmask = ["snip"]\n[fixed]\nlabel-smoothing = 0.0\n[recipes]\ntost = "tost"\n',
     "'label-smoothing' is set while the sweep's recipes"),
])
def test_a_bad_spec_is_refused_by_dry_run_and_by_the_sweep_alike(tmp_path, capsys, no_worker, text, expected):
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    for extra in (["--dry-run"], []):
        err = one_error_line(capsys, ["sweep", str(spec), "--out", str(tmp_path / "out"), *extra])
        assert expected in err, err
    assert tree(tmp_path) == ["spec.toml"]


@pytest.mark.parametrize("content", [b'[grid]\nseed = [0]\n# caf\xe9\n', b"\xff\xfe[\x00g\x00"])
def test_a_spec_that_is_not_utf8_is_one_line(tmp_path, content):
    spec = tmp_path / "latin1.toml"
    spec.write_bytes(content)
    with pytest.raises(sk.SparsekitError, match="not a UTF-8 text file"):
        read_spec(spec)


def test_an_unknown_name_fails_before_any_worker_or_error_file(tmp_path, capsys, no_worker):
    spec = tmp_path / "spec.toml"
    spec.write_text('[grid]\nmask = ["random", "psychic"]\n[fixed]\ndataset = "digits"\n')
    assert "unknown mask method 'psychic'" in one_error_line(capsys, ["sweep", str(spec), "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()


# ---- sk.sweep ---------------------------------------------------------------------------------
@pytest.mark.parametrize("options,expected", [
    (dict(out=5), "the sweep's out must be a folder's path"),
    (dict(out=["runs"]), "the sweep's out must be a folder's path"),
    (dict(progress="yes"), "progress must be True or False"),
    (dict(overwrite=1), "overwrite must be True or False"),
    (dict(backend="ray", cpus_per_run=float("nan")), "cpus_per_run must be a finite number"),
    (dict(backend="ray", gpus_per_run=-1), "gpus_per_run must be in"),
    (dict(gpus_per_run=1), "gpus_per_run applies to the ray backend only"),
    (dict(name=3.5), "the sweep's name must be a template"),
    (dict(workers=0), "workers must be a whole number >= 1"),
])
def test_sweep_options_of_the_wrong_type_are_refused_before_any_run(tmp_path, no_worker, options, expected):
    with pytest.raises(sk.SparsekitError, match=expected.replace("(", r"\(")):
        sk.sweep(grid={"seed": [0]}, fixed=FIXED, **{"out": str(tmp_path / "out"), **options})
    assert tree(tmp_path) == []


@pytest.mark.parametrize("grid", [None, {}])
def test_an_empty_grid_is_refused_not_run_once(tmp_path, no_worker, grid):
    with pytest.raises(sk.SparsekitError, match="grid is empty"):
        sk.sweep(grid=grid, fixed=FIXED, out=str(tmp_path / "out"))


# ---- the notebook runner ------------------------------------------------------------------------
@pytest.fixture
def no_kernel(monkeypatch):
    monkeypatch.setattr(notebook_runner, "_execute", lambda *a, **k: pytest.fail("a kernel was started"))


@pytest.mark.parametrize("param,expected", [
    ("SPARSITY=1.01", "parameter SPARSITY = 1.01: sparsity must be in [0, 1)"),
    ("EPOCHS=0", "parameter EPOCHS = 0: epochs must be a whole number >= 1"),
    ("WIDTH=-0.5", "parameter WIDTH = -0.5: width"),
    ("SEED=-1", "parameter SEED = -1: seed must be"),
    ("MODEL='resnet9'", "parameter MODEL = 'resnet9': unknown model 'resnet9'"),
    ("DATASET='mnist'", "parameter DATASET = 'mnist': unknown dataset 'mnist'"),
    ("METHOD='SNIP'", "parameter METHOD = 'SNIP': unknown mask method 'SNIP'"),
])
def test_a_parameter_value_the_notebook_would_refuse_starts_no_kernel(tmp_path, capsys, no_kernel, param, expected):
    out = tmp_path / "out"
    err = one_error_line(capsys, ["notebooks", "--only", "01", "--param", param, "--out", str(out)])
    assert "01_dense_and_random.ipynb" in err and expected in err, err
    assert not out.exists()


def test_list_parameters_are_checked_value_by_value(tmp_path, no_kernel):
    with pytest.raises(sk.SparsekitError, match=r"SPARSITIES = \[0.5, 1.5\]: sparsity must be in \[0, 1\)"):
        notebook_runner.run_all("smoke", tmp_path / "out", only=["09"], extra={"SPARSITIES": [0.5, 1.5]})
    with pytest.raises(sk.SparsekitError, match="PATTERNS = .*2:1"):
        notebook_runner.run_all("smoke", tmp_path / "out", only=["08"], extra={"PATTERNS": ["2:4", "2:1"]})
    assert not (tmp_path / "out").exists()


def test_every_notebooks_own_parameters_pass_the_check(tmp_path):
    for mode in ("smoke", "full"):
        for path in notebook_runner.notebook_paths():
            notebook_runner.check_declared(path, notebook_runner.parameters_for(path, mode, tmp_path))


# ---- TensorBoard ---------------------------------------------------------------------------------
@pytest.mark.parametrize("where,expected", [("file", "is a file"), ("under", "is under a file")])
def test_tensorboard_onto_a_file_is_refused_before_any_work(tmp_path, capsys, where, expected):
    pytest.importorskip("tensorboard")
    (tmp_path / "log").write_text("mine\n")
    target = tmp_path / "log" if where == "file" else tmp_path / "log" / "tb"
    err = one_error_line(capsys, ["train", "--epochs", "1", "--max-batches", "1", "--width", "0.25", "--no-progress",
                                  "--out", str(tmp_path / "run"), "--tensorboard", str(target)])
    assert f"tensorboard {target} {expected}" in err
    assert tree(tmp_path) == ["log"] and (tmp_path / "log").read_text() == "mine\n"
