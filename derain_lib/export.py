"""Export shipped weights to ONNX: one self-contained ``.onnx`` file per weight, dynamic height and width.

ONNX is how restoration apps (chaiNNer, Real-ESRGAN's ncnn/onnx builds) take models, and it lets ONNX Runtime or
OpenVINO run them (:mod:`derain_lib.backends`).  What is exported is each model's *reference* function, written
for a graph: the CPU fast paths of DRN (oneDNN post-ops, reused buffers) and DSEN/S-DSEN (tiled FFT
convolutions) are runtime tricks of PyTorch, not part of the function, so the graph holds plain convolutions
and the runtimes apply their own fusions.

* DRN (Cai et al., ICIP 2019): T stages of R recursions, unrolled as they are (``DRN._forward_reference``).
* DSEN / S-DSEN (Liu et al., ICIP 2019): every p4 group convolution becomes an ordinary convolution with the
  expanded (rotated, orientation-rolled) filter bank on ``(B, 4 C, H, W)`` maps, the channel layout of
  ``view(B, C, 4, H, W)`` (:meth:`_Body._plain_convs`); the S-DSEN stages are unrolled with their skip links.
* MSNet (Qiu et al.): the model's forward, with its pad to a multiple of 4 written without a Python branch.
* DerainSR (Vu & Kim): two inputs, the image and its MSER guidance map ``(B, 1, H, W)``: MSER is OpenCV code,
  not a tensor op, so it stays outside the graph (:func:`derain_lib.mser.mser_guidance` computes it, as the
  model does).

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
import torch.nn.functional as F
from torch import nn

__all__ = ["FORMATS", "OPSET", "export_module", "export_onnx", "fingerprint", "graph_inputs", "read_onnx_metadata"]

OPSET = 18  # ai.onnx opset of the exported graphs: Resize, Pad (reflect) and ReduceMean as used here exist at 18
FORMATS = ("onnx",)


def _reflect_pad(x: torch.Tensor, m: int) -> torch.Tensor:
    """Pad bottom/right to a multiple of ``m`` by reflection, with no branch on the size (a graph needs one
    path for every size; a zero pad is a no-op).  Valid for sides of at least ``m`` pixels."""
    h, w = x.shape[-2:]
    return F.pad(x, (0, (m - w % m) % m, 0, (m - h % m) % m), mode="reflect")


class _DRNGraph(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model._forward_reference(x)[-1]


class _DSENGraph(nn.Module):
    """DSEN (``stages == 1``) or S-DSEN as plain 2D convolutions: the expanded filter banks are constants."""

    def __init__(self, model):
        super().__init__()
        from .layers.gconv import OrientationPool
        from .models.dsen import SDSEN

        body = model.body
        self.stages = model.config.stages if isinstance(model, SDSEN) else 1
        self.link = body.link
        self.slope = float(body.act.negative_slope)
        self.k = model.config.kernel_size
        self.pool = body.aggregate.mode if isinstance(body.aggregate, OrientationPool) else None
        self.has_agg_act = body.has_aggregation_act
        with torch.no_grad():
            if self.pool is not None:  # the pooling ablations: no aggregation conv to expand
                agg, body_aggregate = None, body.aggregate
                body.aggregate = nn.Conv2d(1, 1, 1)
                head, layers, links, _ = body._plain_convs()
                body.aggregate = body_aggregate
            else:
                head, layers, links, agg = body._plain_convs()
        self.head = _ConvPair(*head)
        self.layers = nn.ModuleList(_ConvPair(*wb) for wb in layers)
        self.links = nn.ModuleList(_ConvPair(*wb) for wb in links) if links is not None else None
        self.agg = _ConvPair(*agg) if agg is not None else None
        self.se, self.out = body.se, body.out
        self.c = self.layers[0].w.shape[0]  # maps per layer: 4 C for p4

    def _conv(self, x, p: _ConvPair, w=None):
        return F.conv2d(x, p.w if w is None else w, p.b, padding=self.k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = lambda t: F.leaky_relu(t, self.slope)
        y, prev = x, None
        for _ in range(self.stages):
            h = act(self._conv(y, self.head))               # (B, 4C, H, W) for p4
            feats = []
            for i, layer in enumerate(self.layers):
                if self.link == "concat" and prev is not None:
                    u = self._conv(torch.cat([h, act(self._conv(prev[i], self.links[i]))], 1), layer)
                elif self.link == "concat":                  # first stage: the link half of the input is zeros
                    u = self._conv(h, layer, layer.w[:, :self.c])
                elif self.link == "add" and prev is not None:
                    u = self._conv(h + act(self._conv(prev[i], self.links[i])), layer)
                else:
                    u = self._conv(h, layer)
                h = h + act(u)                               # residual connection around each group conv
                feats.append(h)
            if self.pool is not None:                        # (B, C, 4, H, W) pooled over orientations
                g = h.reshape(h.shape[0], -1, 4, h.shape[-2], h.shape[-1])
                a = g.amax(2) if self.pool == "max" else g.mean(2)
            else:
                a = self._conv(h, self.agg)
                a = act(a) if self.has_agg_act else a
            y = y - self.out(self.se(a))                     # B_t = B_{t-1} - R
            prev = feats if self.link != "none" else None
        return y


class _ConvPair(nn.Module):
    def __init__(self, w: torch.Tensor, b: torch.Tensor | None):
        super().__init__()
        self.register_buffer("w", w.detach().contiguous().clone())
        self.register_buffer("b", b.detach().contiguous().clone() if b is not None else None)


class _MSNetGraph(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        h, w = x.shape[-2:]
        xp = _reflect_pad(x, m.tile_multiple)
        rain, _ = m._derain(m._features(xp))
        return (xp + rain)[..., :h, :w]


class _DerainSRGraph(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
        m = self.model
        h, w = x.shape[-2:]
        mult = m.tile_multiple
        stages = m.decompose(_reflect_pad(x, mult), _reflect_pad(guide, mult) if guide is not None else None)
        fused, _ = m.fusion([stages[k] for k in m.candidates])
        return m.refine(fused)[..., : m.scale * h, : m.scale * w]


def uses_guidance(model) -> bool:
    """Whether the model (DerainSR with MSER) takes an MSER guidance map as a second graph input."""
    cfg = model.config
    return bool(getattr(cfg, "use_mser", False)) and (getattr(model, "mul", None) is not None
                                                       or getattr(model, "add", None) is not None)


def export_module(model: nn.Module) -> nn.Module:
    """The graph-friendly module computing ``model``'s function (see the module docstring), in eval mode."""
    from .models.derain_sr import DerainSR
    from .models.drn import DRN
    from .models.dsen import DSEN, SDSEN
    from .models.semi import MSNet

    # A copy made under torch.inference_mode would hold inference tensors, which have no version counters.
    with torch.inference_mode(False), torch.no_grad():
        model = copy.deepcopy(model).eval().cpu().float()  # the caller's model stays where and as it is
        if isinstance(model, DRN):
            g = _DRNGraph(model)
        elif isinstance(model, (DSEN, SDSEN)):
            g = _DSENGraph(model)
        elif isinstance(model, MSNet):
            g = _MSNetGraph(model)
        elif isinstance(model, DerainSR):
            g = _DerainSRGraph(model)
        else:
            raise TypeError(f"no ONNX export for {type(model).__name__}; known: DRN, DSEN, SDSEN, MSNet, DerainSR")
    return g.eval()


def graph_inputs(model) -> list[str]:
    """Names of the exported graph's inputs, in order."""
    return ["image", "guidance"] if uses_guidance(model) else ["image"]


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
    """Smallest image side the graph accepts (a reflection pad needs more pixels than it adds)."""
    m = int(getattr(model, "tile_multiple", 1))
    return 1 if m == 1 else m


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
