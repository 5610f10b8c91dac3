"""Fast paths for the LTC's fused semi-implicit solver; the reference is ``LTCCell.fused_steps``.

``scan.py`` runs the whole sequence in PyTorch with a hand-written backward; ``native.py`` runs the
same on the C kernel of ``scan.c`` (float32 on the CPU, where a C compiler is found).
``sensory.py``: the input synapses' drive and conductance of every step, in PyTorch or in C
(``sensory.c``).
"""

from liquidts.kernels.ltc.native import Synapses, ltc_scan_native
from liquidts.kernels.ltc.native import unavailable_reason as native_unavailable_reason
from liquidts.kernels.ltc.scan import ltc_scan
from liquidts.kernels.ltc.sensory import sensory_terms

__all__ = ["Synapses", "ltc_scan", "ltc_scan_native", "native_unavailable_reason", "sensory_terms"]
