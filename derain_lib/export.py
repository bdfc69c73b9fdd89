"""Export shipped weights to ONNX: one self-contained ``.onnx`` file per weight, dynamic height and width.

ONNX is how restoration apps (chaiNNer, Real-ESRGAN's ncnn/onnx builds) take models, and it lets ONNX Runtime or
OpenVINO run them (:mod:`derain_lib.backends`).  What is exported is each model's *reference* function, written
for a graph: the CPU fast paths of the models are runtime tricks of PyTorch, not part of the function, so the graph
holds plain operations and the runtimes apply their own fusions.

Each model exports itself: ``model.graph_module()`` returns the module to trace (its adapter lives beside the model,
``derain_lib/models/*_graph.py``, where the paper's details are), ``model.graph_inputs`` names the graph's inputs
and ``model.graph_min_side`` is the smallest side the graph accepts.  This module only traces, writes the file and
its metadata, and fingerprints the weights; it knows no model class.

The file's ``metadata_props`` say what it is: weight name, architecture, config (JSON), scale, tile multiple,
opset, inputs, the smallest valid side and a fingerprint of the weights (:func:`fingerprint`).  The exporter is
``torch.onnx.export(..., dynamo=True)`` (the ``torch.export`` based one); opset :data:`OPSET` unless asked.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

__all__ = ["FORMATS", "OPSET", "export_module", "export_onnx", "fingerprint", "graph_inputs", "read_onnx_metadata"]

OPSET = 18  # ai.onnx opset of the exported graphs: Resize, Pad (reflect) and ReduceMean as used here exist at 18
FORMATS = ("onnx",)


def uses_guidance(model) -> bool:
    """Whether the exported graph takes a guidance map (DerainSR's MSER map) as its second input."""
    return "guidance" in graph_inputs(model)


def export_module(model: nn.Module) -> nn.Module:
    """The graph-friendly module computing ``model``'s function, in eval mode: ``model.graph_module()`` of a copy
    of the model (float32, CPU), so the caller's model stays where and as it is."""
    if not callable(getattr(model, "graph_module", None)):
        raise TypeError(f"no ONNX export for {type(model).__name__}: it has no graph_module() method (the models "
                        f"of derain_lib.models have one)")
    # A copy made under torch.inference_mode would hold inference tensors, which have no version counters.
    with torch.inference_mode(False), torch.no_grad():
        model = copy.deepcopy(model).eval().cpu().float()
        g = model.graph_module()
    return g.eval()


def graph_inputs(model) -> list[str]:
    """Names of the exported graph's inputs, in order (``model.graph_inputs``; just the image when not declared)."""
    return list(getattr(model, "graph_inputs", ("image",)))


def fingerprint(model: nn.Module) -> str:
    """A short hash of the architecture, config and every weight: which weights an ONNX file was made from."""
    from .models.registry import config_dict

    h = hashlib.sha256()
    h.update(str(getattr(model, "arch", type(model).__name__)).encode())
    h.update(json.dumps(config_dict(model), sort_keys=True, default=str).encode())
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def min_side(model) -> int:
    """Smallest image side the graph accepts (``model.graph_min_side``: a reflection pad needs more pixels than it
    adds; 1 when not declared)."""
    return int(getattr(model, "graph_min_side", 1))


def export_onnx(model_or_name, out: str | Path, opset: int = OPSET) -> Path:
    """Export a model (or a shipped weight name / ``.safetensors`` path) to one ONNX file at ``out``.

    Height and width are dynamic (batch too); weights are stored inside the file.  Returns the path."""
    import onnx

    from .models.registry import config_dict

    if isinstance(model_or_name, nn.Module):
        model = model_or_name
    else:
        from .checkpoint import load_model
        model = load_model(model_or_name, device="cpu")
    if not isinstance(opset, int) or not 18 <= opset <= 23:
        raise ValueError(f"opset must be an integer from 18 to 23 (the torch.onnx exporter's range), got {opset!r}")
    graph = export_module(model)
    names = graph_inputs(model)
    state = {k: v.detach().contiguous() for k, v in graph.state_dict().items()}
    key = (type(graph).__name__, str(getattr(model, "arch", "")), json.dumps(config_dict(model), sort_keys=True,
                                                                           default=str), opset)
    proto = _from_template(key, state)
    if proto is None:
        proto = _trace(graph, model, names, opset)
        if {i.name for i in proto.graph.initializer} == set(state):
            _TEMPLATES[key] = proto.SerializeToString()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "derain_lib.weights": str(getattr(model, "weights_name", "") or ""),
        "derain_lib.arch": str(getattr(model, "arch", type(model).__name__)),
        "derain_lib.config": json.dumps(config_dict(model), sort_keys=True, default=str),
        "derain_lib.scale": str(int(getattr(model, "scale", 1))),
        "derain_lib.tile_multiple": str(int(getattr(model, "tile_multiple", 1))),
        "derain_lib.min_side": str(min_side(model)),
        "derain_lib.opset": str(opset),
        "derain_lib.inputs": json.dumps(names),
        "derain_lib.fingerprint": fingerprint(model),
        "derain_lib.layout": "NCHW float32 RGB in [0, 1]; output (B, 3, scale*H, scale*W)",
    }
    if len(names) == 2:
        meta["derain_lib.guidance"] = (f"MSER density map (B, 1, H, W) of the image: derain_lib.mser.mser_guidance("
                                       f"image, frac={model.config.mser_frac})")
    del proto.metadata_props[:]
    for k, v in meta.items():
        p = proto.metadata_props.add()
        p.key, p.value = k, v
    onnx.save_model(proto, str(out))
    return out


# Graphs already traced in this process, per (graph class, arch, config, opset): another weight of the same
# architecture only swaps the initializers (the trace of an unrolled DRN takes tens of seconds).  Used only when
# the graph's initializers are exactly the module's tensors by name (nothing weight-dependent was folded).
_TEMPLATES: dict[tuple, bytes] = {}


def _from_template(key, state: dict[str, torch.Tensor]):
    import onnx
    from onnx import numpy_helper

    blob = _TEMPLATES.get(key)
    if blob is None:
        return None
    proto = onnx.ModelProto()
    proto.ParseFromString(blob)
    if {i.name for i in proto.graph.initializer} != set(state):
        return None
    for init in proto.graph.initializer:
        init.CopyFrom(numpy_helper.from_array(state[init.name].cpu().float().numpy(), init.name))
    return proto


def _trace(graph: nn.Module, model, names: list[str], opset: int):
    """torch.export + ONNX translation, dynamic batch/height/width, weights inside the file; quiet."""
    # An odd, not-multiple example size, so no size-dependent branch can be specialised silently.
    ex_h, ex_w = 37, 53
    args = (torch.rand(1, 3, ex_h, ex_w),)
    if len(names) == 2:
        args = args + (torch.rand(1, 1, ex_h, ex_w),)
    lo = min_side(model)
    dims = {0: torch.export.Dim("batch", min=1), 2: torch.export.Dim("height", min=lo),
            3: torch.export.Dim("width", min=lo)}
    dyn = tuple(dims for _ in names)
    log = logging.getLogger("torch.onnx")
    level = log.level
    log.setLevel(logging.ERROR)  # it warns about every missing torchvision op, which no model here uses
    try:
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            # optimize=False keeps each initializer the module tensor of the same name (see _TEMPLATES); the
            # runtimes fold constants and fuse ops themselves when they load the graph.
            prog = torch.onnx.export(graph, args, dynamo=True, opset_version=opset, input_names=names,
                                     output_names=["restored"], dynamic_shapes=dyn, external_data=False,
                                     optimize=False, verbose=False)
    finally:
        log.setLevel(level)
    return prog.model_proto


def read_onnx_metadata(path: str | Path) -> dict[str, str]:
    """The ``derain_lib.*`` metadata of an exported file, keys without the prefix."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {p.key.removeprefix("derain_lib."): p.value for p in proto.metadata_props if p.key.startswith("derain_lib.")}
