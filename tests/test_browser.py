"""The α slider of 04_fusion in a real browser, as a user opens it: JupyterLab served on loopback with a
token, the executed-in-smoke 04_fusion opened in headless Chromium (Debian's `chromium` package, driven by
Playwright for Python; no browser is ever downloaded), Run ▸ Run All Cells, then the slider's handle is dragged
and the printed α and the table must change.

The notebook is the session's smoke run (fixture `smoke_run`, tests/conftest.py), copied next to a fresh
data_root whose stages 00–03 link to that run's, so re-running it never touches the shared run; its
parameters cell also gets a 3-point α grid and in-process decoding, which keeps "run all" to ~20 s (the slider
and its table are the same code for any grid). Without Chromium or Playwright the test is skipped, saying so
(`.ci/run` installs both).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fitclip.files import atomic_write_text

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _missing() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return ("Chromium not found (/usr/bin/chromium): install Debian's package (apt-get install -y chromium; "
                ".ci/run does) to run the JupyterLab slider test")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -r requirements.txt)"
    return None


MISSING = _missing()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(MISSING is not None, reason=str(MISSING))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notebook_copy(smoke_run: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(folder holding 04_fusion.ipynb, its data_root): the executed notebook, aimed at a fresh data_root."""
    root = tmp_path / "data"
    root.mkdir()
    for stem in ("00_toy_teacher", "01_data_prep", "02_teacher_pseudo_labels", "03_train"):
        (root / stem).symlink_to(smoke_run / stem, target_is_directory=True)
    notebook = json.loads((smoke_run / "runs" / "04_fusion.ipynb").read_text())
    injected = [c for c in notebook["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and "smoke = True" in "".join(injected[0]["source"]), "not an executed smoke run"
    injected[0]["source"] = (f"# Parameters\nsmoke = True\ndata_root = {str(root)!r}\n"
                             "alphas = [0.0, 0.5, 1.0]\nnum_workers = 0\n")
    folder = tmp_path / "notebooks"
    folder.mkdir()
    (folder / "04_fusion.ipynb").write_text(json.dumps(notebook, indent=1))
    return folder, root


def _start_lab(folder: Path, tmp_path: Path) -> tuple[subprocess.Popen, str, str]:
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, FITCLIP_FIGURES=str(tmp_path / "figures"), OMP_NUM_THREADS="1",
               JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "lab-workspaces"))
    # A user who said no to news (nothing may reach the network; the question would cover the page).
    atomic_write_text(tmp_path / "lab-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
                      '{"fetchNews": "false", "checkForUpdates": false}')
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}", "--ServerApp.log_level=WARN"],
        cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                return server, base, token
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start: {(tmp_path / 'jupyterlab.log').read_text()[-2000:]}")
            time.sleep(0.5)


def _start_kernel(base: str, token: str, notebook: str) -> None:
    """Start the notebook's kernel (its session) through the server's REST API, as reopening a notebook whose
    kernel is running does: the page then attaches to it. Left to the page, a kernel start on a busy 2-core
    machine raced JupyterLab's kernel-spec loading (a "Select Kernel" question, or a kernel replaced while it
    started)."""
    request = urllib.request.Request(
        f"{base}/api/sessions", method="POST", headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        data=json.dumps({"path": notebook, "type": "notebook", "name": notebook, "kernel": {"name": "python3"}}).encode())
    with urllib.request.urlopen(request, timeout=60) as response:
        assert json.loads(response.read())["kernel"]["name"] == "python3"


def _printed_alpha(text: str) -> str:
    match = re.search(r"α = ([0-9.]+):", text)
    assert match, f"no printed α in the slider's output: {text!r}"
    return match.group(1)


def test_alpha_slider_in_jupyterlab_changes_the_printed_alpha_and_the_table(smoke_run, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    folder, root = _notebook_copy(smoke_run, tmp_path)
    server, base, token = _start_lab(folder, tmp_path)
    try:
        _start_kernel(base, token, "04_fusion.ipynb")
        with sync_playwright() as p:
            browser = p.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 1000})
            try:
                page = browser.pages[0] if browser.pages else browser.new_page()
                page.goto(f"{base}/lab/tree/04_fusion.ipynb?token={token}")
                expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=60_000)
                expect(page.locator(".jp-StatusBar-Widget").filter(has_text="| Idle")).to_be_visible(timeout=90_000)
                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
                handle = page.locator(".widget-hslider .noUi-handle").first
                expect(handle).to_be_visible(timeout=120_000)
                expect(page.locator(".fitclip-alpha-table")).to_contain_text("α = ", timeout=60_000)
                output = page.locator(".fitclip-alpha-table")
                # the slider's HTML holds the α line and the table: wait for both
                expect(output).to_contain_text("average", timeout=60_000)
                shown = [output.inner_text()]
                for dx, alpha in ((400, "1.0"), (-800, "0.0")):  # drag to the right end, then to the left end
                    box = handle.bounding_box()
                    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
                    page.mouse.move(x, y)
                    page.mouse.down()
                    page.mouse.move(x + dx, y, steps=12)
                    page.mouse.up()
                    page.wait_for_function("(a) => { const t = document.querySelector('.fitclip-alpha-table').innerText;"
                                           " return t.includes(a) && t.includes('average'); }",
                                           arg=f"α = {alpha}:", timeout=60_000)
                    shown.append(output.inner_text())
            except Exception:
                page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                print(f"screenshot of the failure: {tmp_path / 'failure.png'}")
                raise
            finally:
                browser.close()
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()

    chosen = json.loads((root / "04_fusion" / "chosen_alpha.json").read_text())["chosen"]["fitclip"]
    # it starts at the α validation chose for FitCLIP, then follows the drags to both ends
    assert [_printed_alpha(text) for text in shown] == [str(chosen), "1.0", "0.0"], shown
    tables = [text.split("\n", 1)[1] for text in shown]
    assert all("fitclip" in t and "average" in t for t in tables), tables
    assert len(set(tables)) > 1, f"dragging α changed the printed α but never the table: {tables}"
    assert (root / "04_fusion" / "chosen_alpha.json").is_file()  # run-all really ran, in the fresh data_root
