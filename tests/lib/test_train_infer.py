"""Trainer (loss goes down, exact resume, torchrun/gloo path), tiled inference, checkpoints."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import TinyNet

from derain_lib.checkpoint import load_model, read_metadata, save_weights, weights_path
from derain_lib.infer import AUTO_TILE_PIXELS, DEFAULT_OVERLAP, DEFAULT_TILE, derain, plan_tiles, run_model
from derain_lib.losses import l2, mean_cov_matching, neg_ssim, ssim_torch, stage_weighted
from derain_lib.models.registry import build_model, list_models
from derain_lib.train import Trainer

REPO = Path(__file__).resolve().parents[2]


def _loss(model, batch):
    loss = l2(model(batch["rainy"]), batch["clean"])
    return loss, {"l2": float(loss.detach())}


def _batches(seed=0):
    g = torch.Generator().manual_seed(seed)
    while True:
        clean = torch.rand(4, 3, 24, 24, generator=g)
        yield {"clean": clean, "rainy": (clean + 0.2 * torch.rand(4, 1, 24, 24, generator=g)).clamp(0, 1)}


def test_trainer_learns_and_resumes(tmp_path):
    torch.manual_seed(0)
    tr = Trainer(TinyNet(), _loss, lr=3e-3, milestones=[30], gamma=0.1, seed=0)
    hist = tr.fit(_batches(), 40, log_every=10, progress=False, ckpt_path=tmp_path / "c.pt")
    assert hist["loss"][-1] < hist["loss"][0]
    assert hist["lr"][-1] == pytest.approx(3e-4)
    assert hist["step"] == [10, 20, 30, 40]
    # resume: same weights, optimiser step, scheduler position
    tr2 = Trainer(TinyNet(), _loss, lr=3e-3, milestones=[30], gamma=0.1)
    tr2.load_checkpoint(tmp_path / "c.pt")
    assert tr2.step == 40 and tr2.opt.param_groups[0]["lr"] == pytest.approx(3e-4)
    for a, b in zip(tr.model.state_dict().values(), tr2.model.state_dict().values()):
        torch.testing.assert_close(a, b)
    # continuing one run == running it in two pieces
    ref = Trainer(TinyNet(), _loss, lr=1e-3, seed=0)
    ref.model.load_state_dict(tr.model.state_dict())
    ref.opt.load_state_dict(tr.opt.state_dict())
    ref.sched.load_state_dict(tr.sched.state_dict())
    ref.step = 40
    ref.fit(_batches(5), 45, progress=False)
    tr2.fit(_batches(5), 45, progress=False)
    for a, b in zip(ref.model.state_dict().values(), tr2.model.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_time_limit_counts_this_run_not_the_resumed_checkpoint(tmp_path):
    """A checkpoint that has trained longer than the new --time-limit still gets its own budget."""
    tr = Trainer(TinyNet(), _loss, lr=1e-3, seed=0)
    tr.fit(_batches(), 5, progress=False, ckpt_path=tmp_path / "c.pt")
    tr._elapsed = 7200.0  # as if the checkpointed run had trained two hours
    tr.save_checkpoint(tmp_path / "c.pt")
    tr2 = Trainer(TinyNet(), _loss, lr=1e-3)
    tr2.load_checkpoint(tmp_path / "c.pt")
    hist = tr2.fit(_batches(1), 15, log_every=5, progress=False, time_limit=600)
    assert tr2.step == 15  # not stopped at once
    assert hist["time"][-1] >= 7200.0  # the total keeps counting


def test_losses_stay_float32_under_bfloat16_autocast():
    """SSIM's local variances (E[x^2] - E[x]^2) and the feature covariances cancel to noise in bfloat16: the
    losses compute in float32 whatever autocast the trainer runs the network under."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g)
    y = (x + 0.02 * torch.randn(2, 3, 32, 32, generator=g)).clamp(0, 1)
    fs, fr = torch.randn(2, 8, 6, 6, generator=g), torch.randn(2, 8, 6, 6, generator=g) + 0.1
    ref_ssim, ref_match = ssim_torch(x, y), mean_cov_matching(fs, fr)[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got_ssim, got_match = ssim_torch(x, y), mean_cov_matching(fs, fr)[0]
        naive = F.conv2d(x * x, torch.full((3, 1, 11, 11), 1 / 121.0), groups=3)  # what autocast would do
    assert got_ssim.dtype == torch.float32 and got_match.dtype == torch.float32
    torch.testing.assert_close(got_ssim, ref_ssim, rtol=0, atol=1e-6)
    torch.testing.assert_close(got_match, ref_match, rtol=0, atol=1e-6)
    assert naive.dtype == torch.bfloat16  # (the hazard is real: autocast does lower conv2d)
    # bfloat16 inputs are lifted to float32; float64 inputs (notebook 03's hand example) stay float64
    assert ssim_torch(x.bfloat16(), y.bfloat16()).dtype == torch.float32
    assert ssim_torch(x.double(), y.double()).dtype == torch.float64
    assert mean_cov_matching(fs.double(), fr.double())[0].dtype == torch.float64


def test_ctrl_c_stops_cleanly_with_a_checkpoint(tmp_path):
    """SIGINT during fit finishes the step in progress, writes the checkpoint and returns (as a time limit
    does); the run resumes from that step; the handler is restored afterwards."""
    import signal

    def interrupting(at):
        for i, b in enumerate(_batches()):
            if i == at:
                os.kill(os.getpid(), signal.SIGINT)  # arrives while this step is being prepared
            yield b

    before = signal.getsignal(signal.SIGINT)
    tr = Trainer(TinyNet(), _loss, lr=1e-3, seed=0)
    tr.fit(interrupting(3), 50, log_every=1, progress=False, ckpt_path=tmp_path / "c.pt")
    assert tr.interrupted and tr.step == 4 and tr.history["step"][-1] == 4
    assert signal.getsignal(signal.SIGINT) is before
    tr2 = Trainer(TinyNet(), _loss, lr=1e-3)
    tr2.load_checkpoint(tmp_path / "c.pt")
    assert tr2.step == 4 and not tr2.interrupted
    for a, b in zip(tr.model.state_dict().values(), tr2.model.state_dict().values()):
        torch.testing.assert_close(a, b)
    tr2.fit(_batches(), 6, progress=False)
    assert tr2.step == 6 and not tr2.interrupted


def test_trainer_bf16_and_channels_last_steps():
    """--precision bf16 trains with float32 weights and optimiser state; channels-last batches give the same
    float32 step as NCHW ones; a bad precision name is refused."""
    batch = next(_batches())
    losses = {}
    for name, kw in {"nchw": {"precision": "fp32", "channels_last": False},
                     "cl": {"precision": "fp32", "channels_last": True},
                     "bf16": {"precision": "bf16"}}.items():
        torch.manual_seed(0)
        tr = Trainer(TinyNet(), _loss, lr=1e-3, seed=0, device="cpu", **kw)
        losses[name] = [tr.train_step(batch)[0] for _ in range(3)]
        assert all(p.dtype == torch.float32 for p in tr.model.parameters())
        assert tr.compute_precision == ("bf16" if name == "bf16" else "fp32")
    assert losses["cl"] == pytest.approx(losses["nchw"], rel=1e-5)
    assert losses["bf16"] == pytest.approx(losses["nchw"], rel=0.05)  # same problem, lower precision
    assert losses["bf16"][-1] < losses["bf16"][0]
    with pytest.raises(ValueError, match="precision"):
        Trainer(TinyNet(), _loss, precision="fp8")


@pytest.mark.slow
def test_torchrun_gloo_two_processes(tmp_path):
    """The multi-GPU path (torchrun + DDP) on CPU with the gloo backend: ranks stay in sync."""
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(f"""
        import sys, torch, torch.distributed as dist
        sys.path.insert(0, {str(REPO)!r}); sys.path.insert(0, {str(REPO / 'tests')!r})
        from helpers import TinyNet
        from derain_lib.train import Trainer
        from derain_lib.losses import l2
        torch.manual_seed(0)
        def loss(m, b):
            v = l2(m(b["rainy"]), b["clean"]); return v, {{}}
        def batches(rank):
            g = torch.Generator().manual_seed(100 + rank)
            while True:
                c = torch.rand(2, 3, 16, 16, generator=g); yield {{"clean": c, "rainy": c * 0.5}}
        tr = Trainer(TinyNet(), loss, lr=1e-2, seed=0)
        tr.fit(batches(tr.rank), 3, progress=False)
        flat = torch.cat([p.detach().flatten() for p in tr.model.parameters()])
        gathered = [torch.zeros_like(flat) for _ in range(tr.world_size)]
        dist.all_gather(gathered, flat)
        assert tr.world_size == 2
        assert torch.allclose(gathered[0], gathered[1]), "ranks diverged"
        print("rank", tr.rank, "ok", flush=True)
        dist.barrier()                 # both ranks done with gloo before either tears its process group down
        dist.destroy_process_group()
        # gloo's threads can abort the C++ static teardown at interpreter exit ("terminate called without an
        # active exception") after everything above has passed: leave without it
        import os; os._exit(0)
    """))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                        "--rdzv-endpoint=127.0.0.1:0", "--rdzv-backend=c10d",
                        str(script)], capture_output=True, text=True, timeout=180, env=env, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("ok") == 2


@pytest.mark.parametrize("scale", [1, 2])
def test_tiling_equals_whole_image(scale):
    torch.manual_seed(0)
    net = TinyNet(scale).eval()
    x = torch.rand(1, 3, 101, 77)
    whole = run_model(net, x)
    tiled = run_model(net, x, tile=40, overlap=8)  # overlap >= receptive field: exact
    assert whole.shape == (1, 3, 101 * scale, 77 * scale)
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=0)


@pytest.mark.parametrize("h, w", [(1, 1), (37, 53), (1024, 1024), (833, 841), (1025, 1024), (1031, 1041),
                                  (2000, 1501), (4000, 6000)])
def test_plan_tiles_covers_every_pixel(h, w):
    """The default policy: one pass up to AUTO_TILE_PIXELS, else DEFAULT_TILE tiles that cover the image, each
    inside it, neighbours overlapping by DEFAULT_OVERLAP or more; ``pixels`` is the sum of the tile areas."""
    plan = plan_tiles(h, w)
    assert (plan.height, plan.width) == (h, w)
    if h * w <= AUTO_TILE_PIXELS:
        assert not plan.tiled and plan.origins == ((0, 0),) and plan.pixels == h * w
        assert plan.describe() == "whole image"
        return
    assert (plan.tile, plan.overlap) == (DEFAULT_TILE, DEFAULT_OVERLAP) and plan.tiled
    covered = np.zeros((h, w), np.uint8)
    area = 0
    for y, x in plan.origins:
        assert 0 <= y and 0 <= x and y + min(plan.tile, h) <= h and x + min(plan.tile, w) <= w
        covered[y:y + plan.tile, x:x + plan.tile] += 1
        area += min(plan.tile, h) * min(plan.tile, w)
    assert covered.min() >= 1 and plan.pixels == area == covered.sum() > h * w
    for axis in (0, 1):
        starts = sorted({o[axis] for o in plan.origins})
        assert np.all(np.diff(starts) <= plan.tile - plan.overlap)
    assert len(plan.origins) == len({o[0] for o in plan.origins}) * len({o[1] for o in plan.origins})


def test_plan_tiles_options():
    assert not plan_tiles(3000, 3000, tile=0).tiled                 # 0: never tile
    assert not plan_tiles(100, 90, tile=128).tiled                  # fits in one tile: one pass
    plan = plan_tiles(100, 90, tile=40, overlap=8)
    assert (plan.tile, plan.overlap, plan.tiled) == (40, 8, True) and plan.describe() == "40 px tiles, 8 px overlap"

    class Multiple8:
        tile_multiple = 8

    assert plan_tiles(100, 90, Multiple8(), tile=45).tile == 40     # rounded down to the model's multiple
    assert plan_tiles(100, 90, Multiple8(), tile=5, overlap=4).tile == 8
    with pytest.raises(ValueError, match="overlap"):
        plan_tiles(100, 90, tile=40, overlap=40)
    with pytest.raises(ValueError):
        plan_tiles(100, 90, tile=-1)
    with pytest.raises(ValueError):
        plan_tiles(0, 90)


def test_derain_follows_the_plan(tiny_net, photo):
    """derain() and run_model() run what plan_tiles() says: a given plan and the same tile/overlap agree."""
    from derain_lib.io import to_tensor, to_uint8

    img = photo[:61, :67]
    plan = plan_tiles(*img.shape[:2], tiny_net, tile=32, overlap=8)
    assert plan.tiled and len(plan.origins) == 9
    by_plan = to_uint8(run_model(tiny_net, to_tensor(img), plan=plan))
    np.testing.assert_array_equal(derain(img, tiny_net, tile=32, overlap=8), by_plan)
    with pytest.raises(ValueError, match="plan is for"):
        run_model(tiny_net, to_tensor(photo[:60, :67]), plan=plan)


def test_cli_derain_tile_options():
    from derain_lib.cli import build_parser

    args = build_parser().parse_args(["derain", "x.png", "--tile", "256", "--overlap", "16"])
    assert (args.tile, args.overlap) == (256, 16)
    args = build_parser().parse_args(["derain", "x.png"])
    assert (args.tile, args.overlap) == (None, DEFAULT_OVERLAP)  # None: plan_tiles' default policy
    with pytest.raises(SystemExit):
        build_parser().parse_args(["derain", "x.png", "--tile", "-1"])


def test_derain_any_input(tiny_net, photo):
    out = derain(photo[:37, :53], tiny_net)
    assert out.shape == (37, 53, 3) and out.dtype == np.uint8
    gray = photo[..., 0]
    assert derain(gray, tiny_net).shape == photo.shape


@pytest.mark.slow
def test_large_image_memory_is_bounded(tmp_path):
    """A 6000x4000 photo is tiled automatically; peak memory of the whole process stays at a few GiB."""
    code = textwrap.dedent(f"""
        import resource, sys, numpy as np, torch
        sys.path.insert(0, {str(REPO)!r}); sys.path.insert(0, {str(REPO / 'tests')!r})
        torch.set_num_threads(2)
        from helpers import TinyNet
        from derain_lib.infer import derain
        img = np.random.default_rng(0).integers(0, 256, (4000, 6000, 3), dtype=np.uint8)
        out = derain(img, TinyNet().eval())
        assert out.shape == img.shape
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    peak_mib = int(r.stdout.strip().splitlines()[-1])
    assert peak_mib < 3 * 1024, f"peak RSS {peak_mib} MiB"


def test_checkpoint_roundtrip_strict(tmp_path):
    name = "drn" if "drn" in list_models() else list_models()[0]
    m = build_model(name)
    p = save_weights(m, tmp_path / "w.safetensors", {"summary": "test"})
    meta = read_metadata(p)
    assert meta["arch"] == name and meta["info"]["summary"] == "test"
    m2 = load_model(p, device="cpu")
    assert not m2.training
    for a, b in zip(m.state_dict().values(), m2.state_dict().values()):
        torch.testing.assert_close(a, b)
    # a file with a missing tensor is rejected, not half-loaded
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    state = load_file(str(p))
    with safe_open(str(p), "pt") as f:
        md = f.metadata()
    state.pop(min(state))
    save_file(state, str(tmp_path / "broken.safetensors"), metadata=md)
    with pytest.raises(RuntimeError, match="Missing key"):
        load_model(tmp_path / "broken.safetensors", device="cpu")


def test_unknown_names_are_explained():
    with pytest.raises(FileNotFoundError, match="no weights named 'nope'"):
        weights_path("nope")
    with pytest.raises(KeyError, match="known models"):
        build_model("nope")
    with pytest.raises(TypeError, match="unknown config key"):
        build_model(list_models()[0], not_a_field=1)


def test_losses_against_references():
    from skimage.metrics import structural_similarity
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g, dtype=torch.float64)
    y = (x + 0.1 * torch.rand(2, 3, 32, 32, generator=g, dtype=torch.float64)).clamp(0, 1)
    ref = np.mean([structural_similarity(x[b, c].numpy(), y[b, c].numpy(), gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False, data_range=1.0)
                   for b in range(2) for c in range(3)])
    assert float(ssim_torch(x, y)) == pytest.approx(ref, abs=1e-10)
    assert float(neg_ssim(x, y)) == pytest.approx(-ref, abs=1e-10)
    s = stage_weighted([x, y], y, [0.5, 2.0])
    assert float(s) == pytest.approx(0.5 * float(((x - y) ** 2).mean()))
    total, _, _ = mean_cov_matching(x, x)
    assert float(total) == 0.0
