"""The ``liquidts`` command line: ``liquidts forecast ...`` and ``liquidts control ...``."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from liquidts.forecast.cli import add_parser as add_forecast

    parser = argparse.ArgumentParser(prog="liquidts", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_forecast(subparsers)
    try:
        from liquidts.control.cli import add_parser as add_control
    except ImportError:  # the control extra (gymnasium) is not installed
        pass
    else:
        add_control(subparsers)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
