"""Screenshot one notebook cell's output (a live control) as JupyterLab renders it, in headless Chromium.

    python -m lab.tools.notebook_screenshot notebooks/00_rain_and_metrics.ipynb --cell "interactive(show_rain" \\
        --out assets/screenshots/00_rain_sliders.png

What it does:

1. copies the notebook into a temporary folder (JupyterLab autosaves, so the stored notebook is never opened);
2. starts ``jupyter lab --no-browser`` on a free loopback port with a random token, its own settings and
   workspace folders (no windowing, so every cell is in the page; no news or update checks);
3. opens the copy in headless Chromium through Playwright, waits for the kernel, and runs every cell up to and
   including the target cell (``--all``: every cell of the notebook);
4. waits for the target cell's widget (and its figure, if it draws one) to render, and saves a crop of that
   cell's output area, empty margins trimmed, to ``--out``: PNG or JPEG by the file's suffix; a PNG above
   ``--max-kb`` is re-saved with a 256-colour palette, which keeps figures sharp at a fraction of the size.

The target cell is the code cell whose source contains ``--cell``; when several do, the first whose output holds
a widget, else the last of them.  The kernel runs in quick mode (``DERAIN_FULL=0``) with the data root of this
checkout.  Chromium and Playwright are found as in ``tests/demo/test_browser.py``: ``$DERAIN_CHROMIUM`` (default
``/usr/bin/chromium``) driven through ``executable_path``; ``bash .ci/install_browser.sh`` installs both.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = os.environ.get("DERAIN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
INSTALL_HINT = "run `bash .ci/install_browser.sh` as root (Debian's chromium package + the playwright pip package)"

# JupyterLab user settings for a screenshot: every cell stays in the DOM (no virtual scrolling), nothing is fetched.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}

# JavaScript run in the page; `window.jupyterapp` exists because the server runs with expose_app_in_browser.
JS_FIND_CELL = """async (marker) => {
    const nb = window.jupyterapp.shell.currentWidget;
    await nb.context.ready;
    await nb.revealed;
    const hits = [];
    nb.content.widgets.forEach((cell, i) => {
        if (cell.model.type === 'code' && cell.model.sharedModel.getSource().includes(marker)) hits.push(i);
    });
    return hits;
}"""
JS_RUN_UPTO = """async ([index, all]) => {
    const app = window.jupyterapp, nb = app.shell.currentWidget;
    await nb.sessionContext.ready;
    if (all) { await app.commands.execute('notebook:run-all-cells'); return; }
    nb.content.activeCellIndex = index;
    if (index > 0) await app.commands.execute('notebook:run-all-above');
    nb.content.activeCellIndex = index;
    await app.commands.execute('notebook:run-cell');
}"""
JS_STATE = """(indices) => {
    const nb = window.jupyterapp.shell.currentWidget;
    const kernel = nb.sessionContext.session && nb.sessionContext.session.kernel;
    const busy = [...nb.node.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'));
    const cells = indices.map(i => {
        const c = nb.content.widgets[i];
        return {count: c.model.executionCount,
                widget: !!c.node.querySelector('.jp-OutputArea .jupyter-widgets, .jp-OutputArea .widget-interact'),
                images: c.node.querySelectorAll('.jp-OutputArea img, .jp-OutputArea canvas').length,
                error: !!c.node.querySelector('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
                       && c.node.querySelector('.jp-OutputArea').textContent.includes('Traceback')};
    });
    return {status: kernel ? kernel.status : 'none', busy, cells};
}"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(workdir: Path, port: int, token: str) -> subprocess.Popen:
    """Start JupyterLab serving ``workdir``, with its own settings and workspaces; wait until it answers."""
    settings = workdir / ".lab-settings"
    for rel, value in LAB_SETTINGS.items():
        pkg, name = rel.rsplit("/", 1)
        (settings / pkg).mkdir(parents=True, exist_ok=True)
        (settings / pkg / name).write_text(json.dumps(value))
    from derain_lib.paths import data_root

    env = dict(os.environ, DERAIN_FULL="0", DERAIN_SMOKE="0", DERAIN_DATA=str(data_root()),
               JUPYTER_PLATFORM_DIRS="1", JUPYTER_RUNTIME_DIR=str(workdir / ".lab-runtime"))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={workdir}",
           f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={workdir / '.lab-workspaces'}",
           "--LabApp.expose_app_in_browser=True", "--ServerApp.port_retries=0",
           "--ServerApp.allow_remote_access=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI often run as root
        cmd.append("--allow-root")
    log = open(workdir / "lab.log", "w")  # noqa: SIM115 - closed with the server
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    proc.log_file = log
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    for _ in range(120):
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    stop_lab(proc)
    raise SystemExit(f"error: jupyter lab did not start; its log:\n{(workdir / 'lab.log').read_text()[-3000:]}")


def stop_lab(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    proc.log_file.close()


def trim(path: Path, pad: int = 8) -> None:
    """Crop the empty margin around the output (the colour of the top-right pixel), keeping ``pad`` pixels.
    Rows or columns that differ from it almost everywhere are rules drawn by JupyterLab, not content."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        rgb = im.convert("RGB")
    a = np.asarray(rgb).astype(int)
    ink = np.abs(a - a[0, -1]).max(-1) > 12
    ink[ink.mean(1) > 0.95, :] = False
    ink[:, ink.mean(0) > 0.95] = False
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    if rows.size and cols.size:
        box = (max(0, cols[0] - pad), max(0, rows[0] - pad), min(rgb.width, cols[-1] + 1 + pad),
               min(rgb.height, rows[-1] + 1 + pad))
        jpeg = path.suffix.lower() in (".jpg", ".jpeg")
        rgb.crop(box).save(path, **({"quality": 85} if jpeg else {"optimize": True}))


def shrink_png(path: Path, max_kb: float) -> None:
    """Re-save a PNG above ``max_kb`` with a 256-colour palette (figures and widgets have few colours)."""
    if path.suffix.lower() != ".png" or path.stat().st_size <= max_kb * 1024:
        return
    from PIL import Image

    with Image.open(path) as im:
        pal = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    pal.save(path, optimize=True)


def wait_until_done(page, indices: list[int], target: int, timeout: float, settle: float) -> dict:
    """Poll the page until the kernel is idle, no cell is queued and the target cell ran; then until its output
    (widget, images) stops changing for ``settle`` seconds."""
    t_end = time.monotonic() + timeout
    last, stable_since = None, None
    while time.monotonic() < t_end:
        st = page.evaluate(JS_STATE, indices)
        cell = st["cells"][indices.index(target)]
        done = st["status"] == "idle" and not st["busy"] and cell["count"] is not None
        key = (done, cell["widget"], cell["images"])
        if done and key == last:
            if time.monotonic() - stable_since >= settle:
                return st
        else:
            last, stable_since = key, time.monotonic()
        time.sleep(0.25)
    raise SystemExit(f"error: the notebook did not finish within {timeout:.0f} s (last state: {st})")


def screenshot(notebook: Path, marker: str, out: Path, run_all: bool = False, timeout: float = 900,
               settle: float = 2.0, width: int = 1280, max_kb: float = 250) -> Path:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit(f"error: the playwright Python package is not installed; {INSTALL_HINT}") from None
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        raise SystemExit(f"error: no Chromium at {CHROMIUM} (set DERAIN_CHROMIUM); {INSTALL_HINT}")
    notebook = notebook.resolve()
    with tempfile.TemporaryDirectory(prefix="nbshot-") as tmp:
        work = Path(tmp)
        shutil.copy2(notebook, work / notebook.name)
        port, token = free_port(), secrets.token_hex(16)
        lab = start_lab(work, port, token)
        try:
            with sync_playwright() as p:
                ctx = p.chromium.launch_persistent_context(
                    str(work / ".chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                    viewport={"width": width, "height": 1000})
                try:
                    page = ctx.new_page()
                    errors: list[str] = []
                    page.on("pageerror", lambda exc: errors.append(str(exc)))
                    page.goto(f"http://127.0.0.1:{port}/lab/tree/{notebook.name}?token={token}&reset",
                              wait_until="domcontentloaded", timeout=120_000)
                    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                                           " && window.jupyterapp.shell.currentWidget.content"
                                           " && window.jupyterapp.shell.currentWidget.content.widgets.length > 0",
                                           timeout=120_000)
                    hits = page.evaluate(JS_FIND_CELL, marker)
                    if not hits:
                        raise SystemExit(f"error: no code cell of {notebook.name} contains {marker!r}")
                    last = max(hits)
                    page.evaluate(JS_RUN_UPTO, [last, run_all])
                    st = wait_until_done(page, hits, last, timeout, settle)
                    with_widget = [i for i, c in zip(hits, st["cells"]) if c["widget"]]
                    target = with_widget[0] if with_widget else last
                    if st["cells"][hits.index(target)]["error"]:
                        raise SystemExit(f"error: cell {target} of {notebook.name} raised (see the notebook)")
                    cell = page.locator(".jp-Notebook .jp-Cell").nth(target)
                    area = cell.locator(".jp-Cell-outputArea")
                    area.scroll_into_view_if_needed()
                    page.wait_for_timeout(500)  # layout after scrolling (slider tracks, figure sizes)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    kind = "jpeg" if out.suffix.lower() in (".jpg", ".jpeg") else "png"
                    area.screenshot(path=str(out), type=kind, **({"quality": 85} if kind == "jpeg" else {}))
                    if errors:
                        print(f"warning: JavaScript errors in the page: {errors[:3]}", file=sys.stderr)
                finally:
                    ctx.close()
        finally:
            stop_lab(lab)
    trim(out)
    shrink_png(out, max_kb)
    size = out.stat().st_size / 1024
    print(f"{out}: cell {target} of {notebook.name} ({size:.0f} KB)")
    if size > max_kb:
        print(f"warning: {out.name} is {size:.0f} KB, above {max_kb:.0f} KB; try a .jpg name", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook", type=Path)
    ap.add_argument("--cell", required=True, help="a string in the source of the cell to capture")
    ap.add_argument("--out", required=True, type=Path, help="the picture to write (.png or .jpg)")
    ap.add_argument("--all", action="store_true", help="run every cell, not only those up to the target")
    ap.add_argument("--timeout", type=float, default=900, help="seconds to wait for the cells (default 900)")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds the output must stay unchanged")
    ap.add_argument("--width", type=int, default=1280, help="browser viewport width in pixels")
    ap.add_argument("--max-kb", type=float, default=250, help="PNGs above this are palette-compressed")
    args = ap.parse_args(argv)
    if not args.notebook.is_file():
        ap.error(f"no notebook at {args.notebook}")
    screenshot(args.notebook, args.cell, args.out, args.all, args.timeout, args.settle, args.width, args.max_kb)


if __name__ == "__main__":
    main()
