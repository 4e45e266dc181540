"""The notebook course: every notebook runs headless with smoke parameters (papermill, kernel
python3) and writes a result JSON whose numbers are checked here; committed notebooks are
clean and share one cell order; a parameter a notebook does not declare is refused."""
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import papermill
import pytest
import torch
from helpers import prunable_weight_count
from sparsekit.app import badges, course_map
from sparsekit.app import notebook_runner as runner
from sparsekit.core.errors import SparsekitError
from sparsekit.recipe import TRICKS as RECIPE_TRICKS

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
NAMES = [path.stem for path in NOTEBOOKS]
REQUIRED_PARAMETERS = {"DATASET", "MODEL", "WIDTH", "METHOD", "SPARSITY", "EPOCHS", "SEED", "INTERACTIVE",
                       "PROGRESS", "RESULTS_PATH"}
SECTION_ORDER = ["## The idea", "## From scratch", "## Run", "## Figure", "## What to look for", "## Result",
                 "## Try it yourself"]
# Notebooks that write their method's or trick's core in plain torch beside its formula ("## From scratch"),
# with a check against the engine; every other notebook has no such section.
FROM_SCRATCH = {"01_dense_and_random", "02_magnitude_and_lottery_ticket", "03_snip", "04_grasp", "05_synflow",
                "06_comparing_masks", "07_dynamic_sparse_training", "08_n_m_sparsity", "09_mask_graphs",
                "10_ghost_neurons", "11_ghost_skip_connections", "12_modified_initialization", "13_label_smoothing",
                "14_any_mask_full_recipe", "15_is_it_faster", "16_your_own_network"}
# Notebooks that put a claim of the paper to the numbers: seeds, and a verdict from them.
CLAIM_NOTEBOOKS = ["10_ghost_neurons", "11_ghost_skip_connections", "12_modified_initialization",
                   "13_label_smoothing", "14_any_mask_full_recipe"]
TRICKS = set(RECIPE_TRICKS)  # every trick the recipe declares
# Measured with the smoke settings (width 0.25, 5 epochs, sparsity 0.5): runs reach 0.4-0.9
# test accuracy; chance on the ten digits is 0.1.
ACCURACY_FLOOR = 0.2
# Notebooks whose runs all keep the first conv dense (prune_first_layer=False): an N:M pattern
# cannot group its 1x3x3 = 9 inputs per output.
FIRST_LAYER_DENSE = {"08_n_m_sparsity"}
# Notebooks whose runs compare recipe presets by column: labels "mask / preset[ / seed N]".
PRESET_COLUMNS = {"14_any_mask_full_recipe", "16_your_own_network"}
# Notebooks that train a network of another package rather than the kit's ResNet-20. Their
# smoke network (torchvision's MobileNetV2, which downsamples 32x) stays near chance on 8x8 digits
# in a smoke run, so instead of the accuracy floor they are held to their export: exact to 1e-4.
OWN_NETWORK = {"16_your_own_network"}


def own_network_weight_count(model: str, width: float) -> int:
    """Prunable weights of a torchvision network on digits: every conv (the first included);
    the classifier, its last Linear, stays dense (counted from its modules, not via the kit)."""
    import sparsekit as sk

    network = sk.models.build(model, 10, in_channels=1, width=width)
    return sum(m.weight.numel() for m in network.modules() if isinstance(m, torch.nn.Conv2d))
# Recipe tricks each notebook's runs must have recorded, by run label (absent: none).
EXPECTED_TRICKS = {
    "10_ghost_neurons": {"ghost neurons, early": {"ghost_neurons"}, "ghost neurons, keep": {"ghost_neurons"}},
    "11_ghost_skip_connections": {"ghost skip, early": {"ghost_skip"}, "ghost skip, keep": {"ghost_skip"}},
    "12_modified_initialization": {"GradInit": {"init"}, "GradInit, masked": {"init"},
                                   "scaled by 1/sqrt(density)": {"init"}},
    "13_label_smoothing": {"label smoothing 0.1": {"label_smoothing"}},
}


@pytest.fixture(scope="module")
def smoke_out(tmp_path_factory):
    return tmp_path_factory.mktemp("notebooks-smoke")




@pytest.fixture(autouse=True)
def from_the_repository_root(monkeypatch):
    """The runner finds the course from the current directory, as its command does."""
    monkeypatch.chdir(REPO)
    monkeypatch.delenv(runner.COURSE_VARIABLE, raising=False)
PARAMETER_LINE_LIMIT = 99  # characters: a parameters cell's hints must not run off the right edge


def committed_text(path: Path) -> str:
    """The notebook as committed (HEAD), so a learner who ran the course in place (outputs and
    metadata in the working copy) is not told that the tests fail; the file itself when it is
    not committed yet or there is no git checkout (a source archive)."""
    relative = path.resolve().relative_to(REPO.resolve()).as_posix()
    try:
        shown = subprocess.run(["git", "show", f"HEAD:{relative}"], cwd=REPO, capture_output=True, text=True)
    except OSError:  # no git on this machine
        return path.read_text()
    return shown.stdout if shown.returncode == 0 else path.read_text()


def sections_of(name: str) -> list:
    """The `##` sections a notebook has, in order: "From scratch" only in FROM_SCRATCH."""
    return [header for header in SECTION_ORDER if header != "## From scratch" or name in FROM_SCRATCH]


# ---- committed notebooks -----------------------------------------------------------------
def test_the_course_is_complete_and_the_map_has_every_notebook():
    assert NAMES[:2] == ["00_index", "01_dense_and_random"]
    map_text = course_map.markdown()
    for path in NOTEBOOKS:
        entry = course_map.entry(path)
        title = nbformat.read(path, as_version=4).cells[0].source.splitlines()[0]
        assert title == f"# {entry.number:02d} · {entry.title}" and path.stem.startswith(f"{entry.number:02d}_")
        rows = [line for line in map_text.splitlines() if f"({path.stem}.ipynb)" in line]
        # The path table's row (runtimes), and for every notebook but the map its part's row (the question).
        assert any(entry.default_runtime in row and entry.smoke_runtime in row for row in rows), path.stem
        if entry.number:
            assert any(course_map._cell(entry.question) in row for row in rows), path.stem
            assert "**Runtime**" not in entry.question and "ipynb" not in entry.question
    assert f"The course has {len(course_map.PARTS)} parts." in map_text
    assert "course_map.markdown()" in ((REPO / "notebooks") / "00_index.ipynb").read_text()


def test_a_new_notebook_joins_the_map(tmp_path):
    for path in NOTEBOOKS[:2] + NOTEBOOKS[-1:]:
        shutil.copy(path, tmp_path / path.name)
    notebook = nbformat.read(NOTEBOOKS[-1], as_version=4)
    notebook.cells[0].source = ("# 16 · Your own network\n\n**Runtime** (measured): default parameters 2 min; smoke "
                                "parameters (the test suite's) 9 s.\n\n← [15 x](15_x.ipynb) · [course map](00_index.ipynb)"
                                "\n\nCan the recipe train a network you bring?")
    nbformat.write(notebook, tmp_path / "16_your_own_network.ipynb")
    text = course_map.markdown(tmp_path)
    assert "| [16 Your own network](16_your_own_network.ipynb) | Can the recipe train a network you bring? |" in text
    assert "| 16 | [16 Your own network](16_your_own_network.ipynb) | 2 min | 9 s |" in text
    bad = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("no title")])
    nbformat.write(bad, tmp_path / "17_bad.ipynb")
    with pytest.raises(SparsekitError, match="17_bad.ipynb: the first cell must start with a title line"):
        course_map.markdown(tmp_path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_committed_notebook_is_clean_and_in_course_order(path):
    notebook = nbformat.reads(committed_text(path), as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "outputs committed: run `make strip`"
    title, parameters, imports = notebook.cells[:3]
    assert title.cell_type == "markdown" and title.source.startswith("# ")
    assert badges.badge_link(path.stem) in title.source
    assert "**Runtime**" in title.source and "smoke parameters" in title.source
    position = NAMES.index(path.stem)
    for neighbour in (NAMES[position - 1] if position else None, NAMES[position + 1] if position + 1 < len(NAMES) else None):
        assert neighbour is None or f"({neighbour}.ipynb)" in title.source, f"no link to {neighbour}"
    assert parameters.cell_type == "code" and "parameters" in parameters.metadata.get("tags", [])
    assert REQUIRED_PARAMETERS <= set(papermill.inspect_notebook(str(path)))
    too_long = [line for line in parameters.source.splitlines() if len(line) > PARAMETER_LINE_LIMIT]
    assert not too_long, f"parameters cell lines over {PARAMETER_LINE_LIMIT} characters: {too_long}"
    assert "%matplotlib inline" in imports.source and "import sparsekit" in imports.source
    headers = [line for cell in notebook.cells if cell.cell_type == "markdown"
               for line in cell.source.splitlines() if line.startswith("## ")]
    assert headers == sections_of(path.stem)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert code[-1].startswith("if INTERACTIVE:") and "panel(" in code[-1]
    assert "notebook_warnings.one_line()" in imports.source
    # Answers are folded <details> blocks: nothing but "Answer N" shows until opened (a hidden
    # cell would show its first line as a preview).
    answers = [cell for cell in notebook.cells if "answer" in cell.metadata.get("tags", [])]
    assert 2 <= len(answers) <= 3
    for number, cell in enumerate(answers, 1):
        assert cell.cell_type == "markdown" and not cell.metadata.get("jupyter", {}).get("source_hidden")
        assert cell.source.startswith(f"<details><summary><b>Answer {number}</b>") and \
            cell.source.rstrip().endswith("</details>"), f"answer {number} is not a folded <details> block"
    assert any(cell.source.startswith("### Exercises") for cell in notebook.cells)
    assert any("save_figure(" in source for source in code)
    if path.stem in CLAIM_NOTEBOOKS:
        assert "SEEDS" in papermill.inspect_notebook(str(path))
        assert any("claim_and_measurement(" in source for source in code)
    assert any("write_result(" in source and "RESULTS_PATH" in source for source in code)
    assert "MPLBACKEND" not in path.read_text()
    # One course namespace: every sparsekit name a notebook uses (answers included) comes from
    # `sparsekit.course`, so the layers below can move without editing the course.
    everything = "\n".join(cell.source for cell in notebook.cells)
    other = sorted(set(re.findall(r"from (sparsekit[\w.]*) import", everything)) - {"sparsekit.course"})
    assert not other, f"imports {other}: import from sparsekit.course"
    # The datasets are listed by the kit (`sk.data.available()`), not restated by hand in a comment.
    assert not re.search(r"DATASET = .*#.*cifar", parameters.source), "the DATASET comment restates the dataset list"
    if path.stem in CLAIM_NOTEBOOKS:
        assert any("converged_study(" in source for source in code), "no evidence from the converged study"


def test_nbstripout_leaves_committed_notebooks_unchanged(tmp_path):
    tool = Path(sys.executable).with_name("nbstripout")
    if not tool.exists():
        pytest.skip("nbstripout is not installed next to this Python (pip install nbstripout)")
    copies = [tmp_path / path.name for path in NOTEBOOKS]
    committed = [committed_text(path) for path in NOTEBOOKS]
    for text, copy in zip(committed, copies):
        copy.write_text(text)
    subprocess.run([str(tool), *map(str, copies)], check=True)
    changed = [copy.name for text, copy in zip(committed, copies) if copy.read_text() != text]
    assert not changed, f"run `make strip`: nbstripout changes {changed}"


# ---- the runner's parameter check ------------------------------------------------------
def test_an_undeclared_parameter_fails_before_running(tmp_path):
    with pytest.raises(SparsekitError, match="does not declare parameter.*SPARSTY.*it declares: .*SPARSITY"):
        runner.run_all("smoke", tmp_path, only=["01"], extra={"SPARSTY": 0.8})
    assert not list(tmp_path.iterdir())  # refused before anything executed or was written
    assert runner.main(["--smoke", "--only", "01", "--param", "SPARSTY=0.8", "--out", str(tmp_path)]) == 2


def test_runner_options_are_checked(tmp_path):
    with pytest.raises(SparsekitError, match="no notebook named"):
        runner.notebook_paths(only=["99"])
    with pytest.raises(SparsekitError, match="NAME=VALUE"):
        runner.parse_assignment("SPARSITY")
    assert runner.parse_assignment("METHODS=['snip']") == ("METHODS", ["snip"])
    assert runner.parse_assignment("METHOD=snip") == ("METHOD", "snip")
    smoke = runner.parameters_for(NOTEBOOKS[0], "smoke", tmp_path)
    assert smoke["INTERACTIVE"] is False and smoke["PROGRESS"] is False and smoke["EPOCHS"] <= 5
    assert Path(smoke["RESULTS_PATH"]).parent == tmp_path.resolve()
    full = runner.parameters_for(NOTEBOOKS[0], "full", tmp_path)
    assert set(full) == {"INTERACTIVE", "PROGRESS", "RESULTS_PATH"}


@pytest.mark.parametrize("args, says", [
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--threads", "0"], "threads must be a whole number >= 1"),
    (["--threads", "two"], "invalid int value"),
    (["--timeout", "0"], "timeout must be a whole number of seconds >= 1"),
    (["--smoke", "--full"], "not allowed with"),
    (["--param", "SPARSITY=abc"], "parameter SPARSITY takes a number"),
    (["--param", "INTERACTIVE=1"], "parameter INTERACTIVE takes True or False"),
])
def test_bad_runner_arguments_are_one_error_line_and_leave_nothing(args, says, tmp_path, capsys):
    """As for `sparsekit train`: exit status 2, one `error:` line, the output folder never made."""
    out = tmp_path / "out"
    assert runner.main(args + ["--only", "01", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and says in captured.err and captured.err.count("\n") == 1
    assert not captured.out and not out.exists()
    (tmp_path / "file").write_text("")
    assert runner.main(["--only", "01", "--out", str(tmp_path / "file")]) == 2  # an --out that is a file
    assert capsys.readouterr().err.startswith("error: out ")


# ---- every notebook, executed ----------------------------------------------------------
SMOKE_TEST = "test_notebook_runs_with_smoke_parameters"
SMOKE_JOBS = 2  # each smoke kernel computes on one thread: two at a time keep two cores busy


@pytest.fixture(scope="module")
def smoke_runs(request, smoke_out) -> dict:
    """The selected notebooks' smoke runs, two at a time, done once: name -> run. Empty when
    one failed: each test then runs its own notebook alone, so a failure is reported by the
    test of the notebook that failed."""
    selected = [item.callspec.params["name"] for item in request.session.items
                if item.originalname == SMOKE_TEST and item.module is request.module]
    try:
        runs = runner.run_all("smoke", smoke_out, only=selected, report=lambda line: None, jobs=SMOKE_JOBS)
    except Exception:  # noqa: BLE001 - told apart by the tests of each notebook below
        return {}
    return {run.name: run for run in runs}


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_with_smoke_parameters(name, smoke_out, smoke_runs, capsys):
    run = smoke_runs.get(name)
    if run is None:
        (run,) = runner.run_all("smoke", smoke_out, only=[name], report=lambda line: None)
    with capsys.disabled():
        print(f"\n[notebook] {name}: {run.seconds:.1f} s")
    parameters = runner.parameters_for((REPO / "notebooks") / f"{name}.ipynb", "smoke", smoke_out)
    result = json.loads(run.results_path.read_text())
    assert result["notebook"] == name and result["requested_sparsity"] == parameters["SPARSITY"]
    if name in OWN_NETWORK:
        total = own_network_weight_count(parameters["MODEL"], parameters["WIDTH"])
    else:
        total = prunable_weight_count(parameters["WIDTH"], first_layer=name not in FIRST_LAYER_DENSE)
    assert result["runs"]
    for label, summary in result["runs"].items():
        requested = summary["requested_sparsity"]
        assert requested in (parameters["SPARSITY"], 0.0), label
        kept = int((1 - requested) * total + 0.5)  # round half up, over all prunable weights
        assert (summary["kept"], summary["total"]) == (kept, total), label
        assert summary["density"] == pytest.approx(kept / total, abs=1e-12)
        assert summary["sparsity"] == pytest.approx(1 - kept / total, abs=1e-12)
        assert summary["nonzero_density"] <= summary["density"] + 1e-12
        if name not in OWN_NETWORK:  # see OWN_NETWORK: its smoke network stays near chance on 8x8 digits
            assert summary["best_val_test_acc"] > ACCURACY_FLOOR, label
        assert summary["epochs"] == parameters["EPOCHS"]
        on = {trick for trick, flag in summary["recipe"].items() if flag}
        assert set(summary["recipe"]) == TRICKS
        if name == "09_mask_graphs":  # every run recorded where its coordinate started and ended
            spectral = result["spectral"][label]
            assert spectral["distance"] is not None and spectral["init"]["layers_measured"] > 0, label
        if name in PRESET_COLUMNS:  # labels "mask / recipe[ / seed N]"
            assert on == (TRICKS if label.split(" / ")[1] in ("tost", "tost-release") else set()), label
        else:  # labels "variant" or "variant / seed N"
            assert on == EXPECTED_TRICKS.get(name, {}).get(label.split(" / seed ")[0], set()), label
    assert runner_figure(run).is_file(), "the figure was not saved beside the results"
    if name in CLAIM_NOTEBOOKS:
        assert result["verdicts"] and "claim" in result
    if name in OWN_NETWORK:
        assert result["model"] == parameters["MODEL"] and result["export_max_difference"] <= 1e-4
        latency = result["latency"]
        assert max(latency["exported_max_diff"], latency["onnxruntime_max_diff"]) <= 1e-4
        assert min(latency["masked_ms"], latency["exported_ms"], latency["onnxruntime_ms"]) > 0
    executed = nbformat.read(run.output_path, as_version=4)
    figure_at = next(i for i, c in enumerate(executed.cells) if c.cell_type == "markdown"
                     and c.source.startswith("## Figure"))
    figure_outputs = [o for c in executed.cells[figure_at:] for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in figure_outputs), "the figure was not drawn inline"
    assert not any(o.get("output_type") == "error" for c in executed.cells for o in c.get("outputs", []))
    # Every answer's code ran after the notebook, in its namespace (an undefined name fails above).
    answered = [c for c in executed.cells if runner.ANSWER_CODE_TAG in c.metadata.get("tags", [])]
    assert [c.source for c in answered] == runner.answer_code(nbformat.read((REPO / "notebooks") / f"{name}.ipynb",
                                                                            as_version=4))
    assert all(c.execution_count for c in answered)


def runner_figure(run):
    from sparsekit.report.results import figure_path

    return figure_path(run.results_path)


def test_executed_parameters_cell_is_followed_by_injected_values(smoke_out):
    path = smoke_out / "01_dense_and_random.ipynb"
    if not path.exists():
        pytest.skip("needs the smoke run of 01")
    cells = nbformat.read(path, as_version=4).cells
    injected = cells[2]
    assert "injected-parameters" in injected.metadata.get("tags", [])
    assert re.search(r"^INTERACTIVE = False$", injected.source, re.M)


def test_notebooks_run_at_once_come_back_in_order_and_a_failure_stops_the_series(tmp_path, monkeypatch):
    """`jobs`: the pool's logic, with each kernel replaced by a stand-in that takes its time."""
    started = []

    def execute(path, out_dir, parameters, *args, **kwargs):
        started.append(path.stem)
        if path.stem.startswith("01"):
            raise RuntimeError("01 failed")
        time.sleep(0.3 if path.stem.startswith("00") else 0.01)
        return runner.NotebookRun(path.stem, out_dir / path.name, Path(parameters["RESULTS_PATH"]), 0.0)

    monkeypatch.setattr(runner, "_execute", execute)
    runs = runner.run_all("smoke", tmp_path, only=["00", "02", "03"], report=lambda line: None, jobs=2)
    assert [run.name[:2] for run in runs] == ["00", "02", "03"]
    started.clear()
    with pytest.raises(RuntimeError, match="01 failed"):
        runner.run_all("smoke", tmp_path, only=["00", "01", "02", "03", "04"], report=lambda line: None, jobs=2)
    assert "01_dense_and_random" in started[:2]
    assert len(started) < 5, "notebooks not started when one failed must not run"
    with pytest.raises(SparsekitError, match="jobs"):
        runner.run_all("smoke", tmp_path, only=["00"], jobs=0)


# ---- a learner's mistake in a parameters cell ---------------------------------------------
def test_a_typo_in_a_list_parameter_stops_in_the_settings_cell_as_one_line(tmp_path):
    """`METHODS = ["random", "SNIP"]` in 14 trained 3 of 6 runs before failing; now its
    settings cell refuses it before any training, and the error shows as its one line with the
    full traceback folded below (the course's set-up call). The runner refuses the value before
    any kernel starts (tests/test_bad_scale.py); a learner typing it in Jupyter has no runner, so
    the notebook is executed here past the runner's check, as Jupyter would."""
    (path,) = runner.notebook_paths(only=["14"])
    parameters = runner.parameters_for(path, "smoke", tmp_path, {"METHODS": ["random", "SNIP"]})
    with pytest.raises(SparsekitError, match=r"METHODS = \['random', 'SNIP'\]: unknown mask method 'SNIP'"):
        runner.check_declared(path, parameters)
    with pytest.raises(papermill.PapermillExecutionError, match=r"METHODS\[1\] = 'SNIP': unknown mask method"):
        runner._execute(path, tmp_path, parameters, runner.CELL_TIMEOUT_S, False, runner.SMOKE_THREADS)
    cells = nbformat.read(tmp_path / "14_any_mask_full_recipe.ipynb", as_version=4).cells
    failed = [i for i, c in enumerate(cells) if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failed) == 1
    cell = cells[failed[0]]
    assert "check_each(settings, \"METHODS\"" in cell.source and not any("compare_recipes(" in c.source
                                                                          for c in cells[:failed[0] + 1])
    assert all(c.get("execution_count") is None for c in cells[failed[0] + 1:] if c.cell_type == "code")
    (error,) = [o for o in cell.outputs if o.output_type == "error"]
    assert error.ename == "SparsekitError" and len(error.traceback) == 1
    assert "METHODS[1] = 'SNIP'" in error.traceback[0]
    folded = [o for o in cell.outputs if o.output_type == "display_data" and "text/html" in o.data]
    assert folded and folded[0].data["text/html"].startswith("<details><summary>full traceback")
    assert "Traceback" in folded[0].data["text/html"] or "check_each" in folded[0].data["text/html"]

