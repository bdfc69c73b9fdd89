"""ONNX export (derain_lib.export, the ``export`` CLI verb): every shipped weight, checked against PyTorch.

The exported graphs are run with ONNX's own reference evaluator (``onnx.reference``, part of the ``onnx``
package: an implementation independent of both PyTorch and the optimised runtimes), on odd sizes that differ from
the size the exporter traced at, so a height or width frozen into the graph would show.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")  # the torch.onnx (dynamo) exporter's dependency

from onnx.reference import ReferenceEvaluator

from derain_lib import build_model, list_weights, load_model
from derain_lib.export import OPSET, export_module, export_onnx, graph_inputs, min_side, read_onnx_metadata
from derain_lib.layers.gconv import rotate_p4
from derain_lib.mser import mser_guidance

pytestmark = pytest.mark.slow   # an ONNX export of every shipped weight (about a minute)


TOL = 1e-4
SIZES = [(1, 29, 41), (2, 37, 22)]  # (batch, H, W): odd and even, neither the traced 37x53


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """Every shipped weight exported once per test session: name -> (path, model)."""
    root = tmp_path_factory.mktemp("onnx")
    return {name: (export_onnx(load_model(name, device="cpu"), root / f"{name}.onnx"), load_model(name, device="cpu"))
            for name in list_weights()}


def _run_graph(path, model, x: torch.Tensor) -> np.ndarray:
    feed = {"image": x.numpy()}
    if "guidance" in graph_inputs(model):
        feed["guidance"] = mser_guidance(x, frac=model.config.mser_frac).numpy()
    return ReferenceEvaluator(str(path)).run(None, feed)[0]


@pytest.mark.parametrize("name", list_weights())
def test_exported_graph_matches_pytorch(exported, name):
    path, model = exported[name]
    s = model.scale
    for i, (b, h, w) in enumerate(SIZES):
        x = torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(10 + i))
        with torch.inference_mode():
            ref = model(x).numpy()
        out = _run_graph(path, model, x)
        assert out.shape == (b, 3, s * h, s * w)
        diff = float(np.abs(out - ref).max())
        assert diff <= TOL, f"{name} at {b}x{h}x{w}: max |onnx - torch| = {diff:.2e}"


def test_metadata_and_dynamic_axes(exported):
    path, _ = exported["derain_sr-x2"]
    meta = read_onnx_metadata(path)
    assert meta["weights"] == "derain_sr-x2" and meta["arch"] == "derain_sr" and meta["scale"] == "2"
    assert json.loads(meta["config"])["scale"] == 2 and meta["opset"] == str(OPSET)
    assert json.loads(meta["inputs"]) == ["image", "guidance"]
    proto = onnx.load(str(path))
    assert {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {OPSET}
    dims = [d for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims[1].dim_value == 3
    assert all(d.dim_param and not d.dim_value for d in (dims[0], dims[2], dims[3]))  # batch, H, W symbolic


def test_exported_dsen_is_rotation_equivariant(exported):
    """The p4 structure survives the export as plain convolutions: rotating the input rotates the output."""
    path, model = exported["dsen"]
    x = torch.rand(1, 3, 31, 31, generator=torch.Generator().manual_seed(3))
    out = _run_graph(path, model, x)
    out_rot = _run_graph(path, model, rotate_p4(x).contiguous())
    assert np.abs(out_rot - np.rot90(out, 1, axes=(-2, -1))).max() <= TOL


def test_same_architecture_reuses_the_trace_and_keeps_its_own_weights(tmp_path):
    torch.manual_seed(0)
    a = build_model("dsen", backbone="cnn", channels=2, num_layers=1).eval()
    b = build_model("dsen", backbone="cnn", channels=2, num_layers=1).eval()
    with torch.no_grad():  # the rain head starts near zero; give both models outputs that depend on the weights
        a.body.out.weight.normal_(std=0.5)
        b.body.out.weight.normal_(std=0.5)
    pa, pb = export_onnx(a, tmp_path / "a.onnx"), export_onnx(b, tmp_path / "b.onnx")
    x = torch.rand(1, 3, 19, 23)
    with torch.inference_mode():
        ra, rb = a(x).numpy(), b(x).numpy()
    assert np.abs(ra - rb).max() > 1e-3  # different weights give different outputs...
    assert np.abs(_run_graph(pa, a, x) - ra).max() <= TOL  # ...and each file holds its own
    assert np.abs(_run_graph(pb, b, x) - rb).max() <= TOL
    assert read_onnx_metadata(pa)["fingerprint"] != read_onnx_metadata(pb)["fingerprint"]


TINY = {
    "drn": {"stages": 2, "recursions": 1, "features": 4},
    "dsen": {"channels": 2, "num_layers": 1, "kernel_size": 3, "aggregation": "max"},
    "sdsen": {"stages": 2, "channels": 2, "num_layers": 2, "kernel_size": 3},
    "msnet": {"channels": 4, "units": 1, "match_blocks": 1},
    "derain_sr": {"scale": 2, "features": 8, "n_rcab": 1, "rcab_reduction": 4, "stage1_features": 4,
                  "dense_growth": 4, "dense_layers": 1, "unet_features": 4, "unet_depth": 2},
}


@pytest.mark.parametrize("arch", sorted(TINY))
def test_each_model_exports_itself(arch):
    """The graph module is the model's own ``graph_module()``, defined beside it, and computes the model's function
    (in PyTorch, before any tracing); the exporter's inputs and smallest side are what the model declares."""
    torch.manual_seed(0)
    model = build_model(arch, **TINY[arch]).eval()
    graph = export_module(model)
    assert type(graph).__module__ == f"{type(model).__module__}_graph" and not graph.training
    assert graph_inputs(model) == list(model.graph_inputs) and min_side(model) == model.graph_min_side
    x = torch.rand(2, 3, 21, 26, generator=torch.Generator().manual_seed(1))
    inputs = (x, mser_guidance(x, frac=model.config.mser_frac)) if "guidance" in graph_inputs(model) else (x,)
    with torch.no_grad():
        torch.testing.assert_close(graph(*inputs), model(x), atol=TOL, rtol=0)


def test_graph_inputs_and_min_side():
    assert graph_inputs(build_model("derain_sr", **TINY["derain_sr"])) == ["image", "guidance"]
    assert graph_inputs(build_model("derain_sr", **TINY["derain_sr"], use_mser=False)) == ["image"]
    assert graph_inputs(build_model("derain_sr", **TINY["derain_sr"], variant="ats+add")) == ["image", "guidance"]
    assert min_side(build_model("derain_sr", **TINY["derain_sr"])) == 4
    assert min_side(build_model("msnet", **TINY["msnet"])) == 4
    assert min_side(build_model("msnet", **TINY["msnet"], scales=2)) == 2
    assert min_side(build_model("drn", **TINY["drn"])) == 1 and graph_inputs(build_model("drn")) == ["image"]


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="opset"):
        export_onnx(build_model("drn", stages=1, recursions=0), tmp_path / "x.onnx", opset=9)
    with pytest.raises(TypeError, match="no ONNX export for Conv2d: it has no graph_module"):
        export_onnx(torch.nn.Conv2d(3, 3, 1), tmp_path / "x.onnx")
    with pytest.raises(FileNotFoundError, match="no weights named"):
        export_onnx("no-such-weight", tmp_path / "x.onnx")


def _cli(argv):
    from derain_lib.cli import export as cli_export

    parser = argparse.ArgumentParser()
    cli_export.register(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_export(tmp_path, capsys):
    out = tmp_path / "dsen_cnn.onnx"
    assert _cli(["export", "dsen_cnn", "--format", "onnx", "-o", str(out), "--opset", "18"]) == 0
    assert out.is_file() and "opset 18" in capsys.readouterr().out
    assert read_onnx_metadata(out)["weights"] == "dsen_cnn"


def test_cli_export_bad_input(tmp_path, capsys):
    assert _cli(["export", "no-such-weight", "-o", str(tmp_path / "x.onnx")]) == 1
    assert capsys.readouterr().err.startswith("error: no weights named")
    assert _cli(["export", "dsen", "-o", str(tmp_path / "x.txt")]) == 1
    assert "must end in .onnx" in capsys.readouterr().err
    assert _cli(["export", "dsen", "-o", str(tmp_path / "x.onnx"), "--opset", "7"]) == 1
    assert "opset" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _cli(["export", "dsen", "--format", "tflite"])
