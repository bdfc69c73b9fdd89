"""The README's generated blocks and docs/scoreboard.md are what the renderer makes of the scored results, never
typed: each test renders them again in memory and compares, so a hand edit (or a stale file) fails."""
import json
import re
from pathlib import Path

import pytest

from lab import scoreboard as sb
from lab.markers import block

ROOT = Path(__file__).resolve().parents[2]
HINT = "re-run `python -m lab scoreboard --write` (it rewrites docs/scoreboard.md and the README's blocks)"


def _published_board() -> dict:
    return json.loads((ROOT / "derain_lib" / "weights" / "scoreboard.json").read_text())


@pytest.fixture(scope="module")
def cached_board():
    """The board rebuilt from the per-image cache alone (evaluates nothing; needs the data root for the sets'
    fingerprints)."""
    try:
        for d in (*sb.PAIRED_SETS, sb.NR_SET):
            sb.set_fingerprint(d)
    except FileNotFoundError as e:
        pytest.skip(f"benchmark data not available: {e}")
    cache = sb.Cache(sb.CACHE_DIR)
    board = sb.build(cached_only=True, cache=cache, log=lambda s: None)
    assert cache.computed == [] and board["pending"] == [], "the cache lacks results: run the scoreboard"
    return board


def _check(board: dict) -> None:
    readme = (ROOT / "README.md").read_text()
    for name, body in sb.readme_blocks(board).items():
        assert block(readme, name) == body, f"README's {name} block differs from the generated one: {HINT}"
    assert (ROOT / "docs" / "scoreboard.md").read_text() == sb.to_markdown(board), \
        f"docs/scoreboard.md differs from the generated one: {HINT}"


def test_readme_and_docs_match_the_published_json():
    _check(_published_board())


def test_readme_and_docs_match_the_cache(cached_board):
    _check(cached_board)
    published = _published_board()
    assert sb.to_json(cached_board)["rows"] == published["rows"], f"scoreboard.json is stale: {HINT}"


def test_readme_results_block_is_compact():
    text = block((ROOT / "README.md").read_text(), "results")
    assert text is not None, "README.md lacks the results markers"
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]  # without the header
    assert 3 <= len(rows) <= sb.MAX_RESULT_ROWS
    assert rows[0].startswith("| *rainy input* |")
    rec = _published_board()["recommended"]
    for key in ("real_photos", "heavy", "light"):
        assert any(r.startswith(f"| `{rec[key]}` ") for r in rows)


def test_docs_scoreboard_is_marked_generated():
    assert (ROOT / "docs" / "scoreboard.md").read_text().splitlines()[0] == sb.GENERATED
    assert re.search(r"<!-- pick:begin -->\n.+\n<!-- pick:end -->", (ROOT / "README.md").read_text(), flags=re.DOTALL)


def test_readme_first_commands_match_ci():
    """The README's two newcomer commands install what .ci/run installs."""
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    for step in ("pip install torch==2.13.0", "pip install -r requirements.txt", "python -m pytest"):
        assert step in readme.split("## ")[0] and step in ci
