"""Figures this scoreboard did not measure, each with where it comes from and under which protocol.

kind ``paper``: the paper's own table (its training data, hardware and evaluation code); kind ``authors_weights``:
the authors' released weights scored with this project's Y-PSNR/SSIM on its copies of the sets, not re-run by
the scoreboard command.
"""
from __future__ import annotations

from typing import Any

PAPERS: list[dict[str, Any]] = [
    {"label": "DRN paper, RainTrainH-trained, GPU, in-domain", "arch": "drn", "kind": "paper",
     "sets": {"rain100H": {"psnr_y": 26.99, "ssim_y": 0.861}},
     "source": "Cai et al., ICIP 2019, Table; quoted in derain_lib/weights/drn-mixed.json 'paper'"},
    {"label": "DRN authors' released weights, RainTrainL-trained (reported)", "arch": "drn",
     "kind": "authors_weights", "sets": {"rain100L": {"psnr_y": 35.84, "ssim_y": 0.971}},
     "source": "authors' RainTrainL weights on our rain100L/ (100), ../shared/DESIGN.md; not re-run here"},
    {"label": "DRN authors' released weights, RainTrainH-trained (reported)", "arch": "drn",
     "kind": "authors_weights",
     "sets": {"rain100H": {"psnr_y": 27.00, "ssim_y": 0.862}, "rain100L": {"psnr_y": 30.51, "ssim_y": None}},
     "source": "authors' RainTrainH weights on our rain100H/ and rain100L/, ../shared/DESIGN.md; not re-run here"},
    {"label": "S-DSEN paper, RainTrainH-trained, in-domain", "arch": "sdsen", "kind": "paper",
     "sets": {"rain100H": {"psnr_y": 27.16, "ssim_y": 0.8589}},
     "source": "Liu et al., ICIP 2019; quoted in derain_lib/weights/sdsen.json 'paper_reference'"},
    {"label": "MSNet paper (set and protocol unverified)", "arch": "msnet", "kind": "paper",
     "sets": {"rain100H": {"psnr_y": 30.68, "ssim_y": 0.93}},
     "source": "Qiu et al., as quoted in notebooks/03_distribution_matching.ipynb (PAPER); the paper's text was "
               "not available to us (models/semi.py), so set and protocol are unverified"},
    {"label": "derain_sr paper x2, full Outdoor-Rain test set (not our 4-pair sample)", "arch": "derain_sr",
     "kind": "paper", "sets": {"outdoor_rain_sample": {"psnr_y": 22.67, "ssim_y": 0.755}},
     "source": "Vu & Kim; quoted in derain_lib/weights/derain_sr-x2.json 'evaluation.paper_context'"},
]

# How each kind was measured, as the README's results table labels it.
PROTOCOL_OF_KIND = {
    "paper": "the paper's table (its training, test code and hardware)",
    "authors_weights": "our Y-PSNR/SSIM on our copy of the set",
}
