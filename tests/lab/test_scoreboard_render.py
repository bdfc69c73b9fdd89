"""The scoreboard's rule, Markdown, README blocks and machine notes, on hand-made boards (no models, no data)."""
from __future__ import annotations

import copy

import pytest

from lab import scoreboard as sb
from lab.markers import block, splice

MACHINE_A = "AMD EPYC, 2 logical cores, torch 2.13.0+cpu (1 threads), no GPU"
MACHINE_B = "Intel(R) Xeon(R) Processor, 2 logical cores, torch 2.13.0+cpu (1 threads), no GPU"


def _set(psnr, inp, n=100, subset="all"):
    return {"psnr_y": psnr, "ssim_y": 0.5, "psnr_rgb": psnr - 1, "ssim_rgb": 0.4, "input_psnr_y": inp,
            "input_ssim_y": 0.3, "input_psnr_rgb": inp - 1, "input_ssim_rgb": 0.2, "n": n, "of": 100,
            "subset": subset}


def _row(name, l_gain, h_gain, nr, experiment=False, scale=1, machines=(MACHINE_A,), photos=("p0",)):
    return {"weights": name, "experiment": experiment, "scale": scale, "arch": "drn", "params": 10,
            "nr_real": nr, "nr_subset": "all", "nr_n": len(photos), "nr_per_image": dict.fromkeys(photos, nr),
            "cpu_seconds_per_image": 0.5, "timing_machines": list(machines),
            "timing": {"first": {"machine": machines[0], "threads": 1},
                       "last": {"machine": machines[-1], "threads": 1}},
            "sets": {"rain100L": _set(27 + l_gain, 27.0), "rain100H": _set(14 + h_gain, 14.0),
                     "outdoor_rain_sample": _set(15.0, 15.5, n=4)}}


def _board(rows):
    board = {"rows": rows, "comparisons": [], "papers": sb.PAPERS, "pending": [],
             "input": {"sets": {"rain100L": _set(27.0, 27.0), "rain100H": _set(14.0, 14.0),
                                "outdoor_rain_sample": _set(15.5, 15.5, n=4)},
                       "nr_real": 5.0, "nr_per_image": {"p0": 5.0, "p1": 6.0}},
             "generated": "some day", "machine": {"machine": "the machine running the command", "threads": 7}}
    board["recommended"] = sb.recommend(rows)
    return board


ROWS = [_row("light-best", 3.0, 5.0, 4.0), _row("heavy-best", 0.5, 9.0, 3.0),
        _row("low-nr-but-hurts", -1.0, 8.0, 1.0), _row("exp", 9.0, 12.0, 0.5, experiment=True)]


def test_recommended_rule_and_check():
    rec = sb.recommend(ROWS)
    assert rec["real_photos"] == "heavy-best"  # lowest NR among those not below the input
    # experiment weights never win; heavy/light by gain over the input
    assert rec["heavy"] == "heavy-best" and rec["light"] == "light-best" and rec["fallback"] is False
    flags = sb.check({"rows": ROWS})
    assert len(flags) == 1 and flags[0].startswith("low-nr-but-hurts: rain100L")
    assert sb.recommend([_row("a", -1, 1, 2.0), _row("b", -2, 1, 1.0)])["fallback"] is True


def test_real_photo_pick_compares_only_the_photos_every_candidate_saw():
    # "sparse" was scored on p0 only, where it is worse; its lower mean comes from a photo the other never saw
    dense = _row("dense", 1, 1, 3.0, photos=("p0", "p1"))
    dense["nr_per_image"] = {"p0": 2.0, "p1": 4.0}
    sparse = _row("sparse", 1, 1, 2.5, photos=("p0",))
    assert sb.recommend([dense, sparse])["real_photos"] == "dense"
    why = sb.reasons(_board([dense, sparse]))["real_photos"]
    assert "rain measure 2.00 against 5.00 for the rainy input" in why and "the 1 photos" in why


def test_reasons_quote_the_figures_of_the_pick():
    why = sb.reasons(_board(ROWS))
    assert why["heavy"] == ("largest Y-PSNR gain on Rain100H: 23.00 dB against 14.00 for the rainy input "
                            "(+9.00 dB)")
    assert "+3.00 dB" in why["light"] and "not below the input" in why["real_photos"]
    fallback = sb.reasons(_board([_row("a", -1, 1, 2.0), _row("b", -2, 1, 1.0)]))["real_photos"]
    assert "fallback" in fallback


def test_markdown_depends_on_the_scores_only():
    board = _board(ROWS)
    other = copy.deepcopy(board)
    other.update(generated="another day", machine={"machine": "elsewhere", "threads": 3}, command="x")
    assert sb.to_markdown(board) == sb.to_markdown(other)
    assert sb.readme_blocks(board) == sb.readme_blocks(other)
    other["rows"][1]["sets"]["rain100H"]["psnr_y"] += 0.01
    assert sb.to_markdown(board) != sb.to_markdown(other)


def test_document_sections_and_rows():
    md = sb.to_markdown(_board(ROWS))
    assert md.startswith(sb.GENERATED + "\n")
    for title in ("What is measured", "The recommendation rule", "All weights, Y channel", "All weights, RGB",
                  "Machines", "Published figures"):
        assert f"\n## {title}\n" in md
    for r in ROWS:
        assert f"| `{r['weights']}`" in md
    assert "`exp` (experiment)" in md and "heavy rain: `heavy-best`" in md
    assert f"- {MACHINE_A}: `light-best`, `heavy-best`, `low-nr-but-hurts`, `exp`" in md
    assert all(p["source"] in md for p in sb.PAPERS)


def test_results_block_is_compact_and_labels_every_source():
    board = _board(ROWS)
    rows = sb.result_rows(board)
    assert len(rows) <= sb.MAX_RESULT_ROWS
    labels = [r[0] for r in rows]
    # the input, each recommended weight once (heavy-best is the pick for two cases), then the papers
    assert labels[:3] == ["*rainy input*", "`heavy-best` (pick for real photos, heavy rain)",
                          "`light-best` (pick for light rain)"]
    assert all(r[1] for r in rows)  # every row says where its figures come from
    papers = [p for p in sb.PAPERS if {"rain100L", "rain100H"} & set(p["sets"])]
    assert labels[3:] == [f"*{p['label']}*" for p in papers][: sb.MAX_RESULT_ROWS - 3]
    text = sb.results_block(board)
    assert "| `heavy-best` (pick for real photos, heavy rain) | this scoreboard | 27.50 / 0.500 | 23.00 / 0.500 " \
           "| 0.50 |" in text
    assert "timed on AMD EPYC, 1 torch thread" in text


def test_pick_block_lists_each_use_case_and_the_sr_weights():
    rows = [*ROWS, _row("sr-x2", 1.0, 7.0, 2.0, scale=2)]
    text = sb.pick_block(_board(rows))
    assert "| your own rainy photos (the demo's default) | `heavy-best` |" in text
    assert "| light rain, thin streaks | `light-best` |" in text
    assert "`sr-x2`" in text and "x2 21.00 dB against 14.00 for bicubic" in text
    assert "`exp`" not in text


def test_splice_replaces_only_the_named_block():
    text = "a\n<!-- pick:begin -->\nold\n<!-- pick:end -->\nb\n<!-- results:begin -->\n<!-- results:end -->\nc\n"
    new = splice(text, "results", "R1\nR2\n")
    assert new == text.replace("<!-- results:begin -->\n", "<!-- results:begin -->\nR1\nR2\n")
    assert block(new, "results") == "R1\nR2" and block(new, "pick") == "old"
    assert splice(new, "results", "R1\nR2") == new  # idempotent
    with pytest.raises(ValueError, match="not found"):
        splice(text, "scoreboard", "x")
    assert block(text, "scoreboard") is None


def test_cpu_times_from_several_machines_are_labelled():
    board = _board(copy.deepcopy(ROWS[:2]))
    assert sb.timing_machines_note(board) == ""              # one machine timed everything
    assert "more than one machine" not in sb.to_markdown(board)
    board["rows"][0]["timing_machines"] = ["AMD EPYC, 2 logical cores"]
    board["rows"][1]["timing_machines"] = ["Intel Xeon, 2 logical cores", "AMD EPYC, 2 logical cores"]
    note = sb.timing_machines_note(board)
    assert "AMD EPYC: `light-best`" in note and "AMD EPYC and Intel Xeon: `heavy-best`" in note
    assert note in sb.to_markdown(board)
    assert "- Intel Xeon, 2 logical cores: `heavy-best`" in sb.machines_markdown(board)


def test_lineage_that_used_the_old_heavy_thin_is_flagged():
    from derain_lib.rain import PRESET_CALIBRATION

    note = [sb.HEAVY_THIN_NOTE]
    old = {"lineage": [{"command": "python -m derain_lib train drn --preset heavy_thin --steps 10", "steps": 10},
                       {"command": "python -m derain_lib train drn --preset bank_heavy", "preset": "bank_heavy"}]}
    assert sb.lineage_flags(old) == note
    # in a run's training phases, in a joined preset, or at the top level of a sidecar that predates lineages
    assert sb.lineage_flags({"lineage": [{"preset": "mixed", "training_phases": [{"preset": "heavy_thin"}]}]}) == note
    assert sb.lineage_flags({"lineage": [{"preset": "heavy_thin+heavy_cross"}]}) == note
    assert sb.lineage_flags({"command": "train drn --preset heavy_thin", "summary": "x"}) == note
    # a run recorded with the recalibrated presets, a mention outside the training record, or none: no flag
    assert sb.lineage_flags({"lineage": [{"preset": "heavy_thin", "preset_calibration": PRESET_CALIBRATION}]}) == []
    assert sb.lineage_flags({"summary": "3.2 dB gained on heavy_thin", "lineage": [{"preset": "bank"}]}) == []
    assert sb.lineage_flags({"lineage": [{"preset": "heavy_thinner"}]}) == []
    assert sb.lineage_flags({"lineage": [{"preset": "bank_heavy"}]}) == [] and sb.lineage_flags({}) == []


def test_flagged_rows_carry_a_footnote_and_the_sentence():
    board = _board(ROWS)
    assert "†" not in sb.to_markdown(board)           # hand-made names: no shipped sidecar, no flag
    board["lineage_flags"] = {"heavy-best": [sb.HEAVY_THIN_NOTE]}
    md = sb.to_markdown(board)
    assert "| `heavy-best` † | drn |" in md            # Y table
    assert "| `heavy-best` † | 26.50 / 0.400 |" in md  # RGB table
    assert "| `light-best` | drn |" in md
    assert "- heavy rain: `heavy-best` †, largest" in md
    sentence = ("† Lineage includes heavy_thin as first calibrated on 12 Rain100H test images; replace by "
                "retraining: `heavy-best`.")
    assert md.count(sentence) == 2                       # under the picks and under the Y table
    # the README blocks are not marked (they are spliced into README.md by the same command)
    assert "†" not in "".join(sb.readme_blocks(board).values())


def test_shipped_weights_descended_from_the_old_heavy_thin_are_flagged():
    """drn-heavy and drn-light both start from the DRN trained 2,900 steps on heavy_thin before its recalibration;
    when they are replaced by retraining, this list shrinks."""
    flags = sb.weight_flags(sb.weight_files())
    assert sorted(flags) == ["drn-heavy", "drn-light"]
    assert all(v == [sb.HEAVY_THIN_NOTE] for v in flags.values())
