"""``build_demo``: the page (a header and four tabs) and its wiring to ``DerainApp``, every event with an ``api_name``.

One function lays out each tab and returns its components; ``_wire`` connects them to the handlers.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from derain_lib import examples as ex
from derain_lib import reports
from derain_lib.backends import BACKENDS, require_backend

from .app import DerainApp
from .config import DEFAULT_MAX_MEGAPIXELS, DEFAULT_WORK_MEGAPIXELS, METRIC_HEADERS, METRIC_NOTE, QUEUE_SIZE
from .errors import image_input, user_errors
from .model_bank import ModelBank
from .picker import Picker

__all__ = ["DemoBlocks", "build_demo"]


class DemoBlocks(gr.Blocks):
    """The demo's ``gr.Blocks``, carrying its handlers as ``derain_app`` (for tests and embedding code)."""

    def __init__(self, derain_app: DerainApp, **kwargs: Any):
        super().__init__(**kwargs)
        self.derain_app = derain_app


def build_demo(weights: list[str] | None = None, extra_models: dict[str, Any] | None = None,
               device: str = "auto", max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
               work_megapixels: float = DEFAULT_WORK_MEGAPIXELS, queue_size: int = QUEUE_SIZE,
               backend: str = "torch",
               examples_dir: str | Path = ex.EXAMPLES_DIR, latency_file: str | Path | None = reports.LATENCY_FILE,
               scoreboard_file: str | Path | None = reports.SCOREBOARD_FILE) -> DemoBlocks:
    """Build the demo.

    Args:
        weights: shipped weight names to offer (default: all of ``checkpoint.list_weights()``).
        extra_models: ``{display name: nn.Module}`` of ready models to offer as well (tests, notebooks).
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"`` or ``"cuda"``.
        max_megapixels: per-request limit; larger images are refused with a message.
        work_megapixels: images above this are downscaled (with a note) unless "full resolution" is ticked.
        queue_size: bound of the request queue (``queue(max_size=...)``); one job runs at a time.
        backend: ``"torch"``, or ``"onnxruntime"``/``"openvino"`` to run the models' exported ONNX graphs on the
            CPU (``derain_lib.backends``; the package must be installed, and the models load on the CPU).
        examples_dir: folder of ``NAME_rainy.png``/``NAME_clean.jpg`` pairs (``derain_lib.examples``); the Derain
            tab offers real rainy photos from the data root instead when it has them (``examples.demo_examples``).
        latency_file: ``latency.json`` of ``python -m lab latency --write`` (expected times; None: none).
        scoreboard_file: ``scoreboard.json`` (Y-PSNR columns and the preselected model; None or absent: none).

    Returns the ``gr.Blocks`` (not launched); its ``derain_app`` is the :class:`DerainApp` behind the events.
    """
    if backend != "torch":
        require_backend(backend)        # ImportError naming the package, before any model loads
        device = "cpu"
    bank = ModelBank(weights, extra_models, device)
    picker = Picker(bank, reports.load_latency(latency_file) if latency_file else None,
                    reports.load_scoreboard(scoreboard_file))
    app = DerainApp(bank, int(max_megapixels * 1e6), int(work_megapixels * 1e6), backend, picker=picker,
                    examples=ex.demo_examples(examples_dir))
    pairs = ex.example_pairs(examples_dir)

    with DemoBlocks(app, title="Derain Lab", delete_cache=(3600, 3600)) as demo:
        # Created first, shown in the Measure tab: the Derain tab's examples fill it with the clean photo.
        ref_in = image_input("Clean reference", elem_id="ref-in", height=320, render=False)
        backend_dd = _header(app, work_megapixels, max_megapixels)
        with gr.Tab("Derain", id="derain"):
            derain_tab = _derain_tab(app, ref_in)
        with gr.Tab("Measure", id="measure"):
            measure_tab = _measure_tab(derain_tab.rain_in, ref_in, pairs)
        with gr.Tab("Synthesize", id="synthesize"):
            synth_tab = _synthesize_tab(app, pairs)
        with gr.Tab("Heavy rain + SR", id="sr"):
            sr_tab = _sr_tab(app)
        _wire(app, backend_dd, derain_tab, measure_tab, synth_tab, sr_tab)

    demo.queue(max_size=queue_size, default_concurrency_limit=1)
    return demo


# ---------------------------------------------------------------------------------------------------- layout
@dataclass
class _DerainTab:
    rain_in: gr.Image
    picker_html: gr.HTML
    models_cb: gr.CheckboxGroup
    show_exp: gr.Checkbox
    full_res: gr.Checkbox
    show_stages: gr.Checkbox
    button: gr.Button
    summary: gr.Markdown
    sliders: list[gr.ImageSlider]
    stage_gallery: gr.Gallery
    downloads: gr.File


@dataclass
class _MeasureTab:
    ref_in: gr.Image
    button: gr.Button
    table: gr.Dataframe
    notes: gr.Markdown


@dataclass
class _SynthesizeTab:
    clean_in: gr.Image
    rain_params: list[gr.components.Component]    # angle, density, length, layers, haze, seed
    models_cb: gr.CheckboxGroup
    preview_btn: gr.Button
    button: gr.Button
    rainy: gr.Image
    table: gr.Dataframe
    notes: gr.Markdown
    sliders: list[gr.ImageSlider]


@dataclass
class _SrTab:
    lr_in: gr.Image
    model: gr.Dropdown
    ref_in: gr.Image
    button: gr.Button
    lr_clean: gr.Image
    lr_scale: gr.Radio
    lr_button: gr.Button
    slider: gr.ImageSlider
    summary: gr.Markdown
    table: gr.Dataframe
    files: gr.File


def _chosen0(app: DerainApp) -> list[str]:
    """The models ticked when the page opens: the picker's preselection."""
    return [app.picker.default] if app.picker.default else []


def _header(app: DerainApp, work_megapixels: float, max_megapixels: float) -> gr.Dropdown:
    """Title, the Backend dropdown (returned) and, when weights are missing or broken, a warning."""
    with gr.Row(equal_height=True):
        gr.Markdown("# Derain Lab\nSingle-image rain removal: four published methods in one small library. "
                    f"Models run on `{app.bank.device}`; photos above {work_megapixels:g} MP are downscaled unless "
                    f"you ask for full resolution (tiled); the limit is {max_megapixels:g} MP per image.")
        # custom values pass through so that an API client naming a missing backend gets the handler's message
        backend_dd = gr.Dropdown(choices=app.backends, value=app.backend, label="Backend", scale=0, min_width=220,
                                 allow_custom_value=True, elem_id="backend", info=_backend_info(app))
    warn = _no_weights_message(app.bank)
    if warn:
        gr.Markdown(warn, elem_classes=["derain-warn"], elem_id="no-weights")
    return backend_dd


def _derain_tab(app: DerainApp, ref_in: gr.Image) -> _DerainTab:
    bank, picker, chosen0 = app.bank, app.picker, _chosen0(app)
    dnames, snames = bank.derain_names, bank.sr_names
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            rain_in = image_input("Rainy photo", elem_id="rain-in", height=320)
            if app.derain_examples:
                real = app.examples_kind == "real"
                gr.Examples([[str(r)] if real else [str(r), str(c)] for r, c, _ in app.derain_examples],
                            inputs=[rain_in] if real else [rain_in, ref_in],
                            label="Examples: real rainy photos (no clean version exists; from the data "
                                  "folder, none seen in training)" if real else
                                  "Examples: synthetic rain over scikit-image photos "
                                  "(the clean photo goes to the Measure tab)",
                            example_labels=[t for _, _, t in app.derain_examples], cache_examples=False,
                            examples_per_page=8, elem_id="derain-examples")
        with gr.Column(scale=3, min_width=420):
            picker_html = gr.HTML(picker.html(False, chosen=chosen0), elem_id="model-table",
                                  label="Models", js_on_load=None)
            models_cb = gr.CheckboxGroup(choices=picker.choices(False), value=chosen0, label="Run these models",
                                         info="Choose one or several; each result gets its own slider."
                                         if dnames else "None: no trained weights are shipped yet.",
                                         elem_id="models")
            with gr.Row():
                show_exp = gr.Checkbox(False, label=f"Show experiment weights ({len(picker.experiments)})",
                                       visible=bool(picker.experiments), elem_id="show-experiments")
                full_res = gr.Checkbox(False, label="Full resolution (tiled)", elem_id="full-res")
                show_stages = gr.Checkbox(False, label="Show stage-by-stage outputs")
            button = gr.Button("Derain", variant="primary", elem_id="derain-btn", interactive=bool(dnames))
            if snames:
                gr.Markdown("Joint derain + super-resolution models (" + ", ".join(f"`{n}`" for n in snames)
                            + ") are in the **Heavy rain + SR** tab.", elem_classes=["derain-note"])
    summary = gr.Markdown(label="Summary", elem_id="derain-summary")
    sliders = [gr.ImageSlider(type="numpy", format="png", visible=n in chosen0,
                              label=f"{bank.label(n)}: rainy | derained", max_height=520, elem_id=f"slider-{i}")
               for i, n in enumerate(dnames)]
    stage_gallery = gr.Gallery(label="Stage-by-stage outputs", format="png", columns=4,
                               height="auto", visible=False, elem_id="stages")
    downloads = gr.File(label="Results as lossless PNG", file_count="multiple")
    return _DerainTab(rain_in, picker_html, models_cb, show_exp, full_res, show_stages, button, summary, sliders,
                      stage_gallery, downloads)


def _measure_tab(rain_in: gr.Image, ref_in: gr.Image, pairs: list) -> _MeasureTab:
    gr.Markdown("Upload the **clean reference** of the photo chosen in the Derain tab (same size) to score "
                "the input and every chosen model. Results computed in the Derain tab are reused.")
    with gr.Row():
        with gr.Column(scale=1):
            ref_in.render()
            button = gr.Button("Measure", variant="primary", elem_id="measure-btn")
            if pairs:
                gr.Examples([[str(r), str(c)] for r, c, _ in pairs], inputs=[rain_in, ref_in],
                            label="Pairs with a known clean photo: synthetic rain over scikit-image photos "
                                  "(fills the Derain tab's photo and this reference)",
                            example_labels=[t for _, _, t in pairs], cache_examples=False)
        with gr.Column(scale=2):
            table = gr.Dataframe(headers=METRIC_HEADERS, label="PSNR / SSIM against the reference",
                                 interactive=False, elem_id="measure-table")
            notes = gr.Markdown(METRIC_NOTE, label="Notes")
    return _MeasureTab(ref_in, button, table, notes)


def _synthesize_tab(app: DerainApp, pairs: list) -> _SynthesizeTab:
    bank, chosen0 = app.bank, _chosen0(app)
    dnames = bank.derain_names
    gr.Markdown("Add rain to a clean photo, derain it, and measure against the photo you started from. "
                "Angles are degrees from vertical.")
    with gr.Row():
        with gr.Column(scale=1):
            clean_in = image_input("Clean photo", elem_id="syn-in", height=280)
            rain_params = [
                gr.Slider(-60, 60, value=20, step=1, label="Angle (degrees from vertical)"),
                gr.Slider(0.2, 10.0, value=1.0, step=0.1, label="Density (drops per 1000 pixels)"),
                gr.Slider(5, 80, value=30, step=1, label="Streak length (pixels)"),
                gr.Slider(1, 5, value=1, step=1, label="Directions (streak layers)"),
                gr.Slider(0.0, 0.6, value=0.0, step=0.05, label="Haze"),
                gr.Number(0, precision=0, label="Seed"),
            ]
            models_cb = gr.CheckboxGroup(choices=[(bank.label(n), n) for n in dnames], value=chosen0, label="Models",
                                         info=None if dnames else "None: only the rainy input is measured.")
            if pairs:
                gr.Examples([[str(c)] for _, c, _ in pairs], inputs=[clean_in], label="Clean photos",
                            example_labels=[p.stem for _, p, _ in pairs], cache_examples=False)
            with gr.Row():
                preview_btn = gr.Button("Add rain")
                button = gr.Button("Add rain, derain and measure", variant="primary", elem_id="syn-btn")
        with gr.Column(scale=2):
            rainy = gr.Image(label="Rainy (synthetic)", type="numpy", format="png", interactive=False,
                             height=320, elem_id="syn-rainy")
            table = gr.Dataframe(headers=METRIC_HEADERS + ["run time (s)"], label="Against the clean photo",
                                 interactive=False, elem_id="syn-table")
            notes = gr.Markdown(label="Notes")
            sliders = [gr.ImageSlider(type="numpy", format="png", visible=n in chosen0,
                                      label=f"{bank.label(n)}: rainy | derained", max_height=480)
                       for n in dnames]
    return _SynthesizeTab(clean_in, rain_params, models_cb, preview_btn, button, rainy, table, notes, sliders)


def _sr_tab(app: DerainApp) -> _SrTab:
    bank = app.bank
    snames = bank.sr_names
    shipped_sr = [n for n in snames if n in bank.weights]
    if snames:
        gr.Markdown("Joint heavy-rain removal and super-resolution (Vu & Kim) against bicubic upsampling "
                    "of the rainy input. No low-res rainy photo at hand? Make one from a clean photo below.")
    if not shipped_sr:
        gr.Markdown("**No joint derain + super-resolution weights (`derain_sr-*`) are shipped yet.** This tab "
                    "works as soon as one is in `derain_lib/weights/` (train it with "
                    "`python -m derain_lib train derain_sr ...`). You can already make low-resolution "
                    "heavy-rain test images below."
                    + (" Offered instead (untrained, for trying the page only): "
                       + ", ".join(f"`{n}`" for n in snames) + "." if snames else ""),
                    elem_classes=["derain-warn"], elem_id="no-sr")
    with gr.Row():
        with gr.Column(scale=1):
            lr_in = image_input("Low-resolution rainy photo", elem_id="sr-in", height=240)
            model = gr.Dropdown(choices=snames, value=snames[0] if snames else None, label="Derain + SR model")
            ref_in = image_input("High-resolution clean reference (optional)", height=200)
            button = gr.Button("Derain + upscale", variant="primary", interactive=bool(snames))
            with gr.Accordion("Make a low-res heavy-rain test image from a clean photo", open=False):
                lr_clean = image_input("Clean photo", height=200)
                lr_scale = gr.Radio(["x2", "x4"], value="x2", label="Downscale by")
                lr_button = gr.Button("Make test image")
        with gr.Column(scale=2):
            slider = gr.ImageSlider(type="numpy", format="png", label="bicubic | derain + SR", max_height=520)
            summary = gr.Markdown(label="Summary")
            table = gr.Dataframe(headers=METRIC_HEADERS, interactive=False, label="Against the reference")
            files = gr.File(label="Result as lossless PNG", file_count="multiple")
    return _SrTab(lr_in, model, ref_in, button, lr_clean, lr_scale, lr_button, slider, summary, table, files)


# ---------------------------------------------------------------------------------------------------- events
def _wire(app: DerainApp, backend_dd: gr.Dropdown, d: _DerainTab, m: _MeasureTab, s: _SynthesizeTab,
          r: _SrTab) -> None:
    """Connect the components to ``app``: the public endpoints (explicit ``api_name`` each, relied on by
    ``gradio_client`` users and the tests) and the page's private UI events."""
    bank, picker, dnames = app.bank, app.picker, app.bank.derain_names

    def show_chosen(chosen):  # one slider per chosen model (UI only, not an API endpoint)
        return [gr.ImageSlider(visible=n in (chosen or [])) for n in dnames]

    def refresh_table(photo, full, show, chosen):  # the table for the photo at hand (UI only)
        size = app.photo_work_size(photo, bool(full))
        return picker.html(bool(show), size, chosen, app.processed_pixels(*size) if size else None)

    def toggle_experiments(show, chosen):  # experiment weights in or out of the table and the choices
        keep = [n for n in (chosen or []) if show or not bank.is_experiment(n)]
        return gr.CheckboxGroup(choices=picker.choices(bool(show)), value=keep)

    # -- UI only (api_visibility="private")
    d.show_stages.change(lambda on: gr.Gallery(visible=bool(on)), d.show_stages, d.stage_gallery, queue=False,
                         api_visibility="private")
    table_inputs = [d.rain_in, d.full_res, d.show_exp, d.models_cb]
    for event in (d.rain_in.change, d.full_res.change, d.show_exp.change, d.models_cb.change):
        # preprocess=False: the table needs only the photo's size, read from the raw upload here, so a broken
        # upload is reported once, by the Derain button, not by this table as well
        event(refresh_table, table_inputs, d.picker_html, queue=False, preprocess=False,
              show_progress="hidden", api_visibility="private")
    d.show_exp.change(toggle_experiments, [d.show_exp, d.models_cb], d.models_cb, queue=False,
                      api_visibility="private")
    if dnames:
        d.models_cb.change(show_chosen, d.models_cb, d.sliders, queue=False, api_visibility="private")
        s.models_cb.change(show_chosen, s.models_cb, s.sliders, queue=False, api_visibility="private")

    # -- the endpoints
    d.button.click(user_errors(app.derain), [d.rain_in, d.models_cb, d.full_res, d.show_stages, backend_dd],
                   [d.summary, *d.sliders, d.stage_gallery, d.downloads], api_name="derain")
    m.button.click(user_errors(app.measure), [d.rain_in, m.ref_in, d.models_cb, d.full_res, backend_dd],
                   [m.table, m.notes], api_name="measure")
    s.preview_btn.click(user_errors(app.preview_rain), [s.clean_in, *s.rain_params], [s.rainy], api_name="add_rain")
    s.button.click(user_errors(app.synthesize), [s.clean_in, *s.rain_params, s.models_cb, backend_dd],
                   [s.rainy, s.table, s.notes, *s.sliders], api_name="synthesize")
    r.lr_button.click(user_errors(app.make_lr), [r.lr_clean, r.lr_scale], [r.lr_in, r.ref_in],
                      api_name="make_lr_rainy")
    r.button.click(user_errors(app.derain_sr), [r.lr_in, r.model, r.ref_in, backend_dd],
                   [r.slider, r.summary, r.table, r.files], api_name="derain_sr")


# ---------------------------------------------------------------------------------------------------- notes
def _backend_info(app: DerainApp) -> str:
    """The dropdown's note: what the choice changes, and what would add the backends not offered."""
    note = "Results agree within rounding; ONNX Runtime and OpenVINO export each model once (its first run is slower)."
    missing = [b for b in BACKENDS if b not in app.backends]
    if missing and app.bank.device.type != "cpu":
        note += f" {', '.join(missing)}: CPU only, start the demo with --device cpu."
    elif missing:
        note += f" Not installed here: {', '.join(missing)} (pip install {' '.join(missing)})."
    return note


def _no_weights_message(bank: ModelBank) -> str:
    """The warning above the tabs when no trained deraining weights are shipped, or some cannot be read."""
    lines = []
    shipped = [n for n in bank.derain_names if n in bank.weights]
    if not shipped:
        lines.append("**No trained deraining weights are shipped in `derain_lib/weights/` yet.** The Derain and "
                     "Measure tabs need them; the **Synthesize** tab still adds rain and measures the rainy image. "
                     "Train one with `python -m derain_lib train MODEL ...` (see the notebooks).")
        others = [n for n in bank.derain_names if n not in bank.weights]
        if others:
            lines.append("Offered instead (not trained on rain, for trying the page only): "
                         + ", ".join(f"`{n}`" for n in others) + ".")
    for name, err in bank.broken.items():
        lines.append(f"Weight file `{name}` could not be read and is hidden: {html.escape(err)}")
    return "\n\n".join(lines)
