"""``build_demo``: the four tabs and their wiring to ``DerainApp``, every event with an ``api_name``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from derain_lib import bench
from derain_lib import examples as ex
from derain_lib.backends import BACKENDS, require_backend

from .app import DerainApp, _no_weights_message
from .config import (
    DEFAULT_MAX_MEGAPIXELS,
    DEFAULT_WORK_MEGAPIXELS,
    LATENCY_FILE,
    METRIC_HEADERS,
    METRIC_NOTE,
    QUEUE_SIZE,
    SCOREBOARD_FILE,
)
from .helpers import (
    _image_input,
    _user_errors,
)
from .model_bank import ModelBank, load_scoreboard
from .picker import Picker


def build_demo(weights: list[str] | None = None, extra_models: dict[str, Any] | None = None,
               device: str = "auto", max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
               work_megapixels: float = DEFAULT_WORK_MEGAPIXELS, queue_size: int = QUEUE_SIZE,
               backend: str = "torch",
               examples_dir: str | Path = ex.EXAMPLES_DIR, latency_file: str | Path | None = LATENCY_FILE,
               scoreboard_file: str | Path | None = SCOREBOARD_FILE) -> gr.Blocks:
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
        latency_file: ``latency.json`` of ``python -m derain_lib bench --write`` (expected times; None: none).
        scoreboard_file: ``scoreboard.json`` (Y-PSNR columns and the preselected model; None or absent: none).
    """
    if backend != "torch":
        require_backend(backend)        # ImportError naming the package, before any model loads
        device = "cpu"
    bank = ModelBank(weights, extra_models, device)
    app = DerainApp(bank, int(max_megapixels * 1e6), int(work_megapixels * 1e6), backend)
    pairs = ex.example_pairs(examples_dir)
    examples_kind, derain_examples = ex.demo_examples(examples_dir)
    app.examples_kind, app.derain_examples = examples_kind, derain_examples
    dnames, snames = bank.derain_names, bank.sr_names
    warn = _no_weights_message(bank)
    picker = Picker(bank, bench.load_latency(latency_file) if latency_file else None,
                    load_scoreboard(scoreboard_file))
    app.picker = picker
    chosen0 = [picker.default] if picker.default else []

    with gr.Blocks(title="Derain Lab", delete_cache=(3600, 3600)) as demo:
        # Created first, shown in the Measure tab: the Derain tab's examples fill it with the clean photo.
        ref_in = _image_input("Clean reference", elem_id="ref-in", height=320, render=False)
        with gr.Row(equal_height=True):
            gr.Markdown("# Derain Lab\nSingle-image rain removal: four published methods in one small library. "
                        f"Models run on `{bank.device}`; photos above {work_megapixels:g} MP are downscaled unless "
                        f"you ask for full resolution (tiled); the limit is {max_megapixels:g} MP per image.")
            # custom values pass through so that an API client naming a missing backend gets the handler's message
            backend_dd = gr.Dropdown(choices=app.backends, value=app.backend, label="Backend", scale=0, min_width=220,
                                     allow_custom_value=True, elem_id="backend", info=_backend_info(app))
        if warn:
            gr.Markdown(warn, elem_classes=["derain-warn"], elem_id="no-weights")

        # ---------------------------------------------------------------- Derain
        with gr.Tab("Derain", id="derain"):
            with gr.Row():
                with gr.Column(scale=2, min_width=320):
                    rain_in = _image_input("Rainy photo", elem_id="rain-in", height=320)
                    if derain_examples:
                        real = examples_kind == "real"
                        gr.Examples([[str(r)] if real else [str(r), str(c)] for r, c, _ in derain_examples],
                                    inputs=[rain_in] if real else [rain_in, ref_in],
                                    label="Examples: real rainy photos (no clean version exists; from the data "
                                          "folder, none seen in training)" if real else
                                          "Examples: synthetic rain over scikit-image photos "
                                          "(the clean photo goes to the Measure tab)",
                                    example_labels=[t for _, _, t in derain_examples], cache_examples=False,
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
                    derain_btn = gr.Button("Derain", variant="primary", elem_id="derain-btn",
                                           interactive=bool(dnames))
                    if snames:
                        gr.Markdown("Joint derain + super-resolution models (" + ", ".join(f"`{n}`" for n in snames)
                                    + ") are in the **Heavy rain + SR** tab.", elem_classes=["derain-note"])
            derain_md = gr.Markdown(label="Summary", elem_id="derain-summary")
            derain_sliders = [gr.ImageSlider(type="numpy", format="png", visible=n in chosen0,
                                             label=f"{bank.label(n)}: rainy | derained", max_height=520,
                                             elem_id=f"slider-{i}")
                              for i, n in enumerate(dnames)]
            stage_gallery = gr.Gallery(label="Stage-by-stage outputs", format="png", columns=4,
                                       height="auto", visible=False, elem_id="stages")
            downloads = gr.File(label="Results as lossless PNG", file_count="multiple")

        # ---------------------------------------------------------------- Measure
        with gr.Tab("Measure", id="measure"):
            gr.Markdown("Upload the **clean reference** of the photo chosen in the Derain tab (same size) to score "
                        "the input and every chosen model. Results computed in the Derain tab are reused.")
            with gr.Row():
                with gr.Column(scale=1):
                    ref_in.render()
                    measure_btn = gr.Button("Measure", variant="primary", elem_id="measure-btn")
                    if pairs:
                        gr.Examples([[str(r), str(c)] for r, c, _ in pairs], inputs=[rain_in, ref_in],
                                    label="Pairs with a known clean photo: synthetic rain over scikit-image photos "
                                          "(fills the Derain tab's photo and this reference)",
                                    example_labels=[t for _, _, t in pairs], cache_examples=False)
                with gr.Column(scale=2):
                    measure_table = gr.Dataframe(headers=METRIC_HEADERS, label="PSNR / SSIM against the reference",
                                                 interactive=False, elem_id="measure-table")
                    measure_md = gr.Markdown(METRIC_NOTE, label="Notes")

        # ---------------------------------------------------------------- Synthesize
        with gr.Tab("Synthesize", id="synthesize"):
            gr.Markdown("Add rain to a clean photo, derain it, and measure against the photo you started from. "
                        "Angles are degrees from vertical.")
            with gr.Row():
                with gr.Column(scale=1):
                    syn_in = _image_input("Clean photo", elem_id="syn-in", height=280)
                    angle = gr.Slider(-60, 60, value=20, step=1, label="Angle (degrees from vertical)")
                    density = gr.Slider(0.2, 10.0, value=1.0, step=0.1, label="Density (drops per 1000 pixels)")
                    length = gr.Slider(5, 80, value=30, step=1, label="Streak length (pixels)")
                    layers = gr.Slider(1, 5, value=1, step=1, label="Directions (streak layers)")
                    haze = gr.Slider(0.0, 0.6, value=0.0, step=0.05, label="Haze")
                    seed = gr.Number(0, precision=0, label="Seed")
                    syn_models = gr.CheckboxGroup(choices=[(bank.label(n), n) for n in dnames], value=chosen0,
                                                  label="Models",
                                                  info=None if dnames else "None: only the rainy input is measured.")
                    if pairs:
                        gr.Examples([[str(c)] for _, c, _ in pairs], inputs=[syn_in], label="Clean photos",
                                    example_labels=[p.stem for _, p, _ in pairs], cache_examples=False)
                    with gr.Row():
                        preview_btn = gr.Button("Add rain")
                        syn_btn = gr.Button("Add rain, derain and measure", variant="primary", elem_id="syn-btn")
                with gr.Column(scale=2):
                    syn_rainy = gr.Image(label="Rainy (synthetic)", type="numpy", format="png", interactive=False,
                                         height=320, elem_id="syn-rainy")
                    syn_table = gr.Dataframe(headers=METRIC_HEADERS + ["run time (s)"], label="Against the clean photo",
                                             interactive=False, elem_id="syn-table")
                    syn_md = gr.Markdown(label="Notes")
                    syn_sliders = [gr.ImageSlider(type="numpy", format="png", visible=n in chosen0,
                                                  label=f"{bank.label(n)}: rainy | derained", max_height=480)
                                   for n in dnames]

        # ---------------------------------------------------------------- Heavy rain + SR
        with gr.Tab("Heavy rain + SR", id="sr"):
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
                    sr_in = _image_input("Low-resolution rainy photo", elem_id="sr-in", height=240)
                    sr_model = gr.Dropdown(choices=snames, value=snames[0] if snames else None,
                                           label="Derain + SR model")
                    sr_ref = _image_input("High-resolution clean reference (optional)", height=200)
                    sr_btn = gr.Button("Derain + upscale", variant="primary", interactive=bool(snames))
                    with gr.Accordion("Make a low-res heavy-rain test image from a clean photo", open=False):
                        lr_clean = _image_input("Clean photo", height=200)
                        lr_scale = gr.Radio(["x2", "x4"], value="x2", label="Downscale by")
                        lr_btn = gr.Button("Make test image")
                with gr.Column(scale=2):
                    sr_slider = gr.ImageSlider(type="numpy", format="png", label="bicubic | derain + SR",
                                               max_height=520)
                    sr_md = gr.Markdown(label="Summary")
                    sr_table = gr.Dataframe(headers=METRIC_HEADERS, interactive=False, label="Against the reference")
                    sr_files = gr.File(label="Result as lossless PNG", file_count="multiple")

        # ---------------------------------------------------------------- events (explicit api_name each)
        def show_chosen(chosen):  # one slider per chosen model (UI only, not an API endpoint)
            return [gr.ImageSlider(visible=n in (chosen or [])) for n in dnames]

        show_stages.change(lambda on: gr.Gallery(visible=bool(on)), show_stages, stage_gallery, queue=False,
                           api_visibility="private")

        def refresh_table(photo, full, show, chosen):  # the table for the photo at hand (UI only)
            size = app.photo_work_size(photo, bool(full))
            return picker.html(bool(show), size, chosen, app.processed_pixels(*size) if size else None)

        def toggle_experiments(show, chosen):  # experiment weights in or out of the table and the choices
            keep = [n for n in (chosen or []) if show or not bank.is_experiment(n)]
            return gr.CheckboxGroup(choices=picker.choices(bool(show)), value=keep)

        table_inputs = [rain_in, full_res, show_exp, models_cb]
        for event in (rain_in.change, full_res.change, show_exp.change, models_cb.change):
            # preprocess=False: the table needs only the photo's size, read from the raw upload here, so a broken
            # upload is reported once, by the Derain button, not by this table as well
            event(refresh_table, table_inputs, picker_html, queue=False, preprocess=False,
                  show_progress="hidden", api_visibility="private")
        show_exp.change(toggle_experiments, [show_exp, models_cb], models_cb, queue=False, api_visibility="private")
        if dnames:
            models_cb.change(show_chosen, models_cb, derain_sliders, queue=False, api_visibility="private")
            syn_models.change(show_chosen, syn_models, syn_sliders, queue=False, api_visibility="private")
        derain_btn.click(_user_errors(app.derain), [rain_in, models_cb, full_res, show_stages, backend_dd],
                         [derain_md, *derain_sliders, stage_gallery, downloads], api_name="derain")
        measure_btn.click(_user_errors(app.measure), [rain_in, ref_in, models_cb, full_res, backend_dd],
                          [measure_table, measure_md], api_name="measure")
        preview_btn.click(_user_errors(app.preview_rain), [syn_in, angle, density, length, layers, haze, seed],
                          [syn_rainy], api_name="add_rain")
        syn_btn.click(_user_errors(app.synthesize),
                      [syn_in, angle, density, length, layers, haze, seed, syn_models, backend_dd],
                      [syn_rainy, syn_table, syn_md, *syn_sliders], api_name="synthesize")
        lr_btn.click(_user_errors(app.make_lr), [lr_clean, lr_scale], [sr_in, sr_ref], api_name="make_lr_rainy")
        sr_btn.click(_user_errors(app.derain_sr), [sr_in, sr_model, sr_ref, backend_dd],
                     [sr_slider, sr_md, sr_table, sr_files], api_name="derain_sr")

    demo.queue(max_size=queue_size, default_concurrency_limit=1)
    demo.derain_app = app  # for tests and embedding
    return demo


def _backend_info(app: DerainApp) -> str:
    """The dropdown's note: what the choice changes, and what would add the backends not offered."""
    note = "Results agree within rounding; ONNX Runtime and OpenVINO export each model once (its first run is slower)."
    missing = [b for b in BACKENDS if b not in app.backends]
    if missing and app.bank.device.type != "cpu":
        note += f" {', '.join(missing)}: CPU only, start the demo with --device cpu."
    elif missing:
        note += f" Not installed here: {', '.join(missing)} (pip install {' '.join(missing)})."
    return note
