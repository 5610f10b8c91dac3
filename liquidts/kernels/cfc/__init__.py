"""The CfC recurrence, several ways, each tested against the autograd reference.

All share the contract of :func:`reference.cfc_reference`: ``(x_proj (T, B, K0), h0 [per cell
(B, H_l)], ts (T, B, 1), cells [CellWeights], mode, activation) -> [per cell (T, B, H_l)]``:
``scan.cfc_scan`` (PyTorch, hand-written backward; masks multiplied in first with ``effective``)
and ``triton.cfc_triton`` (fused kernels, masks applied inside). ``inference.py`` and
``native.py`` (the C kernel) run inference from the layer's input. ``liquidts.kernels.dispatch``
chooses among them.
"""

from liquidts.kernels.cfc.reference import CellWeights, cfc_reference, effective
from liquidts.kernels.cfc.scan import cfc_scan
from liquidts.kernels.cfc.variants import ACTIVATION_IDS, MODE_IDS, MODES

__all__ = ["ACTIVATION_IDS", "MODE_IDS", "MODES", "CellWeights", "cfc_reference", "cfc_scan", "effective"]
