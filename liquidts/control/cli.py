"""``liquidts control train|eval``: the parser lives in :mod:`liquidts._control_cli`, outside this
package, so that ``liquidts --help`` does not import torch and gymnasium (``liquidts.control``
imports both)."""

from liquidts._control_cli import ALGOS, CORES, add_parser

__all__ = ["ALGOS", "CORES", "add_parser"]
