"""The web demo in a real headless browser: Debian's Chromium driven by Playwright (sync API).

Playwright's own browser download is impossible here, so Playwright drives ``/usr/bin/chromium`` (Debian's
``chromium`` package) through ``executable_path``; ``bash .ci/install_browser.sh`` installs both. When either is
missing the tests SKIP with a loud reason saying so.

The page is loaded from the app served on a free loopback port; the test uploads a rainy photo, clicks Derain,
waits for the before/after slider, checks the page (tabs, summary, no JavaScript errors), measures against the
clean photo in the Measure tab, checks that a corrupt upload shows a readable error in the page, drives the model
picker (the table, the preselected model, the experiment-weights toggle, a real example photo), and saves
screenshots: to a temporary folder, or to ``$DERAIN_SCREENSHOT_DIR`` (e.g. ``assets/screenshots``) when set.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

gr = pytest.importorskip("gradio", reason="gradio is not installed: the web demo cannot be tested")
torch = pytest.importorskip("torch")

CHROMIUM = os.environ.get("DERAIN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
INSTALL_HINT = "run `bash .ci/install_browser.sh` as root (Debian's chromium package + the playwright pip package)"

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

# DERAIN_TEST_BROWSER_REQUIRED=1 turns the skip into a failure (for CI machines that must run this test).
REQUIRED = os.environ.get("DERAIN_TEST_BROWSER_REQUIRED", "0") == "1"
if sync_playwright is None:
    MISSING = "the playwright Python package is not installed"
elif not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
    MISSING = f"no Chromium at {CHROMIUM} (set DERAIN_CHROMIUM to another binary)"
else:
    MISSING = ""
if MISSING and REQUIRED:
    raise RuntimeError(f"BROWSER TEST REQUIRED (DERAIN_TEST_BROWSER_REQUIRED=1) but {MISSING}; {INSTALL_HINT}")
pytestmark = [pytest.mark.browser, pytest.mark.slow]
if MISSING:
    pytestmark.append(pytest.mark.skip(reason=f"BROWSER TEST SKIPPED: {MISSING}; {INSTALL_HINT}"))
else:
    pytestmark.append(pytest.mark.filterwarnings("ignore::Warning:gradio.queueing"))

TINY = "tiny-drn (untrained)"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    from derain_demo import ModelBank, Picker, build_demo, launch_kwargs
    from derain_lib import examples, reports
    from derain_lib.models.registry import build_model

    torch.set_num_threads(1)
    if not examples.example_pairs():
        pytest.fail(f"{examples.EXAMPLES_DIR} is empty: run `python -m lab.tools.build_examples`")
    bank = ModelBank(device="cpu")
    # the model the page preselects (the scoreboard's pick for real photos, else msnet-semi), one experiment
    # weight (hidden behind the toggle) and one derain + SR weight: few models, so little CPU time
    default = Picker(bank, None, reports.load_scoreboard()).default
    experiments = [n for n in bank.derain_names if bank.is_experiment(n)][:1]
    torch.manual_seed(0)
    extra = {} if default else {TINY: build_model("drn", stages=2, recursions=1, features=8).eval()}
    demo = build_demo(weights=[default] * bool(default) + experiments + bank.sr_names[:1],
                      extra_models=extra, device="cpu", max_megapixels=4, work_megapixels=0.25)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                            quiet=True, **launch_kwargs())
    name = default or TINY
    assert demo.derain_app.picker.default == name
    try:  # how many stage outputs the page should show for this model (0: single-stage)
        from derain_lib.infer import stage_outputs

        n_stages = len(stage_outputs(np.zeros((16, 16, 3), np.uint8), demo.derain_app.bank.get(name)))
    except (ValueError, TypeError):
        n_stages = 0
    try:
        yield url, name, bool(default), n_stages, demo.derain_app
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh user-data-dir every run
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        outside: list[str] = []  # the page must need nothing from outside this machine (fonts, CDNs, analytics)
        page.on("request", lambda r: outside.append(r.url) if urlparse(r.url).scheme in ("http", "https")
                and urlparse(r.url).hostname not in ("127.0.0.1", "localhost") else None)
        page.outside_requests = outside
        try:
            yield page, errors
        finally:
            ctx.close()


@pytest.fixture(scope="module")
def shot_dir(tmp_path_factory) -> Path:
    d = os.environ.get("DERAIN_SCREENSHOT_DIR")
    path = Path(d) if d else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _upload(page, elem_id: str, path: Path) -> None:
    page.locator(f"#{elem_id} input[type=file]").set_input_files(str(path))
    expect(page.locator(f"#{elem_id} img").first).to_be_visible(timeout=20_000)


def test_derain_in_the_browser(app_url, browser_page, shot_dir):
    from derain_lib import examples

    url, model, trained, n_stages, _ = app_url
    page, errors = browser_page
    page.goto(url, wait_until="networkidle", timeout=60_000)
    assert page.title() == "Derain Lab"
    for tab in ("Derain", "Measure", "Synthesize", "Heavy rain + SR"):
        expect(page.get_by_role("tab", name=tab)).to_be_visible()
    if not trained:  # the page must say clearly that no trained weights are shipped
        expect(page.locator("#no-weights")).to_contain_text("No trained deraining weights")

    rainy, clean, _ = examples.example_pairs()[1]
    _upload(page, "rain-in", rainy)
    page.get_by_label("Show stage-by-stage outputs").check()
    page.locator("#derain-btn").click()
    summary = page.locator("#derain-summary")
    expect(summary).to_contain_text("run time", timeout=60_000)
    expect(summary).to_contain_text(model)
    slider_imgs = page.locator("#slider-0 img")
    expect(slider_imgs.first).to_be_visible(timeout=30_000)
    assert slider_imgs.count() >= 2, "the before/after slider should show two images"
    # the displayed images are PNG (lossless), not WebP
    srcs = [slider_imgs.nth(i).get_attribute("src") or "" for i in range(slider_imgs.count())]
    assert all(".png" in s for s in srcs), srcs
    if n_stages:  # multi-stage model: its stages are shown
        expect(page.locator("#stages img").first).to_be_visible(timeout=30_000)
        assert page.locator("#stages img").count() == n_stages
    else:
        expect(summary).to_contain_text("No stage outputs")
    page.wait_for_timeout(500)  # let the slider finish its layout before the picture
    page.screenshot(path=str(shot_dir / "demo_derain.png"), full_page=True)
    assert not errors, f"JavaScript errors in the page: {errors}"

    # Measure: the clean photo as reference -> a PSNR/SSIM table with the input and the model
    page.get_by_role("tab", name="Measure").click()
    _upload(page, "ref-in", clean)
    page.locator("#measure-btn").click()
    table = page.locator("#measure-table")
    expect(table).to_contain_text("input (rainy)", timeout=60_000)
    expect(table).to_contain_text(model)
    expect(page.get_by_text("PSNR Y (dB)").first).to_be_visible()
    page.screenshot(path=str(shot_dir / "demo_measure.png"), full_page=True)
    assert not errors, f"JavaScript errors in the page: {errors}"

    # Synthesize: pick a clean example, add rain, derain, measure against the known clean photo
    page.get_by_role("tab", name="Synthesize").click()
    with page.expect_response(lambda r: "/run/predict" in r.url, timeout=30_000):  # Gradio loads the example
        page.get_by_role("button", name="astronaut_clean").click()
    expect(page.locator("#syn-in img").first).to_be_visible(timeout=20_000)
    page.locator("#syn-btn").click()
    expect(page.locator("#syn-table")).to_contain_text("rainy input", timeout=60_000)
    expect(page.locator("#syn-rainy img").first).to_be_visible()
    page.wait_for_timeout(500)
    page.screenshot(path=str(shot_dir / "demo_synthesize.png"), full_page=True)
    assert not errors, f"JavaScript errors in the page: {errors}"
    assert not page.outside_requests, f"the page fetched from outside this machine: {page.outside_requests[:5]}"


def test_corrupt_upload_shows_readable_error(app_url, browser_page, shot_dir, tmp_path):
    from derain_lib import examples

    url = app_url[0]
    page, errors = browser_page
    page.goto(url, wait_until="networkidle", timeout=60_000)
    good = examples.example_pairs()[0][0]
    bad = tmp_path / "broken_photo.png"
    data = good.read_bytes()
    bad.write_bytes(data[: len(data) // 3])  # a truncated PNG: the browser may show part, the server must refuse
    page.locator("#rain-in input[type=file]").set_input_files(str(bad))
    page.wait_for_timeout(1000)
    page.locator("#derain-btn").click()
    expect(page.get_by_text("corrupt or truncated").first).to_be_visible(timeout=30_000)
    page.wait_for_timeout(500)  # the toast slides in
    page.screenshot(path=str(shot_dir / "demo_error.png"), full_page=False)
    # the app keeps serving: a good photo still works in the same page
    page.goto(url, wait_until="networkidle", timeout=60_000)
    _upload(page, "rain-in", good)
    page.locator("#derain-btn").click()
    expect(page.locator("#derain-summary")).to_contain_text("run time", timeout=60_000)
    assert not errors, f"JavaScript errors in the page: {errors}"


def test_model_picker_in_the_browser(app_url, browser_page, shot_dir):
    """The model table is shown with the preselected model ticked, experiment weights appear only after the
    toggle, and a real rainy example photo (synthetic when the data root is absent) derains with the pick."""
    url, model, _, _, app = app_url
    page, errors = browser_page
    page.goto(url, wait_until="networkidle", timeout=60_000)
    table = page.locator("#model-table table")
    expect(table).to_be_visible()
    expect(table).to_contain_text(model)
    expect(table.locator("th").first).to_contain_text("model")
    expect(table).to_contain_text("what it is for")
    expect(table).to_contain_text("expected time")
    expect(table).to_contain_text("Y-PSNR")
    picker = page.locator("#models")
    expect(picker.get_by_label(model, exact=True)).to_be_checked()

    experiments = app.picker.experiments
    if experiments:
        exp = app.bank.label(experiments[0])
        expect(table).not_to_contain_text(exp)
        expect(picker.get_by_label(exp, exact=True)).to_have_count(0)
        page.locator("#show-experiments input[type=checkbox]").check()
        expect(table).to_contain_text(exp, timeout=20_000)
        expect(table).to_contain_text("experiment")
        expect(picker.get_by_label(exp, exact=True)).to_be_visible()
        expect(picker.get_by_label(exp, exact=True)).not_to_be_checked()
        expect(picker.get_by_label(model, exact=True)).to_be_checked()  # the choice survives the toggle
        page.locator("#show-experiments input[type=checkbox]").uncheck()
        expect(table).not_to_contain_text(exp, timeout=20_000)

    # an example photo: real rainy photos from the data root when present
    (_photo, _, title), kind = app.derain_examples[0], app.examples_kind
    with page.expect_response(lambda r: "/run/predict" in r.url, timeout=30_000):  # Gradio loads the example
        page.get_by_role("button", name=title).first.click()
    expect(page.locator("#rain-in img").first).to_be_visible(timeout=20_000)
    expect(table).to_contain_text("this photo", timeout=20_000)  # the expected time is now for this photo
    page.locator("#derain-btn").click()
    summary = page.locator("#derain-summary")
    expect(summary).to_contain_text("run time", timeout=90_000)
    expect(summary).to_contain_text(model)
    slider = page.locator(f"#slider-{app.bank.derain_names.index(model)} img")
    expect(slider.first).to_be_visible(timeout=30_000)
    if kind == "real":
        expect(page.locator("#derain-examples")).to_contain_text("real")
    page.wait_for_timeout(500)
    page.screenshot(path=str(shot_dir / "demo_picker.png"), full_page=True)
    assert not errors, f"JavaScript errors in the page: {errors}"
    assert not page.outside_requests, f"the page fetched from outside this machine: {page.outside_requests[:5]}"
