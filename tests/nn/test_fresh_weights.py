"""A layer computes with the weights it has now, however they were changed since the last call.

Evolution strategies write every population member into the policy with ``p.data.copy_``, which no
version counter sees; ``load_state_dict(assign=True)`` and ``torch.func.functional_call`` put other
tensors in the parameters' places; ``vector_to_parameters`` makes the parameters views of one vector
that may then change in place. Under ``torch.no_grad()`` (the C kernel and the PyTorch inference
loop) and with gradients, each call must give what a freshly built layer with those weights gives.
"""

import io
from copy import deepcopy

import pytest
import torch
from torch import nn

from liquidts.nn import LTC, CfC
from liquidts.wirings import AutoNCP

from ._helpers import TOL

LAYERS = {
    "ncp": lambda: CfC(3, AutoNCP(10, 2)),
    "backbone": lambda: CfC(3, 5, backbone_units=6, backbone_layers=2, mode="pure"),
    "ltc": lambda: LTC(3, AutoNCP(8, 2)),
}


def _set_data(layer, new):
    for p, q in zip(layer.parameters(), new.parameters()):
        p.data.copy_(q)


def _assign(layer, new):
    layer.load_state_dict({k: v.clone() for k, v in new.state_dict().items()}, assign=True)


def _numpy_view(layer, new):
    for p, q in zip(layer.parameters(), new.parameters()):
        p.detach().numpy()[...] = q.detach().numpy()


def _vector_in_place(layer, new):
    """Parameters made views of one vector, which then changes in place: same addresses, new values."""
    vec = nn.utils.parameters_to_vector(layer.parameters()).detach().clone()
    nn.utils.vector_to_parameters(vec, layer.parameters())
    with torch.no_grad():
        layer(torch.zeros(1, 1, 3))  # a call with the views in place
    vec.copy_(nn.utils.parameters_to_vector(new.parameters()))


def _replace_module(layer, new):
    """Every cell module replaced by the other layer's."""
    layer.cell = new.cell


CHANGES = {"data": _set_data, "assign": _assign, "numpy": _numpy_view, "vector": _vector_in_place,
           "module": _replace_module}


def _pair(name):
    torch.manual_seed(0)
    old = LAYERS[name]()
    torch.manual_seed(1)
    new = LAYERS[name]()
    return old, new


@pytest.fixture(params=["1", "0"], ids=["c_kernels", "pytorch"])
def native(request, monkeypatch):
    monkeypatch.setenv("LIQUIDTS_NATIVE", request.param)


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
def test_a_call_uses_the_weights_of_now(native, name, change, grad):
    layer, other = _pair(name)
    x, ts = torch.randn(2, 4, 3), torch.rand(2, 4) + 0.5
    with torch.set_grad_enabled(grad):
        before = layer(x, timespans=ts)[0].detach()
        expected = other(x, timespans=ts)[0].detach()
        assert not torch.allclose(before, expected)
        CHANGES[change](layer, other)
        torch.testing.assert_close(layer(x, timespans=ts)[0].detach(), expected, **TOL)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_functional_call_and_back(native, name):
    layer, other = _pair(name)
    x = torch.randn(2, 4, 3)
    with torch.no_grad():
        own = layer(x)[0]
        swapped = torch.func.functional_call(layer, dict(other.named_parameters()), (x,))[0]
        torch.testing.assert_close(swapped, other(x)[0], **TOL)
        torch.testing.assert_close(layer(x)[0], own, **TOL)  # its own weights are back


def test_a_replaced_module_of_another_shape_is_refused_before_the_c_kernel_reads_it(monkeypatch):
    monkeypatch.setenv("LIQUIDTS_NATIVE", "1")
    layer = CfC(3, 5, backbone_units=6)
    x = torch.randn(1, 2, 3)
    with torch.no_grad():
        layer(x)
        layer.cell.head = nn.Linear(6, 4)  # 4 rows instead of 4 heads x 5 units
        with pytest.raises(ValueError, match=r"cell 0 head_weight has shape \(4, 6\), expected \(20, 6\)"):
            layer(x)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_a_copy_computes_with_its_own_weights(native, name):
    """Deep copies and pickles (target networks, saved models) find their own tensors."""
    layer, _ = _pair(name)
    x = torch.randn(2, 4, 3)
    with torch.no_grad():
        y = layer(x)[0]
        buffer = io.BytesIO()
        torch.save(layer, buffer)
        buffer.seek(0)
        for copy in (deepcopy(layer), torch.load(buffer, weights_only=False)):
            torch.testing.assert_close(copy(x)[0], y)
            for p in copy.parameters():
                p.data.mul_(0.5)
            assert not torch.allclose(copy(x)[0], y)
            torch.testing.assert_close(layer(x)[0], y)
