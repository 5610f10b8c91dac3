"""The CfC variants every implementation of the recurrence covers, and the ids kernels know them by.

The C kernel (``inference.c``) and the Triton kernels (``triton.py``) are compiled with a mode and
an activation as small integers; both read them from this one table, so a name cannot come to mean
another variant in one of them (``tests/kernels/test_native.py`` checks the C enums against it).
"""

from __future__ import annotations

#: CfC modes, by kernel id (see ``reference.py`` for what each computes).
MODE_IDS = {"default": 0, "no_gate": 1, "pure": 2}
MODES = tuple(MODE_IDS)

#: Backbone activations the kernels implement, by kernel id (``liquidts.activations`` defines them).
ACTIVATION_IDS = {"lecun_tanh": 0, "tanh": 1, "relu": 2, "silu": 3, "gelu": 4}

#: The variants the C training kernel (``scan.c``) implements: one unwired cell with a one-layer
#: backbone, these modes, and activations whose derivative follows from their value.
TRAIN_MODES = ("default", "no_gate")
TRAIN_ACTIVATIONS = ("lecun_tanh", "tanh", "relu")
