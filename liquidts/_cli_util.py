"""What the ``liquidts`` commands share: a help formatter that shows defaults, one-line usage errors
and argument types.

Kept free of heavy imports so that ``liquidts --help`` starts in a fraction of a second.
"""

from __future__ import annotations

import argparse
import sys


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Descriptions as written; ``(default: X)`` after each option that has a default worth showing."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "%(default)" in text or "default" in text.lower():
            return text  # the help already says it (defaults that depend on other flags)
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS \
                or action.default == []:
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"
        return text


def fail(prog: str, flag: str, message) -> None:
    """A usage error: one line naming the flag on stderr, exit status 2 (as argparse does)."""
    message = " ".join(str(message).split())
    print(f"{prog}: error: {flag}: {message}", file=sys.stderr)
    raise SystemExit(2)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (argparse turns the error into a usage message, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
