"""DSEN / S-DSEN: parameter counts (paper Table 1), whole-network equivariance, variants, registry contract."""
import dataclasses

import pytest
import torch

from derain_lib.models import dsen as D
from derain_lib.models.registry import build_model, paper_schedule, training_loss


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def rot(x, k=1):
    return torch.rot90(x, k, dims=(-2, -1))


def test_dsen_parameter_count_is_the_papers_50958():
    m = build_model("dsen")
    assert n_params(m) == 50958
    # the breakdown documented in models/dsen.py
    b = m.body
    assert n_params(b.head) == 760
    assert [n_params(layer) for layer in b.layers] == [10010] * 4
    assert n_params(b.aggregate) == 10010 and n_params(b.se) == 115 and n_params(b.out) == 33


def test_cnn_counterpart_and_ablation_counts():
    counts = {
        "DSEN": n_params(build_model("dsen")),
        "CNN (channels doubled)": n_params(build_model("dsen", backbone="cnn")),
        "DSEN_maxpool": n_params(build_model("dsen", aggregation="max")),
        "DSEN_avgpool": n_params(build_model("dsen", aggregation="avg")),
        "DSEN w/o SE": n_params(build_model("dsen", se=False)),
        "DSEN conv_free aggregation": n_params(build_model("dsen", aggregation="conv_free")),
    }
    print("\n".join(f"{k:28s} {v:7,d}" for k, v in counts.items()))
    assert counts["CNN (channels doubled)"] == 52113  # "about 52k" in the paper
    assert counts["DSEN_maxpool"] == counts["DSEN_avgpool"] == 50958 - 10010
    assert counts["DSEN w/o SE"] == 50958 - 115
    assert counts["DSEN conv_free aggregation"] == 50958


@pytest.mark.parametrize("stages", [2, 3, 8])
@pytest.mark.parametrize("link,backbone,expected", [
    ("concat", "p4", 130998), ("add", "p4", 90998), ("none", "p4", 50958),
    ("concat", "cnn", 132193), ("none", "cnn", 52113),
])
def test_sdsen_weight_sharing_parameter_count_independent_of_stages(stages, link, backbone, expected):
    assert n_params(build_model("sdsen", stages=stages, link=link, backbone=backbone)) == expected


def test_sdsen_one_stage_is_dsen():
    assert n_params(build_model("sdsen", stages=1)) == 50958


EQUIVARIANT = [{}, {"aggregation": "max"}, {"aggregation": "avg"}, {"se": False}]


@pytest.mark.parametrize("cfg", EQUIVARIANT, ids=lambda c: str(c) or "default")
@pytest.mark.parametrize("hw", [(13, 13), (12, 12), (11, 16)])
def test_whole_dsen_rain_layer_is_rotation_equivariant(cfg, hw):
    torch.manual_seed(0)
    m = build_model("dsen", **cfg).double().eval()
    _perturb(m)
    x = torch.rand(2, 3, *hw, dtype=torch.float64)
    with torch.no_grad():
        out, aux = m(x, return_stages=True)
        for k in (1, 2, 3):
            out_r, aux_r = m(rot(x, k), return_stages=True)
            torch.testing.assert_close(aux_r["rain"], rot(aux["rain"], k), rtol=0, atol=1e-12)
            torch.testing.assert_close(out_r, rot(out, k), rtol=0, atol=1e-12)
            # the group features rotate and their orientation axis rolls forward
            feats = torch.rot90(torch.roll(aux["features"], k, dims=2), k, dims=(-2, -1))
            torch.testing.assert_close(aux_r["features"], feats, rtol=0, atol=1e-12)
    assert aux["rain"].abs().max() > 1e-3  # not trivially zero


@pytest.mark.parametrize("link", ["concat", "add", "none"])
def test_sdsen_is_rotation_equivariant(link):
    torch.manual_seed(1)
    m = build_model("sdsen", stages=3, link=link).double().eval()
    _perturb(m)
    x = torch.rand(1, 3, 11, 14, dtype=torch.float64)
    with torch.no_grad():
        _out, stages = m(x, return_stages=True)
        _out_r, stages_r = m(rot(x), return_stages=True)
    assert len(stages) == 3
    for s, s_r in zip(stages, stages_r):
        # values grow over the stages with random weights, so the float64 round-off is relative
        torch.testing.assert_close(s_r, rot(s), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("cfg", [{"backbone": "cnn"}, {"aggregation": "conv_free"}], ids=["cnn", "conv_free"])
def test_non_equivariant_variants_are_detected(cfg):
    """The same check fails for the CNN counterpart and for the unconstrained aggregation conv."""
    torch.manual_seed(0)
    m = build_model("dsen", **cfg).double().eval()
    _perturb(m)
    x = torch.rand(1, 3, 13, 13, dtype=torch.float64)
    with torch.no_grad():
        err = (m(rot(x), return_stages=True)[1]["rain"] - rot(m(x, return_stages=True)[1]["rain"])).abs().max()
    assert err > 1e-4


def _perturb(m):
    """Random weights everywhere (the output conv starts near zero, which would make the checks weak)."""
    g = torch.Generator().manual_seed(123)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.1)


@pytest.mark.parametrize("name,cfg", [
    ("dsen", {}), ("dsen", {"backbone": "cnn"}), ("dsen", {"aggregation": "max"}),
    ("dsen", {"aggregation": "avg"}), ("dsen", {"se": False}), ("dsen", {"aggregation": "conv_free"}),
    ("sdsen", {"stages": 2}), ("sdsen", {"stages": 2, "link": "add"}), ("sdsen", {"stages": 2, "link": "none"}),
    ("sdsen", {"stages": 2, "backbone": "cnn"}), ("sdsen", {"stages": 2, "backbone": "cnn", "link": "none"}),
])
def test_every_variant_trains(name, cfg):
    """A few Adam steps on one fixed batch lower the paper's loss (all variants build and train)."""
    torch.manual_seed(0)
    m = build_model(name, **cfg)
    clean = torch.rand(2, 3, 16, 16)
    rainy = (clean + 0.3 * (torch.rand(2, 1, 16, 16) > 0.9)).clamp(0, 1)
    batch = {"rainy": rainy, "clean": clean}
    loss_fn = training_loss(name)
    opt = torch.optim.Adam(m.parameters(), lr=5e-4)
    first = None
    for _ in range(8):
        loss, logs = loss_fn(m, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else float(loss.detach())
        assert set(logs) >= {"loss", "mse", "psnr"} and all(isinstance(v, float) for v in logs.values())
    assert float(loss_fn(m, batch)[0].detach()) < first


def test_sdsen_loss_supervises_every_stage():
    torch.manual_seed(0)
    m = build_model("sdsen", stages=3)
    batch = {"rainy": torch.rand(1, 3, 8, 8), "clean": torch.rand(1, 3, 8, 8)}
    loss, _ = D.training_loss(m, batch)
    _, stages = m(batch["rainy"], return_stages=True)
    expected = sum(torch.nn.functional.mse_loss(s, batch["clean"]) for s in stages)
    torch.testing.assert_close(loss, expected)


def test_any_size_contract_and_errors():
    m = build_model("sdsen", stages=2).eval()
    assert m.scale == 1 and m.tile_multiple == 1
    for hw in [(1, 1), (7, 5), (33, 20)]:
        with torch.no_grad():
            assert m(torch.rand(1, 3, *hw)).shape == (1, 3, *hw)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        m(torch.rand(3, 8, 8))
    with pytest.raises(TypeError, match="floating"):
        m(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="backbone"):
        build_model("dsen", backbone="p8")
    with pytest.raises(ValueError, match="orientation"):
        build_model("dsen", backbone="cnn", aggregation="max")
    with pytest.raises(ValueError, match="link"):
        build_model("sdsen", link="sum")


def test_config_is_json_serialisable_and_paper_defaults():
    import json
    m = build_model("sdsen")
    cfg = dataclasses.asdict(m.config)
    assert json.loads(json.dumps(cfg)) == cfg
    assert cfg["stages"] == 8 and cfg["link"] == "concat" and cfg["channels"] == 10 and cfg["kernel_size"] == 5
    s = paper_schedule("sdsen")
    assert (s["lr"], s["batch"], s["patch"], s["milestones"], s["gamma"], s["steps"]) == \
        (5e-4, 64, 64, [15000, 17500], 0.1, 20000)


def test_warm_start_from_dsen_reproduces_dsen_at_stage_one(tmp_path):
    torch.manual_seed(0)
    d = build_model("dsen")
    _perturb(d)
    s = D.init_sdsen_from_dsen(build_model("sdsen", stages=3), d)
    x = torch.rand(1, 3, 10, 10)
    with torch.no_grad():
        _, stages = s.eval()(x, return_stages=True)
        y1 = d.eval()(x)
        y2 = d(y1)
    torch.testing.assert_close(stages[0], y1)
    torch.testing.assert_close(stages[1], y2)  # zero link half: stage 2 = DSEN applied again


def test_checkpoint_roundtrip(tmp_path):
    from derain_lib.checkpoint import load_model, save_weights
    torch.manual_seed(0)
    m = build_model("sdsen", stages=2, link="add")
    path = save_weights(m, tmp_path / "x.safetensors", {"note": "test"})
    m2 = load_model(path, device="cpu")
    assert m2.config == m.config
    x = torch.rand(1, 3, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(m2(x), m.eval()(x))


@pytest.mark.parametrize("hw", [(9, 9), (8, 11)])
def test_symmetry_aggregation_maps_p4_features_to_rotating_planes(hw):
    """agg(rot_p4(f)) == rot(agg(f)) for the default (rotation-averaged) aggregation, in float64."""
    torch.manual_seed(0)
    agg = D.SymmetryAggregation(3, 2, 5).double()
    f = torch.randn(2, 3, 4, *hw, dtype=torch.float64)
    f_rot = torch.rot90(torch.roll(f, 1, dims=2), 1, dims=(-2, -1))
    torch.testing.assert_close(agg(f_rot), rot(agg(f)), rtol=0, atol=1e-12)
    # its effective filter equals the explicit average over the four p4 rotations of the raw filter
    w = agg.weight.detach()
    explicit = sum(torch.rot90(torch.roll(w, r, dims=2), r, dims=(-2, -1)) for r in range(4)) / 4
    torch.testing.assert_close(agg.filter_bank(), explicit.reshape(2, 12, 5, 5))


@pytest.mark.parametrize("name,cfg", [
    ("dsen", {}), ("dsen", {"backbone": "cnn"}), ("dsen", {"aggregation": "conv_free"}), ("dsen", {"se": False}),
    ("sdsen", {"stages": 3}), ("sdsen", {"stages": 3, "link": "add"}), ("sdsen", {"stages": 2, "link": "none"}),
    ("sdsen", {"stages": 2, "backbone": "cnn"}),
])
def test_fast_eval_path_equals_reference_path(name, cfg):
    """Eval + no_grad takes _Body.forward_fast (channels-last, fused oneDNN ops, split concatenation); it computes
    the reference path's function, stage by stage, within float32 rounding (relative to the output scale)."""
    torch.manual_seed(0)
    m = build_model(name, **cfg).eval()
    _perturb(m)
    x = torch.rand(2, 3, 15, 22)
    with torch.no_grad():
        assert m.body.fast_ok(x) or not D._MKLDNN_FUSED
        fast = m(x, return_stages=True)
    with torch.enable_grad():       # autograd on: the reference path
        assert not m.body.fast_ok(x)
        ref = m(x, return_stages=True)
    if name == "dsen":
        pairs = [(fast[0], ref[0])] + [(fast[1][k], ref[1][k]) for k in ("rain", "features", "aggregated")]
    else:
        pairs = list(zip(fast[1], ref[1]))
    for a, b in pairs:
        assert a.shape == b.shape and a.is_contiguous()
        assert (a - b.detach()).abs().max() <= 1e-5 * max(1.0, b.abs().max().item())
    assert (ref[0] - x).abs().max() > 1e-2  # the network changes the image


def test_shipped_weights_fast_path_within_1e4():
    from derain_lib.checkpoint import list_weights, load_model
    names = [n for n in ("dsen", "sdsen") if n in list_weights()]
    if not names:
        pytest.skip("no DSEN weights shipped")
    x = torch.rand(1, 3, 24, 31, generator=torch.Generator().manual_seed(0))
    for n in names:
        m = load_model(n, device="cpu")
        with torch.no_grad():
            fast = m(x)
        with torch.enable_grad():
            ref = m(x)
        assert (fast - ref.detach()).abs().max() <= 1e-4
