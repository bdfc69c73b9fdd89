"""Every notebook's FULL (GPU) branch, executed once on the CPU under the smoke cap.

nbval (``python -m pytest notebooks/``) checks the quick mode that the stored outputs come from; this file runs
the other branch of the one switch: each ``notebooks/*.ipynb`` is executed top to bottom by nbclient with
``DERAIN_FULL=1 DERAIN_SMOKE=1``, where every full-mode step, image and epoch count goes through ``cap(...)``
(see notebooks' first code cell), so a learner who flips ``FULL = True`` does not meet a broken branch first.

The stored notebook is never modified: the executed copy is written to pytest's tmp dir (its path is in the
failure message).  A notebook skips, with the reason in the summary, when the datasets it reads (``NEEDS`` of
``tests/notebook_data.py``) are missing.  A notebook without the ``DERAIN_SMOKE`` switch fails at once instead
of running the papers' full schedules on the CPU.  Marked ``notebooks`` and ``slow`` (deselect with
``-m "not notebooks"``); ``DERAIN_SMOKE_CELL_TIMEOUT`` (seconds, default 600) sets the per-cell limit.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from notebook_data import NEEDS

from derain_lib.paths import data_root, has_dataset

NB_DIR = Path(__file__).resolve().parents[2] / "notebooks"
pytestmark = [pytest.mark.notebooks, pytest.mark.slow]
NOTEBOOKS = sorted(NB_DIR.glob("[0-9]*.ipynb"))
# per cell, as nbval's --nbval-cell-timeout in pyproject.toml; raise it on a machine shared with training jobs
CELL_TIMEOUT_S = int(os.environ.get("DERAIN_SMOKE_CELL_TIMEOUT", "600"))
KERNEL_START_S = 300          # a busy CI machine can take far longer than nbclient's default 60 s
SMOKE_ENV = {"DERAIN_FULL": "1", "DERAIN_SMOKE": "1"}
# appended to every notebook: the run really took the full-mode branch, and what it cost the kernel
LAST_CELL = """\
assert FULL is True and SMOKE is True, f"switches not set from the environment: {FULL=}, {SMOKE=}"
try:
    import resource as _r
    _u = _r.getrusage(_r.RUSAGE_SELF)
    print(f"kernel CPU {_u.ru_utime + _u.ru_stime:.1f} s")
except ImportError:   # not on POSIX
    pass
"""


def _first_code_cell(nb) -> str:
    return next((c.source for c in nb.cells if c.cell_type == "code"), "")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_full_mode_smoke(path: Path, tmp_path: Path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    missing = [n for n in NEEDS.get(path.name, ()) if not has_dataset(n)]
    if missing:
        pytest.skip(f"NOTEBOOK SMOKE SKIPPED: {path.name} needs dataset(s) {', '.join(missing)} under "
                    f"{data_root()} (set DERAIN_DATA; see ../shared/data/SOURCES.md)")
    nb = nbformat.read(path, as_version=4)
    first = _first_code_cell(nb)
    for var in SMOKE_ENV:
        if var not in first:
            pytest.fail(f"{path.name}: its first code cell does not read {var} (the FULL / SMOKE switches of the "
                        "notebooks' contract), so its full mode cannot run under the smoke cap", pytrace=False)
    for k, v in SMOKE_ENV.items():
        monkeypatch.setenv(k, v)          # the kernel inherits this process's environment
    nb.cells.append(nbformat.v4.new_code_cell(LAST_CELL))
    out = tmp_path / f"{path.stem}_full_smoke.ipynb"
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, startup_timeout=KERNEL_START_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})   # cwd: tmp, not the repo
    t0 = time.perf_counter()
    try:
        client.execute()
    except (nbclient.exceptions.CellExecutionError, nbclient.exceptions.CellTimeoutError) as e:
        nbformat.write(nb, out)
        pytest.fail(f"{path.name} failed in full mode under the smoke cap after {time.perf_counter() - t0:.0f} s "
                    f"(executed copy: {out}):\n{e}", pytrace=False)
    nbformat.write(nb, out)
    cpu = "".join(o.get("text", "") for o in nb.cells[-1].outputs).strip()
    print(f"{path.name}: full-mode smoke run {time.perf_counter() - t0:.1f} s wall, {cpu} (executed copy: {out})")
