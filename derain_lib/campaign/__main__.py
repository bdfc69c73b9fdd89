"""``python -m derain_lib.campaign ...``: the ``campaign`` subcommand on its own (the same options as
``python -m derain_lib campaign``), for the device script."""
from __future__ import annotations

import argparse
import sys

from ..cli import campaign as cli_campaign


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m derain_lib.campaign")
    sub = p.add_subparsers(dest="cmd", required=True)
    cli_campaign.register(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(["campaign", *argv])
    args.argv = ["campaign", *argv]
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
