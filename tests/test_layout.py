"""The shape of the repository a maintainer meets: lint-clean, small rooms, a one-screen README."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400            # per Python file; one model of one paper (derain_lib/models/) may be longer
README_MAX_LINES = 160


def _python_files() -> list[Path]:
    skip = {".venv", ".git", "build", ".ipynb_checkpoints"}
    return [p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts)]


def test_ruff_passes():
    ruff = [sys.executable, "-m", "ruff"] if _has_module("ruff") else [shutil.which("ruff") or "ruff"]
    try:
        res = subprocess.run([*ruff, "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True,
                             check=False)
    except FileNotFoundError:
        raise AssertionError("ruff is not installed: pip install -r requirements.txt") from None
    assert res.returncode == 0, f"ruff check . failed:\n{res.stdout[-4000:]}{res.stderr[-2000:]}"


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_no_python_file_over_the_room_limit():
    models = ROOT / "derain_lib" / "models"
    big = {str(p.relative_to(ROOT)): n for p in _python_files()
           if models not in p.parents and (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"files over {MAX_LINES} lines (split them into modules that each do one job): {big}"


def test_readme_fits_one_screenful_and_holds_no_history():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    dates = re.findall(r"\b20\d\d-\d\d-\d\d\b", text)
    assert not dates, f"README.md names dates {dates}: history belongs in git and docs/training.md"
    assert not re.search(r"\bsession\b", text, flags=re.IGNORECASE), "README.md mentions a work session"


def test_readme_links_resolve():
    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)\)", text)
    missing = [t for t in targets if not t.startswith("http") and not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def _imports(path: Path, package: str, root: Path) -> set[str]:
    """The derain_lib / derain_demo modules ``path`` imports, at the top or inside a function (a lazy import
    hides a circle from Python, not from the reader)."""
    import ast

    here = list(path.relative_to(root).parts[:-1])     # the package the file lives in (for relative imports)
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}   # `from . import x` may name a submodule
    return {m for m in out if m.split(".")[0] == package}


def _find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` (module -> modules it imports) as a path, or None."""
    state: dict[str, int] = {}                       # 1: on the current path, 2: done

    def visit(m: str, stack: list[str]) -> list[str] | None:
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state and (found := visit(d, stack + [d])):
                return found
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m, [m])):
            return found
    return None


def test_no_import_circle():
    """No module of the library or the demo imports a module that imports it back, directly or through others."""
    for package in ("derain_lib", "derain_demo"):
        files = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
                 for p in (ROOT / package).rglob("*.py")}
        graph = {m: {d for d in _imports(p, package, ROOT) if d in files and d != m}
                 for m, p in files.items()}
        # a module importing its own package's __init__ (or an ancestor's) is how Python imports it: not a circle
        graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}
        circle = _find_circle(graph)
        assert circle is None, f"import circle: {' -> '.join(circle)}"
