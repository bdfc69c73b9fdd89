"""Test helpers shared by several test files (import as ``from helpers import ...``)."""
from __future__ import annotations

import pytest
import torch

from derain_lib.paths import data_root, has_dataset


def require_data(name: str):
    """Skip (with the reason printed in the summary) when a dataset of the shared data root is missing."""
    return pytest.mark.skipif(not has_dataset(name),
                              reason=f"dataset {name!r} not found under {data_root()} (set DERAIN_DATA)")


class TinyNet(torch.nn.Module):
    """A 2-layer conv net with a known 5x5 receptive field (for tiling tests)."""

    def __init__(self, scale: int = 1):
        super().__init__()
        self.scale = scale
        self.tile_multiple = 1
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = torch.nn.Conv2d(8, 3 * scale * scale, 3, padding=1)

    def forward(self, x, return_stages=False):
        y = self.c2(torch.relu(self.c1(x)))
        if self.scale > 1:
            y = torch.nn.functional.pixel_shuffle(y, self.scale)
            x = torch.nn.functional.interpolate(x, scale_factor=self.scale, mode="nearest")
        return x + 0.1 * y


def randomised(model, seed=0, std=0.1):
    """Random weights large enough that every stage changes the image (a fresh model is close to identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return model


def docs_cli_examples(text: str, prog: str) -> list[list[str]]:
    """The argument lists of every ``prog ...`` line in the bash blocks of a Markdown text (backslash continuations
    joined, trailing ``  # comments`` dropped), without ``prog`` itself."""
    import re
    import shlex

    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)
    lines = [ln.split("  #")[0].strip() for block in blocks for ln in block.replace("\\\n", " ").splitlines()]
    return [shlex.split(ln)[len(prog.split()):] for ln in lines if ln.startswith(prog + " ")]

