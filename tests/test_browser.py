"""The course as a learner meets it, in a real browser: JupyterLab on localhost, driven
through Debian's Chromium with Playwright. Opens a copy of the course index with tiny
parameters and a learner's mistake (`SPARSITY = 1.0`) in a cell after the parameters; Run All
stops in the settings cell with the error as ONE line and the full traceback folded below it
(opened with a click). The mistake is fixed in the browser and Run All runs through. Then the
panel: the sparsity slider moves, Run trains and the live plot changes; a seeds count of 50
is clamped to the panel's most, with a word; a second run with 2 seeds joins the first on the
plot (each labelled, the second with its spread over seeds); Clear empties it.
A screenshot (taken with the two runs) goes to build/browser/panel.png."""
import os
import secrets
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


@pytest.fixture
def jupyterlab(tmp_path):
    reason = _skip_reason()
    if reason:
        print(f"skipping the browser test: {reason}")
        pytest.skip(reason)
    name = _prepare_notebook(tmp_path)
    port, token = _free_port(), secrets.token_hex(16)
    # One compute thread: on a small shared CPU two torch threads mostly wait on each other.
    # The copy sits outside the checkout, so its kernel is told where the course is, as the
    # notebook runner tells the kernels it starts in an output folder.
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", JUPYTER_CONFIG_DIR=str(tmp_path / ".config"),
               SPARSEKIT_NOTEBOOKS=str(REPO / "notebooks"))
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
         "--ServerApp.open_browser=False", "--allow-root", "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
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
                    tail = (tmp_path / "jupyterlab.log").read_text()[-1500:]
                    raise RuntimeError(f"JupyterLab did not start within {SERVER_START_S} s:\n{tail}")
                time.sleep(0.5)
        yield f"{base}/lab/tree/{name}?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


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
