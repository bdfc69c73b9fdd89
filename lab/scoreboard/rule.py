"""Which weights to recommend, read off the scored rows by a fixed rule, and the checks that flag a bad row.

The rule uses the gain over the input on the same images, so a row scored on a subset ranks fairly against a row
scored on the whole set.  The demo preselects ``recommended["real_photos"]``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .protocol import SUBSET_SETS, heldout_real

RECOMMENDED_RULE = (
    "Among non-experiment deraining weights (scale 1): real_photos = lowest no-reference rain measure on real_rainy/ "
    "(mean over the photos all of them were scored on) among those not below their input on rain100L and rain100H "
    "(Y-PSNR, same images; if none, lowest of all, fallback=true); heavy = largest Y-PSNR gain over the input on "
    "rain100H; light = the same on rain100L (gain on the same images, so subset rows rank fairly).")

# The rule in words, one bullet per use case (docs/scoreboard.md).
RULE_BULLETS = (
    ("real_photos", ("**Real photos**: among the weights not below their rainy input on Rain100L and on Rain100H "
                    "(Y-PSNR on the same images), the one with the least visible rain left on the real photos "
                    "(lowest no-reference rain measure, mean over the photos every candidate was scored on). If no "
                    "weight qualifies, the lowest of all, marked as a fallback.")),
    ("heavy", "**Heavy rain**: the largest Y-PSNR gain over the rainy input on Rain100H."),
    ("light", "**Light rain**: the largest Y-PSNR gain over the rainy input on Rain100L."),
)
CANDIDATES = ("Candidates are the shipped deraining weights (scale 1) not marked as experiments in their sidecar "
              "(`experiment`); the joint derain+SR weights are listed for upscaling only.")


def gain(row: dict[str, Any], set_name: str) -> float | None:
    r = row["sets"].get(set_name)
    if not r:
        return None
    return r["psnr_y"] - r["input_psnr_y"]


def below_input(row: dict[str, Any]) -> list[str]:
    """The sets among rain100L/rain100H where ``row`` is below its input (Y-PSNR, same images)."""
    return [d for d in SUBSET_SETS if (g := gain(row, d)) is not None and g < 0]


def nr_common(pool: list[dict[str, Any]]) -> dict[str, float]:
    """Each row's mean rain measure over the real photos that every row of ``pool`` was scored on."""
    pool = [r for r in pool if r.get("nr_per_image")]
    common = set.intersection(*(set(r["nr_per_image"]) for r in pool)) if pool else set()
    if not common:
        return {r["weights"]: r["nr_real"] for r in pool}
    return {r["weights"]: float(np.mean([r["nr_per_image"][k] for k in sorted(common)])) for r in pool}


def candidates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if not r["experiment"] and r.get("scale", 1) == 1]


def real_photo_pool(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    """The rows the real-photo pick is chosen among, and whether that is the fallback (none qualified)."""
    cand = candidates(rows)
    ok = [r for r in cand if not below_input(r) and r.get("nr_per_image")]
    return (ok or [r for r in cand if r.get("nr_per_image")]), not ok


def recommend(rows: list[dict[str, Any]]) -> dict[str, Any]:
    cand = candidates(rows)
    out: dict[str, Any] = {"real_photos": None, "heavy": None, "light": None, "fallback": False}
    if not cand:
        return out
    pool, out["fallback"] = real_photo_pool(rows)
    if pool:
        nr = nr_common(pool)
        out["real_photos"] = min(pool, key=lambda r: nr[r["weights"]])["weights"]
    out["heavy"] = max(cand, key=lambda r: gain(r, "rain100H") if gain(r, "rain100H") is not None else -1e9)["weights"]
    out["light"] = max(cand, key=lambda r: gain(r, "rain100L") if gain(r, "rain100L") is not None else -1e9)["weights"]
    return out


def check(board: dict[str, Any]) -> list[str]:
    """One line per non-experiment row below its input on rain100L or rain100H (Y-PSNR)."""
    flags = []
    for r in board["rows"]:
        if r["experiment"]:
            continue
        for d in below_input(r):
            s = r["sets"][d]
            base = "input" if r.get("scale", 1) == 1 else f"bicubic x{r['scale']}"
            flags.append(f"{r['weights']}: {d} {s['psnr_y']:.2f} dB Y < {base} {s['input_psnr_y']:.2f} "
                         f"(n={s['n']}, {s['subset']})")
    return flags


def _verdict(ok: bool) -> str:
    return "ok" if ok else "not yet"


def targets(board: dict[str, Any]) -> list[str]:
    """The project's quality targets, read off the scoreboard (information, not a pass/fail of this command)."""
    rows = {r["weights"]: r for r in board["rows"]}
    lines = []
    drn = [r for r in board["rows"] if r["arch"] == "drn" and not r["experiment"]]
    if drn:
        bl = max(drn, key=lambda r: r["sets"]["rain100L"]["psnr_y"])
        bh = max(drn, key=lambda r: r["sets"]["rain100H"]["psnr_y"])
        for r, d, t in ((bl, "rain100L", 34.0), (bh, "rain100H", 25.0)):
            x = r["sets"][d]
            only = "" if x["subset"] == "all" else ", subset only"
            lines.append(f"best DRN {d} >= {t}: {r['weights']} {x['psnr_y']:.2f} (n={x['n']}, {x['subset']}) "
                         f"[{_verdict(x['psnr_y'] >= t)}{only}]")
    if "sdsen" in rows and "dsen" in rows:
        for d in SUBSET_SETS:
            a, b = gain(rows["sdsen"], d), gain(rows["dsen"], d)
            lines.append(f"S-DSEN >= DSEN on {d} (gain over input, same-subset input): {a:+.2f} vs {b:+.2f} "
                         f"[{_verdict(a >= b)}]")
    if "msnet-semi" in rows and "msnet-sup" in rows and rows["msnet-semi"]["nr_per_image"] \
            and rows["msnet-sup"]["nr_per_image"]:
        se, su = rows["msnet-semi"], rows["msnet-sup"]
        nr = nr_common([se, su])
        a, b = nr["msnet-semi"], nr["msnet-sup"]
        lines.append(f"msnet-semi less rain than msnet-sup (NR, common photos): {a:.2f} vs {b:.2f} "
                     f"[{_verdict(a < b)}]")
        if se.get("nr_real_heldout") is not None and su.get("nr_real_heldout") is not None:
            lines.append(f"  (the same on the {len([k for k in se['nr_per_image'] if k in heldout_real()])} photos "
                         f"the matching never saw: {se['nr_real_heldout']:.2f} vs {su['nr_real_heldout']:.2f})")
        for d in SUBSET_SETS:
            diff = gain(se, d) - gain(su, d)
            lines.append(f"msnet-semi within 0.5 dB of msnet-sup on {d} (gain over input; n={se['sets'][d]['n']} / "
                         f"{su['sets'][d]['n']}): {diff:+.2f} [{_verdict(diff >= -0.5)}]")
    if "derain_sr-x2" in rows and rows["derain_sr-x2"]["sets"]["outdoor_rain_sample"]:
        sr = rows["derain_sr-x2"]["sets"]["outdoor_rain_sample"]["psnr_y"]
        comps = [c for c in board["comparisons"] if c.get("scale") == 2 and c["sets"].get("outdoor_rain_sample")]
        for c in comps:
            v = c["sets"]["outdoor_rain_sample"]["psnr_y"]
            lines.append(f"derain_sr-x2 above {c['label'].split(' (')[0]} on outdoor_rain_sample: {sr:.2f} vs {v:.2f} "
                         f"[{_verdict(sr > v)}]")
    return lines


def reasons(board: dict[str, Any]) -> dict[str, str]:
    """One line per recommended use case saying why the rule picked that weight, with its figures."""
    rows = {r["weights"]: r for r in board["rows"]}
    rec = board["recommended"]
    out: dict[str, str] = {}
    name = rec.get("real_photos")
    if name in rows:
        pool, fallback = real_photo_pool(board["rows"])
        nr = nr_common(pool)
        common = set.intersection(*(set(r["nr_per_image"]) for r in pool))
        inp = board["input"].get("nr_per_image") or {}
        ref = f" against {np.mean([inp[k] for k in sorted(common)]):.2f} for the rainy input" \
            if common and common <= set(inp) else ""
        photos = len(common) or rows[name].get("nr_n")
        which = ("no weight is at or above its input on both Rain100 sets, so among all candidates (fallback)"
                 if fallback else "among the weights not below the input on Rain100L and Rain100H")
        out["real_photos"] = (f"least visible rain left on real photos: rain measure {nr[name]:.2f}{ref} (mean over "
                              f"the {photos} photos every candidate was scored on), {which}")
    for key, d in (("heavy", "rain100H"), ("light", "rain100L")):
        name = rec.get(key)
        if name in rows and rows[name]["sets"].get(d):
            s = rows[name]["sets"][d]
            sub = "" if s["subset"] == "all" else f", n={s['n']} {s['subset']}"
            out[key] = (f"largest Y-PSNR gain on {d.replace('rain', 'Rain')}: {s['psnr_y']:.2f} dB against "
                        f"{s['input_psnr_y']:.2f} for the rainy input ({gain(rows[name], d):+.2f} dB{sub})")
    return out
