"""The wheel a user gets from ``pip install .``: what it declares, what it holds, and that it works on its own.

A wheel of the checkout is built offline (``pip wheel --no-deps --no-build-isolation --no-index``, from a copy of
the sources, so that the build's ``build/`` and ``*.egg-info`` never land in the checkout), then:

* its METADATA must declare every third-party module the library imports: ``derain_lib`` (and ``derain_demo``
  outside gradio) at run time in ``Requires-Dist`` without an extra, the optional ones (gradio, onnx, the ONNX
  runtimes) in their extra.  The dependencies are checked on what the wheel *declares*, not by letting pip
  download and install them: torch alone is gigabytes, and a test that downloads it would be slow, flaky and
  need the network.  That a plain ``pip install .`` into an empty environment (torch first) resolves them and
  gives a working ``derain`` is checked by hand when the list changes;
* it must hold the shipped weights, the demo's example images and the ``derain`` command;
* installed (``--no-deps``) into a fresh virtual environment, and run from a folder outside the checkout, the
  ``derain`` command must start, list the weights and derain a photo, and ``derain_lib.examples`` must find the
  example images inside the installed package.  That environment borrows the dependencies of the one running
  the tests through a ``.pth`` file that *appends* its site-packages to ``sys.path``: a path line of a ``.pth``
  file is not a site directory, so the ``.pth`` files in it (this environment's editable install of
  derain-lab) are not run, and ``derain_lib`` can only come from the wheel -- which the test asserts.
"""
from __future__ import annotations

import ast
import email.parser
import importlib.metadata
import importlib.util
import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from PIL import Image

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DIST = "derain-lab"
# modules the library imports only for an optional feature -> the extra that must declare their distribution
OPTIONAL = {"gradio": "demo", "gradio_client": "demo", "onnx": "onnx", "onnxscript": "onnx",
            "onnxruntime": "onnxruntime", "openvino": "openvino"}
# what the run-time dependencies must include whatever the imports say (the imports are the real test)
CORE = {"torch", "numpy", "scipy", "scikit-image", "pillow", "safetensors", "tqdm", "opencv-python-headless"}
FIRST_PARTY = {"derain_lib", "derain_demo"}
TIMEOUT = 120


def _run(cmd: list, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run([str(c) for c in cmd], check=False, capture_output=True, text=True, timeout=TIMEOUT, **kw)
    assert p.returncode == 0, f"{' '.join(map(str, cmd))} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel of the working tree (with uncommitted changes): pyproject.toml, README.md and every top-level
    Python package, copied; setuptools' [tool.setuptools.packages.find] picks what goes in."""
    if importlib.util.find_spec("setuptools") is None:
        pytest.fail("the build backend (setuptools) is not installed: pip install -r requirements.txt")
    tmp = tmp_path_factory.mktemp("wheel")
    src, dist = tmp / "src", tmp / "dist"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for d in ROOT.iterdir():
        if d.is_dir() and (d / "__init__.py").is_file():
            shutil.copytree(d, src / d.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "--disable-pip-version-check", "-q", "-w", dist, src])
    (whl,) = dist.glob("derain_lab-*.whl")
    return whl


def _metadata(whl: Path):
    with zipfile.ZipFile(whl) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(z.read(name).decode())


def _declared(whl: Path) -> dict[str | None, set[str]]:
    """Distribution names the wheel requires: ``None`` -> always, ``extra`` -> with that extra (its own
    extras that name other extras of the project, like ``dev``, expanded)."""
    meta = _metadata(whl)
    extras = [canonicalize_name(e) for e in meta.get_all("Provides-Extra") or []]
    reqs = [Requirement(r) for r in meta.get_all("Requires-Dist") or []]
    direct: dict[str | None, list[Requirement]] = {None: [r for r in reqs if r.marker is None]}
    for e in extras:
        direct[e] = [r for r in reqs if r.marker is not None and r.marker.evaluate({"extra": e})]

    def expand(key, seen=()) -> set[str]:
        out = set()
        for r in direct[key]:
            if canonicalize_name(r.name) == DIST:      # derain-lab[demo,onnx]: the project's own extras
                for e in r.extras:
                    assert canonicalize_name(e) in extras, f"extra {key!r} names unknown extra {e!r}"
                    if e not in seen:
                        out |= expand(canonicalize_name(e), (*seen, key))
            else:
                out.add(canonicalize_name(r.name))
        return out

    return {k: expand(k) for k in direct}


def _third_party_imports(package: str) -> dict[str, str]:
    """Top-level modules imported anywhere in ``package`` (also inside functions), not stdlib nor first-party
    -> the first file that imports each."""
    found: dict[str, str] = {}
    for f in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for n in names:
                top = n.split(".")[0]
                if top not in sys.stdlib_module_names and top not in FIRST_PARTY:
                    found.setdefault(top, str(f.relative_to(ROOT)))
    return found


def test_metadata_declares_what_the_library_imports(wheel):
    declared = _declared(wheel)
    assert CORE <= declared[None], f"run-time dependencies missing: {sorted(CORE - declared[None])}"
    dists = importlib.metadata.packages_distributions()
    problems = []
    for package in sorted(FIRST_PARTY):
        for module, where in _third_party_imports(package).items():
            extra = OPTIONAL.get(module)
            allowed = declared[None] | (declared.get(extra, set()) if extra else set())
            # the distribution(s) that provide the module here; a module not installed here must be optional
            names = {canonicalize_name(d) for d in dists.get(module, [])} or {canonicalize_name(module)}
            if not names & allowed:
                problems.append(f"{module} (imported by {where}; distribution {'/'.join(sorted(names))}) is not "
                                f"declared {'in extra ' + repr(extra) if extra else 'as a run-time dependency'}")
    assert not problems, "\n".join(problems)
    # the dev extra (requirements.txt installs it) holds every other extra that the tests need
    for extra in ("demo", "notebooks", "onnx"):
        assert declared[extra] <= declared["dev"], f"dev lacks {sorted(declared[extra] - declared['dev'])}"
    assert {"pytest", "ruff", "setuptools"} <= declared["dev"]


def test_wheel_holds_weights_examples_and_the_command(wheel):
    from derain_lib import examples

    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        ep_name = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        entry_points = z.read(ep_name).decode()
    missing = [f"derain_lib/example_images/{ex.name}_{kind}" for ex in examples.EXAMPLES
               for kind in ("rainy.png", "clean.jpg")]
    missing = [f for f in missing if f not in names]
    assert not missing, f"not in the wheel: {missing}"
    assert "derain_lib/weights/drn-light.safetensors" in names and "derain_lib/weights/drn-light.json" in names
    assert "derain_demo/__init__.py" in names
    assert "derain = derain_lib.cli:main" in entry_points
    assert not {n.split("/")[0] for n in names} & {"tests", "notebooks", "assets", "docs"}
    size_mb = wheel.stat().st_size / 1e6
    assert size_mb < 20, f"the wheel is {size_mb:.1f} MB"


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("venv")
    root = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", root])
    bindir = root / ("Scripts" if os.name == "nt" else "bin")
    py = bindir / ("python.exe" if os.name == "nt" else "python")
    purelib = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # the wheel first, into the empty environment (pip sees no other derain-lab there)
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index",
          "--disable-pip-version-check", "-q", wheel])
    # then the dependencies: this environment's site-packages, appended after the new one's
    ours = dict.fromkeys(site.getsitepackages())
    (purelib / "zz_test_wheel_deps.pth").write_text("".join(p + "\n" for p in ours))
    work = tmp / "work"          # the current folder of every command: outside the checkout
    work.mkdir()
    (tmp / "no_data").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PYTHONNOUSERSITE="1", DERAIN_DATA=str(tmp / "no_data"), DERAIN_CACHE=str(tmp / "cache"))
    return {"py": py, "derain": bindir / "derain", "site": purelib, "work": work, "env": env}


def _in_venv(venv: dict, cmd: list) -> subprocess.CompletedProcess:
    return _run(cmd, cwd=venv["work"], env=venv["env"])


def test_installed_package_is_the_wheel_and_finds_its_examples(venv):
    code = ("import json, derain_lib; from derain_lib import examples as ex; kind, items = ex.demo_examples(); "
            "print(json.dumps({'file': derain_lib.__file__, 'pairs': [[str(r), str(c)] for r, c, _ in "
            "ex.example_pairs()], 'kind': kind, 'n': len(items)}))")
    got = json.loads(_in_venv(venv, [venv["py"], "-c", code]).stdout)
    site = venv["site"].resolve()
    assert Path(got["file"]).resolve().is_relative_to(site), f"derain_lib imported from {got['file']}"
    from derain_lib import examples
    assert len(got["pairs"]) == len(examples.EXAMPLES)
    assert all(Path(p).resolve().is_relative_to(site) for pair in got["pairs"] for p in pair)
    # no real photos under DERAIN_DATA (an empty folder): the demo offers the packaged synthetic examples
    assert got["kind"] == "synthetic" and got["n"] == len(examples.EXAMPLES)


def test_derain_command_runs_from_the_wheel(venv):
    out = _in_venv(venv, [venv["derain"], "--help"]).stdout
    assert "derain" in out and "list" in out
    listing = _in_venv(venv, [venv["derain"], "list"]).stdout
    assert "drn-light" in listing
    w, h = 72, 56
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    photo = np.clip(ramp + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(photo).save(venv["work"] / "photo.png")
    _in_venv(venv, [venv["derain"], "derain", "photo.png", "--model", "drn-light", "--output", "out"])
    with Image.open(venv["work"] / "out" / "photo.png") as im:
        assert im.size == (w, h)
