"""Command line: ``derain VERB ...`` (or ``python -m derain_lib VERB ...``), the verbs list, derain, eval, synth,
train, convert-drn, promote and export (``--help`` on each; every subcommand with examples in ``docs/cli.md``).

Each module in ``COMMANDS`` exposes ``register(subparsers)``, which adds its subcommand(s) with
``set_defaults(func=f)``, ``f(args) -> int`` the exit code.  Errors in the input (missing files, non-images,
unknown models, bad options) print one line and exit with a non-zero code; ``--debug`` shows the traceback.
"""
from __future__ import annotations

import argparse
import sys

from ..io import ImageError
from . import export, infer, train, weights

COMMANDS = [infer, train, weights, export]

# what a user's input can cause (a missing file, a corrupt image, an unknown name, a bad value, a missing extra);
# anything else is a bug and keeps its traceback
USER_ERRORS = (FileNotFoundError, ValueError, KeyError, ImageError, ImportError)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="derain", description="Derain Lab command line")
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = p.add_subparsers(dest="cmd", required=True)
    for module in COMMANDS:
        module.register(sub)
    return p


def run_command(args: argparse.Namespace) -> int:
    """Call ``args.func(args)``: a user error prints one line and returns 2; Ctrl-C returns 130."""
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as e:
        if getattr(args, "debug", False):
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)   # the command as typed, for the records runs write
    return run_command(args)
