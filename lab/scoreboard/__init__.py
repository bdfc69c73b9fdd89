"""One scoreboard: every shipped weight on the benchmark sets, next to the rainy input and the papers' figures.

``python -m lab scoreboard [--weights NAMES...] [--write] [--check] [--max-seconds-per-weight S]
[--subset auto|all|every5|every20] [--sets ...] [--cached-only] [--jobs N] [--threads 1]``

``nice -n 10 python -m lab scoreboard --jobs 2 --write`` evaluates what the cache lacks and writes
``derain_lib/weights/scoreboard.json`` (read by the demo), ``docs/scoreboard.md``, the README's ``pick`` and
``results`` blocks and ``assets/scoreboard/quality_vs_time.png``; ``--check`` flags rows below their input.

One module per job:

* :mod:`.protocol`: the sets (rain100L/H and the Outdoor-Rain sample: Y and RGB PSNR/SSIM; real photos: the
  no-reference rain measure), the subsets a slow weight is scored on, the metrics, the output paths;
* :mod:`.methods`: what is scored (a weight, the rainy input, the bicubic baselines of the SR protocol);
* :mod:`.cache`: per-image results keyed by the weight file's sha256, the set's fingerprint and the protocol;
* :mod:`.evaluate`: one method on one set through the cache, one weight's row, the subset its speed allows;
* :mod:`.board`: the whole board (input row, weights, SR comparison rows, papers, picks);
* :mod:`.rule`: the recommendation rule, the below-input check and the project's targets;
* :mod:`.lineage`: the notes a weight earns from its training history (a lineage that used ``heavy_thin`` as it
  was first calibrated, on Rain100H test images);
* :mod:`.papers`: figures not measured here, with their sources;
* :mod:`.machines`: the machine each timing came from;
* :mod:`.render`, :mod:`.readme`, :mod:`.plot`, :mod:`.publish`: docs/scoreboard.md, the README blocks, the
  plot, and writing them all.
"""
from __future__ import annotations

from .board import build
from .cache import Cache
from .evaluate import (
    choose_subset,
    densest_cached,
    eval_paired,
    eval_real,
    evaluate_weight,
    remaining_pixels,
    score_one,
    set_summary,
)
from .lineage import HEAVY_THIN_NOTE, board_flags, lineage_flags, weight_flags
from .machines import machine_state, machines_markdown, short_machine, timing_machines_note
from .methods import Method, bicubic_method, input_method, weight_files, weight_method
from .papers import PAPERS, PROTOCOL_OF_KIND
from .plot import plot
from .protocol import (
    CACHE_DIR,
    COMMAND,
    DEFAULT_MAX_SECONDS,
    JSON_PATH,
    MD_PATH,
    METRICS,
    NR_MAX_PIXELS,
    NR_SET,
    OUT_DIR,
    PAIRED_SETS,
    PNG_PATH,
    PROTOCOL,
    README_PATH,
    SUBSET_SETS,
    SUBSETS,
    downscale_to,
    heldout_real,
    real_photo_files,
    set_fingerprint,
    subset_indices,
)
from .publish import write
from .readme import MAX_RESULT_ROWS, pick_block, readme_blocks, result_rows, results_block, update_readme
from .render import GENERATED, lineage_legend, lineage_marks, rgb_table, to_json, to_markdown, y_table
from .rule import RECOMMENDED_RULE, below_input, check, gain, reasons, recommend, targets

__all__ = [
    "CACHE_DIR", "COMMAND", "DEFAULT_MAX_SECONDS", "GENERATED", "HEAVY_THIN_NOTE", "JSON_PATH", "MAX_RESULT_ROWS",
    "MD_PATH", "METRICS", "NR_MAX_PIXELS", "NR_SET", "OUT_DIR", "PAIRED_SETS", "PAPERS", "PNG_PATH", "PROTOCOL",
    "PROTOCOL_OF_KIND", "README_PATH", "RECOMMENDED_RULE", "SUBSETS", "SUBSET_SETS",
    "Cache", "Method", "below_input", "bicubic_method", "board_flags", "build", "check", "choose_subset",
    "densest_cached", "downscale_to", "eval_paired", "eval_real", "evaluate_weight", "gain", "heldout_real",
    "input_method", "lineage_flags", "lineage_legend", "lineage_marks", "machine_state", "machines_markdown",
    "pick_block", "plot", "readme_blocks", "real_photo_files", "reasons", "recommend", "remaining_pixels",
    "result_rows", "results_block", "rgb_table", "score_one", "set_fingerprint", "set_summary", "short_machine",
    "subset_indices", "targets", "timing_machines_note", "to_json", "to_markdown", "update_readme",
    "weight_files", "weight_flags", "weight_method", "write", "y_table",
]
