"""The course as a learner meets it, in a real browser: JupyterLab on localhost, driven
through Debian's Chromium with Playwright. Opens a copy of the course index with tiny
parameters and a learner's mistake (`SPARSITY = 1.0`) in a cell after the parameters; Run All
stops in the settings cell with the error as ONE line and the full traceback folded below it
(opened with a click). The mistake is fixed in the browser and Run All runs through. Then the
panel: the sparsity slider moves, Run trains and the live plot changes; a seeds count of 50
is clamped to the panel's most, with a word; a second run with 2 seeds joins the first on the
plot (each labelled, the second with its spread over seeds); Clear empties it.
A screenshot (taken with the two runs) goes to build/browser/panel.png."""
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parent.parent
SCREENSHOT = REPO / "build" / "browser" / "panel.png"
TINY = {"WIDTH": 0.25, "EPOCHS": 3, "SPARSITY": 0.5, "PROGRESS": False, "METHOD": "random",
        "RESULTS_PATH": "results/browser.json"}
MISTAKE = "SPARSITY = 1.0  # a learner's mistake: a sparsity of 1 keeps no weight"
FIXED = "SPARSITY = 0.5"
SLIDER_STEPS = 5  # arrow presses; the slider's step is 0.01
SERVER_START_S = 240
# Browser waits are scaled by this: a small CPU shared with other jobs can be several times slower.
PATIENCE = 4


def _skip_reason():
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (install Debian's: apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright for Python is not installed (pip install playwright)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _prepare_notebook(folder: Path) -> str:
    """A copy of 00_index with a cell of tiny parameters after its parameters cell (as
    papermill would inject them), then a cell holding the learner's mistake."""
    import nbformat

    notebook = nbformat.read(REPO / "notebooks" / "00_index.ipynb", as_version=4)
    at = next(i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", []))
    values = "\n".join(f"{name} = {value!r}" for name, value in TINY.items())
    notebook.cells.insert(at + 1, nbformat.v4.new_code_cell(values))
    notebook.cells.insert(at + 2, nbformat.v4.new_code_cell(MISTAKE))
    nbformat.write(notebook, folder / "panel.ipynb")
    return "panel.ipynb"


MISTAKE_CELL = 3  # title, parameters, tiny values, the mistake


@contextlib.contextmanager
def _jupyterlab_server(root: Path, state: Path, env: dict):
    """JupyterLab serving `root` on a free localhost port with a fresh token; yields the base
    URL and token. `state` holds its config, settings and log."""
    port, token = _free_port(), secrets.token_hex(16)
    log = open(state / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--ServerApp.open_browser=False", "--allow-root", "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=root, env=dict(env, JUPYTER_CONFIG_DIR=str(state / ".config")), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        # Generous: on a small CPU shared with other jobs JupyterLab has taken over a minute to start.
        deadline = time.time() + SERVER_START_S
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    tail = (state / "jupyterlab.log").read_text()[-1500:]
                    raise RuntimeError(f"JupyterLab did not start within {SERVER_START_S} s:\n{tail}")
                time.sleep(0.5)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture
def jupyterlab(tmp_path):
    reason = _skip_reason()
    if reason:
        print(f"skipping the browser test: {reason}")
        pytest.skip(reason)
    name = _prepare_notebook(tmp_path)
    # One compute thread: on a small shared CPU two torch threads mostly wait on each other.
    # The copy sits outside the checkout, so its kernel is told where the course is, as the
    # notebook runner tells the kernels it starts in an output folder.
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", SPARSEKIT_NOTEBOOKS=str(REPO / "notebooks"))
    with _jupyterlab_server(tmp_path, tmp_path, env) as (base, token):
        yield f"{base}/lab/tree/{name}?token={token}"


def test_panel_runs_in_jupyterlab(jupyterlab):
    from playwright.sync_api import sync_playwright

    started = time.time()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                _drive_panel(page, jupyterlab)
            except Exception:
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOT.with_name("failure.png")), full_page=True)
                raise
        finally:
            browser.close()
    print(f"browser test: {time.time() - started:.1f} s; screenshot {SCREENSHOT}")


def _drive_panel(page, url):
    """Run all cells, move the slider, press Run, and check the live plot and status."""
    from playwright.sync_api import expect

    page.goto(url)
    page.locator(".jp-Notebook").wait_for(timeout=60_000 * PATIENCE)
    # A fresh JupyterLab may ask which kernel to start: take the preselected one (python3).
    select = page.locator(".jp-Dialog button", has_text="Select")
    try:
        select.wait_for(timeout=10_000 * PATIENCE)
        select.click()
    except Exception:  # no dialog: the kernel started by itself
        pass
    expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(
        1, timeout=60_000 * PATIENCE)
    news = page.locator(".jp-toast-button", has_text="No")  # "get notified about Jupyter news?"
    if news.count():
        news.first.click()
    _run_all(page)

    # The mistake: Run All stops at the settings cell, the error in one line, the traceback folded.
    error = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    expect(error).to_have_count(1, timeout=90_000 * PATIENCE)
    expect(error).to_contain_text("SparsekitError: sparsity must be in [0, 1)")
    assert len(error.inner_text().strip().splitlines()) == 1, error.inner_text()
    folded = page.locator("details", has=page.locator("summary", has_text="full traceback"))
    expect(folded).to_have_count(1)
    expect(folded.locator("pre")).to_be_hidden()
    folded.locator("summary").click()
    expect(folded.locator("pre")).to_be_visible()
    expect(folded.locator("pre")).to_contain_text("ExperimentSettings")
    expect(page.locator(".widget-hslider")).to_have_count(0)  # nothing after the failing cell ran

    # The fix, typed into the cell, and Run All again.
    editor = page.locator(".jp-Notebook .jp-Cell").nth(MISTAKE_CELL).locator(".cm-content")
    expect(editor).to_contain_text("SPARSITY = 1.0")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(FIXED)
    expect(editor).to_have_text(FIXED)
    _run_all(page)

    panel = page.locator(".widget-vbox").filter(has=page.locator(".widget-hslider")).last
    panel.wait_for(timeout=90_000 * PATIENCE)
    slider = panel.locator(".widget-hslider")
    readout = slider.locator(".widget-readout")
    expect(readout).to_have_text("0.50")
    slider.locator(".noUi-handle").click()
    for _ in range(SLIDER_STEPS):
        page.keyboard.press("ArrowRight")
    expect(readout).to_have_text(f"{0.5 + SLIDER_STEPS / 100:.2f}")

    plot = panel.locator(".jp-OutputArea img")
    panel.locator("button", has_text="Run").click()
    expect(plot).to_have_count(1, timeout=60_000 * PATIENCE)
    first = plot.get_attribute("src")
    status = panel.locator(".widget-html").first  # the status line; the list of runs follows it
    expect(status).to_contain_text("done", timeout=90_000 * PATIENCE)
    final = plot.get_attribute("src")
    assert final != first, "the live plot did not change while training"
    # The run used the slider's sparsity: 0.55 -> density 0.45.
    expect(status).to_contain_text(f"density {1 - (0.5 + SLIDER_STEPS / 100):.4f}")
    progress = panel.locator(".widget-hprogress .progress-bar")
    assert progress.get_attribute("style") and "100%" in progress.get_attribute("style")

    # Too many seeds are clamped, with a word; a second run with 2 seeds joins the first.
    runs = panel.locator(".sparsekit-run")
    expect(runs).to_have_count(1)
    expect(runs.nth(0)).to_contain_text("(1 seed)")
    seeds = panel.locator(".widget-text", has_text="seeds").locator("input")
    seeds.fill("50")
    seeds.press("Enter")
    expect(status).to_contain_text("seeds 50 is above the most the panel runs: set to 5")
    expect(seeds).to_have_value("5")
    seeds.fill("2")
    seeds.press("Enter")
    panel.locator("button", has_text="Run").click()
    expect(runs).to_have_count(2, timeout=90_000 * PATIENCE)
    expect(status).to_contain_text("done", timeout=90_000 * PATIENCE)
    expect(runs.nth(0)).to_contain_text(f"random {0.5 + SLIDER_STEPS / 100:.2f}")
    expect(runs.nth(1)).to_contain_text("#2")  # the same settings again: a numbered second curve
    expect(runs.nth(1)).to_contain_text("2 seeds")  # seeds 0 and 1, where the first run had seed 0
    assert plot.get_attribute("src") != final, "the second run was not drawn"
    panel.scroll_into_view_if_needed()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    panel.screenshot(path=str(SCREENSHOT))

    panel.locator("button", has_text="Clear").click()
    expect(runs).to_have_count(0)


def _run_all(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


# ---- notebook 14 after Run All, with JupyterLab started from `notebooks/` ---------------------
STUDY = REPO / "benchmarks" / "results" / "study-converged"
FIXTURE_ANSWER = REPO / "tests" / "fixtures" / "formats" / "5d782a0" / "answer.json"  # the first one written
ANSWER_SCREENSHOT = REPO / "build" / "browser" / "answer.png"
NOTEBOOK_14 = "14_any_mask_full_recipe"
# Every cell rendered, so "what comes before the figure" is the notebook's order, not what the
# window happened to draw.
NO_WINDOWING = {"windowingMode": "none"}
ANSWER_LABEL = "The converged study's answer."  # bold, before the sentence (notebook 14's answer cell)


def _course_tree(root: Path) -> Path:
    """A checkout as the kernel sees it, under `root`: the notebook in `source/`, the converged
    study's committed files linked in `benchmarks/`, with the study's answer.json where the
    checkout has one, else the first answer file the study wrote (a format fixture)."""
    source = root / "source"
    source.mkdir(parents=True)
    shutil.copy(REPO / "notebooks" / f"{NOTEBOOK_14}.ipynb", source)
    study = root / "benchmarks" / "results" / "study-converged"
    study.mkdir(parents=True)
    for entry in STUDY.iterdir():
        (study / entry.name).symlink_to(entry)
    if not (study / "answer.json").exists():
        shutil.copy(FIXTURE_ANSWER, study / "answer.json")
    return source


def _visible_tables_and_images(page) -> dict:
    """Where things sit in the notebook's document order: the index (among every element) of
    the verdict sentence, the answer figure, the first table (a rendered table, or a printed
    table of runs), and every image that failed to load (external images are listed apart:
    the test runs offline)."""
    return page.evaluate("""([label, sentence]) => {
        const plain = text => text.replace(/[`*_]/g, '').replace(/\\s+/g, ' ').trim();
        const all = Array.from(document.querySelectorAll('.jp-Notebook *'));
        const strong = all.find(e => e.tagName === 'STRONG' && e.textContent.trim() === label &&
                                     plain(e.parentElement.textContent).includes(plain(sentence)));
        const cell = strong && strong.closest('.jp-Cell');
        const figure = cell && cell.querySelector('.jp-OutputArea img');
        const tables = all.filter(e => e.tagName === 'TABLE' ||
            (e.tagName === 'PRE' && /best_val_test_acc|\\| mask \\|/.test(e.textContent)));
        const local = img => img.src.startsWith('data:') || img.src.startsWith(location.origin);
        const images = Array.from(document.images);
        return {sentence: strong ? all.indexOf(strong) : -1, figure: figure ? all.indexOf(figure) : -1,
                first_table: tables.length ? all.indexOf(tables[0]) : -1, tables: tables.length,
                broken: images.filter(i => local(i) && i.complete && i.naturalWidth === 0).map(i => i.src.slice(0, 80)),
                loading: images.filter(i => local(i) && !i.complete).length,
                external: images.filter(i => !local(i)).map(i => i.src), images: images.length};
    }""", [ANSWER_LABEL, _answer_sentence()])


def _answer_sentence() -> str:
    """The sentence the notebook shows, as text (markdown marks dropped)."""
    path = STUDY / "answer.json" if (STUDY / "answer.json").exists() else FIXTURE_ANSWER
    return " ".join(json.loads(path.read_text())["sentence"].replace("`", "").split())


def test_notebook_14_opens_with_its_answer_first(tmp_path):
    """Run All (papermill, smoke parameters) on a copy of notebook 14, then open it in JupyterLab
    started from `notebooks/`: the verdict sentence and the figure come before any table and are
    visible, and no image on the page is broken."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    from sparsekit.app import notebook_runner as runner

    started = time.time()
    course = tmp_path / "course"
    source = _course_tree(course)
    notebooks = course / "notebooks"
    runner.run_all("smoke", notebooks, only=[NOTEBOOK_14], directory=source, report=lambda line: None)
    executed = time.time() - started
    settings = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps(NO_WINDOWING))
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"))
    env.pop("SPARSEKIT_NOTEBOOKS", None)  # as a learner starts it: `jupyter lab` in notebooks/
    with _jupyterlab_server(notebooks, tmp_path, env) as (base, token), sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                page.goto(f"{base}/lab/tree/{NOTEBOOK_14}.ipynb?token={token}")
                page.locator(".jp-Notebook").wait_for(timeout=60_000 * PATIENCE)
                news = page.locator(".jp-toast-button", has_text="No")  # "get notified about Jupyter news?"
                if news.count():
                    news.first.click()
                answer_cell = page.locator(".jp-Notebook .jp-Cell").filter(
                    has=page.locator("strong", has_text=ANSWER_LABEL))
                expect(answer_cell).to_have_count(1, timeout=30_000 * PATIENCE)
                sentence = answer_cell.locator(".jp-RenderedMarkdown p", has_text=ANSWER_LABEL).first
                expect(sentence).to_contain_text(_answer_sentence()[-60:])
                figure = answer_cell.locator(".jp-OutputArea-output img").first
                # Scrolled to the answer (no further): the sentence and the whole figure on one screen.
                sentence.scroll_into_view_if_needed()
                figure.scroll_into_view_if_needed()
                expect(sentence).to_be_in_viewport()
                expect(figure).to_be_in_viewport(ratio=0.95)  # all of it, to a pixel
                page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=30_000)
                found = _visible_tables_and_images(page)
                ANSWER_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ANSWER_SCREENSHOT))
            except Exception:
                ANSWER_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ANSWER_SCREENSHOT.with_name("answer-failure.png")), full_page=True)
                raise
        finally:
            browser.close()
    assert found["sentence"] >= 0 and found["figure"] > found["sentence"], found
    assert found["tables"] and found["first_table"] > found["figure"], f"a table comes before the answer: {found}"
    assert not found["broken"], f"broken images: {found['broken']}"
    print(f"browser test (notebook 14): {time.time() - started:.1f} s, of which Run All {executed:.1f} s; "
          f"{found['images']} images, none broken (external, not loaded offline: {found['external']}); "
          f"screenshot {ANSWER_SCREENSHOT}")
