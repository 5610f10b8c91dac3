"""A module's tensors read afresh at every call, for the cost of a few dictionary lookups.

``layer.cell.layers[0].head.weight`` goes through ``nn.Module.__getattr__`` at every dot, about a
microsecond each: too slow for a streaming step that costs twenty. A reference kept from an
earlier call is fast but can go stale: ``load_state_dict(assign=True)`` or
``torch.func.functional_call`` put other tensors in the module's place. :class:`LiveTensors`
remembers where each tensor is stored (its module's ``_parameters`` or ``_buffers`` dictionary, and
the ``_modules`` dictionaries on the way there) and reads it from there, after checking that no
module on the way was replaced.
"""

from __future__ import annotations

from torch import nn


class LiveTensors:
    """The tensors stored under dotted ``names`` in ``root`` (a None name stands for no tensor)."""

    def __init__(self, root: nn.Module, names: list):
        self._root, self._names = root, list(names)
        self._path_steps = self._leaves = None  # located at the first get(): root may still be under construction

    def _locate(self) -> None:
        path_steps, leaves = {}, []
        for name in self._names:
            if name is None:
                leaves.append(None)
                continue
            *path, leaf = name.split(".")
            module = self._root
            for part in path:
                child = module._modules[part]
                path_steps[id(module._modules), part] = (module._modules, part, child)
                module = child
            store = module._parameters if leaf in module._parameters else module._buffers
            leaves.append((store, leaf))
        self._path_steps, self._leaves = list(path_steps.values()), leaves

    def get(self) -> list:
        """The tensors stored under the names now (None where a name is None or holds None)."""
        if self._path_steps is None:
            self._locate()
        for modules, part, child in self._path_steps:
            if modules.get(part) is not child:
                self._locate()
                break
        return [None if leaf is None else leaf[0].get(leaf[1]) for leaf in self._leaves]

    def __reduce__(self):
        # Copies (deepcopy, pickling) find the tensors again in the copied module.
        return LiveTensors, (self._root, self._names)
