"""The ``liquidts`` command line: ``liquidts forecast ...`` and ``liquidts control ...``."""

from __future__ import annotations

import argparse
import importlib.util
import sys

from liquidts._cli_util import HelpFormatter


def build_parser() -> argparse.ArgumentParser:
    from liquidts.forecast.cli import add_parser as add_forecast

    parser = argparse.ArgumentParser(prog="liquidts", description=__doc__, formatter_class=HelpFormatter)
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_forecast(subparsers)
    # Building the parser imports neither torch nor gymnasium (a fast --help); the control
    # command appears when the control extra (gymnasium) is installed.
    if importlib.util.find_spec("gymnasium") is not None:
        from liquidts._control_cli import add_parser as add_control

        add_control(subparsers)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
