"""Command line: ``python -m derain_lib VERB ...``, the verbs list, derain, eval, synth, bench, train,
convert-drn, promote, scoreboard, export and campaign (``--help`` on each; every subcommand with examples
in ``docs/cli.md``).

Each module in ``COMMANDS`` exposes ``register(subparsers)``, which adds its subcommand(s) with
``set_defaults(func=f)``, ``f(args) -> int`` the exit code.  Errors in the input (missing files, non-images,
unknown models, bad options) print one line and exit with a non-zero code; no traceback.
"""
from __future__ import annotations

import argparse
import sys

from . import bench, campaign, export, infer, scoreboard, train, weights

COMMANDS = [infer, bench, train, weights, scoreboard, export, campaign]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m derain_lib", description="Derain Lab command line")
    sub = p.add_subparsers(dest="cmd", required=True)
    for module in COMMANDS:
        module.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)   # the command as typed, for the records runs write
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError, KeyError, TypeError, OSError, RuntimeError, ImportError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        return 2
