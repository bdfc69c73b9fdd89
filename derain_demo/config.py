"""Settings of the demo: size limits, caches, and its look.

Tiling is not a setting of the demo: it runs every model through ``derain_lib.infer.plan_tiles``, the policy of the
library and the command line; the figures it shows come from ``derain_lib.reports``.
"""
from __future__ import annotations

from typing import Any

import gradio as gr

DEFAULT_MAX_MEGAPIXELS = 16.0    # per-request limit: larger uploads are refused with a message (--max-size)
DEFAULT_WORK_MEGAPIXELS = 1.0    # above this, images are downscaled (with a visible note) unless "full resolution"
STAGES_MAX_PIXELS = 768 * 768    # stage-by-stage outputs need one untiled forward: only for images up to this size
RESULT_CACHE = 48                # (image, model, mode) -> output, so Measure reuses what Derain computed
QUEUE_SIZE = 16
FALLBACK_DEFAULT = "msnet-semi"  # preselected when the scoreboard names no model for real photos
RECOMMENDED_TAGS = {"real_photos": "recommended for real photos", "heavy": "best on heavy rain (Rain100H)",
                    "light": "best on light rain (Rain100L)"}
SCORE_SETS = (("rain100L", "Rain100L"), ("rain100H", "Rain100H"))

METRIC_HEADERS = ["image", "PSNR Y (dB)", "SSIM Y", "PSNR RGB (dB)", "SSIM RGB"]
METRIC_NOTE = (
    "**Y** = luma of BT.601 YCbCr (MATLAB `rgb2ycbcr`, 16-235), the convention of the deraining papers; "
    "**RGB** = over the three channels on 0-255. Higher is better; SSIM is at most 1."
)

CSS = """
.derain-note {font-size: 0.95em}
.derain-warn {border-left: 4px solid #d97706; padding: 0.4em 0.8em; background: rgba(217,119,6,0.08)}
footer {display: none !important}
#model-table table {border-collapse: collapse; width: 100%; font-size: 0.9em}
#model-table th, #model-table td {padding: 0.25em 0.5em; border-bottom: 1px solid rgba(128,128,128,0.25);
                                  text-align: left; vertical-align: top}
#model-table td.num, #model-table th.num {text-align: right; white-space: nowrap}
#model-table td:first-child {white-space: nowrap}
#model-table th.for {width: 45%}
#model-table tr.chosen td {background: rgba(99,102,241,0.08)}
#model-table .tag {display: inline-block; font-size: 0.8em; padding: 0 0.4em; margin-left: 0.3em;
                   border-radius: 0.6em; background: rgba(22,163,74,0.15)}
#model-table .tag.exp {background: rgba(217,119,6,0.18)}
#model-table .caption {font-size: 0.8em; opacity: 0.8; margin-top: 0.3em}
"""


def launch_kwargs() -> dict[str, Any]:
    """Appearance and upload limits for ``launch()`` (Gradio 6 takes theme/css there, not in ``gr.Blocks``)."""
    # (tests/test_browser.py checks that the page then fetches nothing from outside this machine)
    return {"theme": gr.themes.Soft(), "css": CSS, "max_file_size": "64mb", "show_error": True}
