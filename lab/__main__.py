"""``python -m lab VERB``: scoreboard, campaign, latency (``--help`` on each; examples in ``docs/cli.md``)."""
from __future__ import annotations

import argparse
import sys

from derain_lib.cli import run_command

from .campaign import command as campaign
from .latency_command import register as register_latency
from .scoreboard import command as scoreboard


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lab", description="Derain Lab maintainers' tools")
    sub = p.add_subparsers(dest="cmd", required=True)
    scoreboard.register(sub)
    campaign.register(sub)
    register_latency(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    args.prog = "python -m lab"
    return run_command(args)


if __name__ == "__main__":
    raise SystemExit(main())
