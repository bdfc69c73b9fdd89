"""The shape of the repository a maintainer meets: lint-clean, a one-screen README, and one import graph whose
layers a test keeps (the library never imports the lab or the demo; the science imports only the ground floor;
no module reaches into another's private names)."""
from __future__ import annotations

import ast
import functools
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
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


# --- the import graph: one walker, every rule below reads it ------------------------------------------------------

PACKAGES = ("derain_lib", "derain_demo", "lab")
SCIENCE = ("derain_lib.models", "derain_lib.layers")
# what the science may import: itself and the ground floor it stands on
GROUND = SCIENCE + ("derain_lib.io", "derain_lib.metrics", "derain_lib.losses", "derain_lib.mser",
                    "derain_lib.perceptual", "derain_lib.paths")
# the library's faces: the only modules that may import the command line or argparse
FACES = ("derain_lib.cli", "derain_lib.__main__")
TRAINING = ("derain_lib.train", "derain_lib.data", "derain_lib.rain", "derain_lib.rain_bank", "derain_lib.folders",
            "derain_lib.recipe", "derain_lib.lineage")


@dataclass(frozen=True)
class Arrow:
    src: str          # importing module
    dst: str          # imported module (a module of ours, or the package a name comes from)
    names: tuple      # names taken with ``from dst import ...``
    lazy: bool        # inside a function or class (hidden from Python's import order, not from the reader)
    line: int


def _module_files() -> dict[str, Path]:
    files = {}
    for package in PACKAGES:
        for p in (ROOT / package).rglob("*.py"):
            files[".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")] = p
    files["demo_app"] = ROOT / "demo_app.py"
    return files


def _walk(mod: str, path: Path, known: set[str]) -> tuple[list[Arrow], list[tuple[str, int]]]:
    """The arrows out of one module, and the ``module._private`` attributes it reads off modules it imported."""
    tree = ast.parse(path.read_text())
    here = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    lazy_nodes = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                       ast.ClassDef))
                  for n in ast.walk(f) if n is not f}
    arrows, bound = [], {}
    for node in ast.walk(tree):
        lazy = id(node) in lazy_nodes
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "argparse":
                    arrows.append(Arrow(mod, "argparse", (), lazy, node.lineno))
                if a.name.split(".")[0] in PACKAGES:
                    arrows.append(Arrow(mod, a.name, (), lazy, node.lineno))
                    bound[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            target = (".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else []))
                      if node.level else (node.module or ""))
            if target == "argparse":
                arrows.append(Arrow(mod, "argparse", tuple(a.name for a in node.names), lazy, node.lineno))
            if target.split(".")[0] not in PACKAGES:
                continue
            names = tuple(a.name for a in node.names)
            arrows.append(Arrow(mod, target, names, lazy, node.lineno))
            for a in node.names:                        # `from . import x` may name a submodule
                if f"{target}.{a.name}" in known:
                    arrows.append(Arrow(mod, f"{target}.{a.name}", (), lazy, node.lineno))
                    bound[a.asname or a.name] = f"{target}.{a.name}"
    private_reads = [(f"{bound[n.value.id]}.{n.attr}", n.lineno) for n in ast.walk(tree)
                     if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in bound
                     and n.attr.startswith("_") and not n.attr.startswith("__")]
    return arrows, private_reads


@functools.cache
def _graph() -> tuple[dict[str, Path], list[Arrow], list[tuple[str, str, int]]]:
    files = _module_files()
    arrows, privates = [], []
    for mod, path in files.items():
        a, p = _walk(mod, path, set(files))
        arrows += a
        privates += [(mod, what, line) for what, line in p]
    return files, arrows, privates


def _under(mod: str, prefixes) -> bool:
    return any(mod == p or mod.startswith(p + ".") for p in ([prefixes] if isinstance(prefixes, str) else prefixes))


def _find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` (module -> modules it imports) as a path, or None."""
    state: dict[str, int] = {}                       # 1: on the current path, 2: done

    def visit(m: str, stack: list[str]) -> list[str] | None:
        state[m] = 1
        for d in sorted(graph.get(m, ())):
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


def _module_graph(arrows: list[Arrow], files) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in files}
    for a in arrows:
        # a module importing its own package's __init__ (or an ancestor's) is how Python imports it: not a circle
        if a.dst in files and a.dst != a.src and not a.src.startswith(a.dst + "."):
            graph[a.src].add(a.dst)
    return graph


def _violations(arrows: list[Arrow], files) -> list[str]:
    """Every arrow that breaks a layering rule, as 'src -> dst (line): rule'."""
    out = []
    for a in arrows:
        where = f"{a.src} -> {a.dst} (line {a.line})"
        if _under(a.src, "derain_lib") and _under(a.dst, ("lab", "derain_demo", "demo_app")):
            out.append(f"{where}: the library never imports the lab or the demo")
        if _under(a.src, ("derain_demo", "demo_app")) and _under(a.dst, "lab"):
            out.append(f"{where}: the demo reads the lab's reports through derain_lib.reports, never lab code")
        if _under(a.src, SCIENCE) and a.dst in files and not _under(a.dst, GROUND):
            out.append(f"{where}: models/ and layers/ import only the ground floor {GROUND}")
        if _under(a.src, "derain_lib") and not _under(a.src, FACES) and _under(a.dst, "derain_lib.cli"):
            out.append(f"{where}: only the command line's own modules import derain_lib.cli")
        if _under(a.src, "derain_lib") and not _under(a.src, FACES) and a.dst == "argparse":
            out.append(f"{where}: argparse belongs to the command line (derain_lib/cli)")
        if _under(a.src, TRAINING) and _under(a.dst, ("derain_lib.evaluate", "derain_lib.checkpoint",
                                                      "derain_lib.infer", "derain_lib.export")):
            out.append(f"{where}: training never reaches into evaluation, inference or the weight hub")
        own_module = a.dst in files and not _under(a.src, a.dst)
        for n in a.names:
            if n.startswith("_") and not n.startswith("__") and (own_module or a.dst.split(".")[0] in PACKAGES):
                out.append(f"{where}: imports the private name {n}")
    return out


def test_no_import_circle():
    """No module imports a module that imports it back, directly or through others, lazily or not."""
    files, arrows, _ = _graph()
    graph = _module_graph(arrows, files)
    assert {"derain_lib.data", "derain_lib.rain", "derain_lib.folders", "lab.scoreboard"} <= set(graph)
    assert "derain_lib.rain" in graph["derain_lib.data"]        # the walker sees relative imports
    circle = _find_circle(graph)
    assert circle is None, f"import circle: {' -> '.join(circle)}"
    assert _find_circle({**graph, "derain_lib.paths": {"derain_lib.data"}}) is not None   # a planted one is found


def test_the_rain_synthesizer_never_reaches_the_batch_layer():
    """Not even lazily inside a function: rain -> rain_bank -> folders, never data (which imports rain)."""
    files, arrows, _ = _graph()
    graph = _module_graph(arrows, files)
    seen, todo = set(), ["derain_lib.rain"]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += graph.get(m, ())
    assert "derain_lib.rain_bank" in seen and "derain_lib.folders" in seen
    assert "derain_lib.data" not in seen


def test_the_layers_hold():
    """derain_lib never imports lab or derain_demo; the demo never imports lab; the science imports only the
    ground floor; only the command line imports the command line or argparse; training never reaches into
    evaluation or inference; no module imports another module's private names."""
    files, arrows, _ = _graph()
    bad = _violations(arrows, files)
    assert not bad, "layering broken:\n" + "\n".join(bad)


def test_no_module_reads_another_modules_privates():
    """``infer._starts`` from the demo, say: a name with an underscore is its own module's business."""
    _, _, privates = _graph()
    assert not privates, "private names read across modules:\n" + "\n".join(f"{m} (line {ln}): {w}"
                                                                              for m, w, ln in privates)


def test_the_rules_catch_the_arrows_the_review_found():
    """Each wrong arrow of the architecture review, planted in today's graph, is caught by a rule."""
    files, arrows, _ = _graph()
    planted = [
        Arrow("derain_lib.train", "lab.timing", ("machine_info",), True, 0),        # training -> benchmarking
        Arrow("derain_lib.train", "derain_lib.checkpoint", ("load_model",), False, 0),  # training -> weights hub
        Arrow("derain_lib.recipe", "derain_lib.evaluate", ("resolve_dataset",), True, 0),  # training -> evaluator
        Arrow("derain_lib.infer", "derain_lib.cli", ("main",), True, 0),             # a lower room calls the face
        Arrow("derain_demo.picker", "lab.latency", ("latency",), False, 0),          # the demo imports lab code
        Arrow("derain_demo.app", "derain_lib.infer", ("_starts",), False, 0),        # a private across modules
        Arrow("derain_lib.models.dsen", "derain_lib.train", ("Trainer",), False, 0),  # the science climbs up
        Arrow("derain_lib.paths", "lab", ("ROOT",), False, 0),                       # the library reads the repo
        Arrow("derain_lib.backends", "argparse", (), False, 0),                    # argparse outside the CLI
    ]
    for arrow in planted:
        assert _violations([arrow], files), f"not caught: {arrow}"
    assert not _violations(arrows, files)


def test_the_library_names_no_repository_path():
    """Nothing under derain_lib finds files through the checkout it was cloned in (an installed package has none):
    weights and examples ship inside the package, data comes from the data root, outputs go where callers say."""
    found = [f"{p.relative_to(ROOT)}:{i}" for p in (ROOT / "derain_lib").rglob("*.py")
             for i, line in enumerate(p.read_text().splitlines(), 1) if re.search(r"\b(REPO_DIR|ASSETS_DIR)\b", line)]
    assert not found, f"repository paths in the library: {found}"
