"""Importing the authors' DRN weights: a .pth in their key layout (built here from the reference module, nothing
downloaded) converts by one command to a model with identical output; wrong layouts fail with a clear message."""
import json

import pytest
import torch

from derain_lib.checkpoint import load_model, read_metadata
from derain_lib.convert import convert_authors_drn, sha256_file
from derain_lib.models.drn_reference import AUTHORS_KEYS, AuthorsDRN


def authors_model(seed=0, concat="input_first", stages=3, recursions=2):
    """An AuthorsDRN with random weights large enough that every stage changes the image."""
    torch.manual_seed(seed)
    m = AuthorsDRN(stages, recursions, concat=concat)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape) * 0.05)
    return m.eval()


def test_reference_has_the_authors_layout():
    m = AuthorsDRN()
    assert tuple(m.state_dict()) == AUTHORS_KEYS
    assert sum(p.numel() for p in m.parameters()) == 10_595  # paper Table 1
    assert (m.iteration, m.intra_iter) == (7, 7)


@pytest.mark.parametrize("concat", ["input_first", "x_first"])
def test_convert_gives_identical_output(tmp_path, concat):
    ref = authors_model(concat=concat)
    src = tmp_path / "net_latest.pth"
    torch.save(ref.state_dict(), src)
    from derain_lib.__main__ import main
    rc = main(["convert-drn", str(src), "-o", str(tmp_path / "drn-authors.safetensors"), "--stages", "3",
               "--recursions", "2", "--concat", concat.replace("_", "-")])
    assert rc == 0
    out = tmp_path / "drn-authors.safetensors"
    model = load_model(out, device="cpu")
    x = torch.rand(1, 3, 23, 31, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want, want_stages = ref(x)
        got, got_stages = model(x, return_stages=True)          # our fast inference path
        got_train = model.train()(x)                            # and our training path
    assert (got - want).abs().max() < 1e-5 and (got_train - want).abs().max() < 1e-5
    assert all((a - b).abs().max() < 1e-5 for a, b in zip(got_stages, want_stages))
    assert (want - x).abs().max() > 1e-2                        # the network really changes the image
    meta = read_metadata(out)
    side = json.loads(out.with_suffix(".json").read_text())
    assert meta["arch"] == side["arch"] == "drn"
    assert (side["config"]["stages"], side["config"]["recursions"]) == (3, 2)
    assert side["source"]["sha256"] == sha256_file(src) == meta["info"]["source"]["sha256"]
    assert side["source"]["concat"] == concat


def test_the_two_concat_orders_really_differ(tmp_path):
    """Converting with the wrong order gives a different model: the option matters."""
    ref = authors_model(concat="x_first")
    src = tmp_path / "a.pth"
    torch.save(ref.state_dict(), src)
    wrong = load_model(convert_authors_drn(src, tmp_path / "wrong", stages=3, recursions=2), device="cpu")
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert (wrong(x) - ref(x)[0]).abs().max() > 1e-3


def test_dataparallel_prefix_is_accepted(tmp_path):
    ref = authors_model()
    src = tmp_path / "dp.pth"
    torch.save({f"module.{k}": v for k, v in ref.state_dict().items()}, src)
    model = load_model(convert_authors_drn(src, tmp_path / "dp", stages=3, recursions=2), device="cpu")
    x = torch.rand(1, 3, 12, 14)
    with torch.no_grad():
        assert (model(x) - ref(x)[0]).abs().max() < 1e-5


def test_wrong_layout_fails_clearly(tmp_path):
    state = authors_model().state_dict()
    bad = dict(state)
    bad["res_conv3.0.weight"] = bad.pop("res_conv2.2.weight")
    src = tmp_path / "bad.pth"
    torch.save(bad, src)
    with pytest.raises(ValueError, match=r"missing keys: \['res_conv2.2.weight'\].*unexpected keys: "
                                         r"\['res_conv3.0.weight'\]"):
        convert_authors_drn(src, tmp_path / "out")
    # through the CLI: one line, exit code 2, nothing written
    from derain_lib.__main__ import main
    assert main(["convert-drn", str(src), "-o", str(tmp_path / "out.safetensors")]) == 2
    assert not (tmp_path / "out.safetensors").exists()

    wide = dict(state)
    wide["conv.0.weight"] = torch.zeros(3, 32, 3, 3)
    torch.save(wide, src)
    with pytest.raises(ValueError, match="shapes differ.*conv.0.weight"):
        convert_authors_drn(src, tmp_path / "out")
    torch.save({"state_dict": state, "epoch": 3}, src)
    with pytest.raises(ValueError, match="plain state dict"):
        convert_authors_drn(src, tmp_path / "out")
    with pytest.raises(FileNotFoundError):
        convert_authors_drn(tmp_path / "absent.pth", tmp_path / "out")


def test_pickled_code_is_refused(tmp_path):
    """weights_only=True: a file that needs arbitrary unpickling is rejected, not executed."""
    src = tmp_path / "module.pth"
    torch.save(authors_model(), src)  # a whole pickled nn.Module, not a state dict
    with pytest.raises(ValueError, match="weights_only"):
        convert_authors_drn(src, tmp_path / "out")
