"""The README's scoreboard is the generated one (assets/scoreboard/scoreboard.md), pasted verbatim, never typed."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_embeds_the_generated_scoreboard():
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- scoreboard:begin -->\n(.*?)\n<!-- scoreboard:end -->", readme, flags=re.S)
    assert m, "README.md lacks the scoreboard markers"
    assert m.group(1).strip() == (ROOT / "assets" / "scoreboard" / "scoreboard.md").read_text().strip(), \
        "README's scoreboard differs from assets/scoreboard/scoreboard.md: re-run `python -m derain_lib scoreboard " \
        "--write` (it rewrites the README's section between the markers)"


def test_readme_first_commands_match_ci():
    """The README's two newcomer commands install what .ci/run installs."""
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    for step in ("pip install torch==2.13.0", "pip install -r requirements.txt", "python -m pytest"):
        assert step in readme.split("## ")[0] and step in ci
