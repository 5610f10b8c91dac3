"""Sequence layers over ``(x, hx, timespans) -> (y, h)``: CfC and LTC, their cells, and conversion from ncps."""

from liquidts.nn.cfc import CfC, CfCCell, WiredCfCCell
from liquidts.nn.convert import from_ncps
from liquidts.nn.ltc import LTC, LTCCell

__all__ = ["CfC", "CfCCell", "WiredCfCCell", "LTC", "LTCCell", "from_ncps"]
