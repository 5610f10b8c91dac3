"""Fast paths for the LTC's fused semi-implicit solver; the reference is ``LTCCell.fused_steps``.

``scan.py`` runs the whole sequence in PyTorch with a hand-written backward; ``native.py`` runs the
same on the C kernel of ``scan.c`` (float32 on the CPU, where a C compiler is found).
"""

from liquidts.kernels.ltc.native import Synapses, ltc_scan_native
from liquidts.kernels.ltc.native import unavailable_reason as native_unavailable_reason
from liquidts.kernels.ltc.scan import ltc_scan

__all__ = ["Synapses", "ltc_scan", "ltc_scan_native", "native_unavailable_reason"]
