"""The model picker: a table of what each weight is for, its expected time and scoreboard figures."""
from __future__ import annotations

import html

from derain_lib import reports

from .config import FALLBACK_DEFAULT, RECOMMENDED_TAGS, SCORE_SETS
from .model_bank import ModelBank

__all__ = ["Picker"]


def _secs(t: float) -> str:
    return f"{t:.2f} s" if t < 10 else f"{t:.0f} s"


class Picker:
    """Rows and HTML of the Derain tab's model table; pure functions of the bank, latency.json and scoreboard."""

    def __init__(self, bank: ModelBank, latency: dict | None, scoreboard: dict | None):
        self.bank, self.latency, self.board = bank, latency, scoreboard
        rows = (scoreboard or {}).get("rows") or []
        self.scores = {r.get("weights"): r for r in rows if isinstance(r, dict)}
        rec = (scoreboard or {}).get("recommended") or {}
        self.tags: dict[str, list[str]] = {}
        for key, text in RECOMMENDED_TAGS.items():
            if rec.get(key):
                self.tags.setdefault(rec[key], []).append(text)
        self.default = self._default(rec.get("real_photos"))

    @property
    def experiments(self) -> list[str]:
        return [n for n in self.bank.derain_names if self.bank.is_experiment(n)]

    def names(self, show_experiments: bool) -> list[str]:
        return [n for n in self.bank.derain_names if show_experiments or not self.bank.is_experiment(n)]

    def choices(self, show_experiments: bool) -> list[tuple[str, str]]:
        return [(self.bank.label(n), n) for n in self.names(show_experiments)]

    def _default(self, recommended: str | None) -> str | None:
        names = self.names(False) or self.bank.derain_names
        for cand in (recommended, FALLBACK_DEFAULT):
            if cand in names:
                return cand
        return names[0] if names else None

    # -- expected time ----------------------------------------------------------------------------------------
    def latency_row(self, name: str) -> tuple[dict | None, str]:
        """(latency row, the measured weight it comes from): the weight itself, or one of the same arch + config."""
        row = reports.latency_row(self.latency, self.bank.label(name), self.bank.arch(name),
                                self.bank.config(name) or None)
        return row, (row or {}).get("weights", "")

    def expected(self, name: str, pixels: int | None) -> str:
        """'1.2 s' for ``pixels`` (None: the measured sizes), or 'n/a' (no latency.json / not measured / GPU)."""
        if self.latency is None:
            return "n/a"
        if self.bank.device.type != "cpu" and "no GPU" in str(self.latency.get("machine", "")):
            return "n/a (measured on CPU)"
        row, source = self.latency_row(name)
        if row is None:
            return "n/a"
        as_ = f" (as {source})" if source != name else ""
        if pixels is None:
            secs = [row["seconds"].get(k) for k in self.latency["sizes"]]
            return " / ".join("n/a" if t is None else _secs(t) for t in secs) + as_
        t = reports.expected_seconds(self.latency, row, pixels)
        return ("n/a" if t is None else _secs(t)) + as_

    # -- scoreboard ---------------------------------------------------------------------------------------------
    def score(self, name: str, set_name: str) -> str:
        r = (self.scores.get(name) or {}).get("sets", {}).get(set_name)
        try:
            text = f"{float(r['psnr_y']):.2f}"
        except (TypeError, KeyError, ValueError):
            return "n/a"
        n, of = r.get("n"), r.get("of")
        if n and of and n < of:
            text += f" ({n}/{of})"
        return text

    def input_score(self, set_name: str) -> str | None:
        try:
            return f"{float(self.board['input']['sets'][set_name]['psnr_y']):.2f}"
        except (TypeError, KeyError, ValueError):
            return None

    # -- the table ------------------------------------------------------------------------------------------------
    def rows(self, show_experiments: bool, pixels: int | None = None) -> list[dict]:
        out = []
        for n in self.names(show_experiments):
            tags = list(self.tags.get(n, []))
            if self.bank.is_experiment(n):
                tags.append("experiment")
            out.append({"name": n, "label": self.bank.label(n), "arch": self.bank.arch(n),
                        "for": self.bank.purpose(n), "tags": tags, "expected": self.expected(n, pixels),
                        **{key: self.score(n, key) for key, _ in SCORE_SETS}, "describe": self.bank.describe(n)})
        return out

    def html(self, show_experiments: bool, size: tuple[int, int] | None = None, chosen=(),
             pixels: int | None = None) -> str:
        """The table for the photo at hand: ``size`` = the (W, H) it is processed at (None before a photo is
        chosen), ``pixels`` = the pixels the models see (more than W*H when tiled; default W*H)."""
        if size and pixels is None:
            pixels = size[0] * size[1]
        rows = self.rows(show_experiments, pixels)
        if not rows:
            return "<div id='model-table-empty'><em>No deraining models to list.</em></div>"
        e = html.escape
        if size:
            t_sub = f"this photo ({size[0]}x{size[1]})"
        elif self.latency is None:
            t_sub = ""
        else:
            t_sub = "at " + " / ".join(k.replace("MP", " MP") for k in self.latency["sizes"])
        heads = [f"expected time<br><small>{e(t_sub)}</small>"]
        for key, title in SCORE_SETS:
            inp = self.input_score(key)
            heads.append(f"{title}<br><small>Y-PSNR" + (f", input {inp}" if inp else "") + "</small>")
        lines = ["<table><thead><tr><th>model</th><th class='for'>what it is for</th>"
                 + "".join(f"<th class='num'>{h}</th>" for h in heads) + "</tr></thead><tbody>"]
        for r in rows:
            tags = "".join(f"<span class='tag{' exp' if t == 'experiment' else ''}'>{e(t)}</span>" for t in r["tags"])
            cls = " class='chosen'" if r["name"] in (chosen or ()) else ""
            lines.append(f"<tr{cls} data-model='{e(r['name'])}' title='{e(r['describe'])}'>"
                         f"<td><code>{e(r['label'])}</code></td><td>{e(r['for'])}{tags}</td>"
                         f"<td class='num'>{e(r['expected'])}</td>"
                         + "".join(f"<td class='num'>{e(r[key])}</td>" for key, _ in SCORE_SETS) + "</tr>")
        lines.append("</tbody></table>")
        lines.append(f"<div class='caption'>{self.caption()}</div>")
        return "".join(lines)

    def caption(self) -> str:
        e = html.escape
        if self.latency is None:
            t = "No <code>latency.json</code> yet (<code>python -m lab latency --write</code>): no expected times."
        else:
            la = (self.latency.get("load_avg") or {}).get("before")
            t = (f"Expected times: measured with <code>python -m lab latency</code> on "
                 f"{e(str(self.latency.get('machine', '?')))}, {e(str(self.latency.get('threads', '?')))} threads"
                 + (f", load {la[0]:.1f}" if la else "") + f" ({e(str(self.latency.get('date', '')))}), scaled "
                 "by megapixels to the size that is processed; your machine will differ.")
        if self.board is None:
            q = "No <code>scoreboard.json</code> yet (<code>python -m lab scoreboard --write</code>): no scores."
        else:
            q = ("Y-PSNR in dB (BT.601 luma, as in the papers) from the scoreboard"
                 + (f" of {e(str(self.board.get('generated')))}" if self.board.get("generated") else "")
                 + "; (n/100) = scored on a subset. Hover a row for the training details.")
        return t + " " + q
