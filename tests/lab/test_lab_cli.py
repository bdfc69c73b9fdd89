"""``python -m lab``: its verbs parse the examples docs/cli.md gives, and it stays out of the library's command."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
from helpers import docs_cli_examples

from lab import ROOT
from lab.__main__ import build_parser


def _verbs(parser) -> set[str]:
    return set(next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices)


def test_every_lab_example_in_docs_parses():
    text = (ROOT / "docs" / "cli.md").read_text()
    parser = build_parser()
    verbs = _verbs(parser)
    assert verbs == {"latency", "scoreboard", "campaign"}
    assert {f"lab {v}" for v in verbs} <= set(re.findall(r"^## (lab \S+)$", text, flags=re.MULTILINE))
    parsed = 0
    for argv in docs_cli_examples(text, "python -m lab"):
        ex = "python -m lab " + " ".join(argv)
        if "--help" in argv:
            continue
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"docs/cli.md example does not parse: {ex}")
        parsed += 1
    assert parsed >= len(verbs) * 2


def test_lab_verbs_are_not_library_verbs():
    from derain_lib.cli import build_parser as library_parser

    assert not _verbs(library_parser()) & _verbs(build_parser())


def test_python_m_lab_help_runs_from_the_checkout():
    r = subprocess.run([sys.executable, "-m", "lab", "--help"], cwd=ROOT, capture_output=True, text=True,
                       check=False, timeout=120)
    assert r.returncode == 0 and "scoreboard" in r.stdout, r.stderr
