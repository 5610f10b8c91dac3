"""Fast paths for the LTC's fused semi-implicit solver; the reference is ``LTCCell.fused_steps``."""

from liquidts.kernels.ltc.scan import ltc_scan

__all__ = ["ltc_scan"]
