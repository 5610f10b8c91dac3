"""Convert ``ncps`` (1.0.1) torch layers into the liquidts layers that compute the same function."""

from __future__ import annotations

import torch

from liquidts.wirings import Wiring, wiring_from_dict


def _copy_wiring(ncps_wiring) -> Wiring:
    """A liquidts wiring with the same matrices and neuron layers as an ncps wiring."""
    from liquidts import wirings as lw

    name = type(ncps_wiring).__name__
    if name in ("NCP", "AutoNCP"):
        wiring = lw.NCP(len(ncps_wiring._inter_neurons), len(ncps_wiring._command_neurons),
                        len(ncps_wiring._motor_neurons), ncps_wiring._sensory_fanout, ncps_wiring._inter_fanout,
                        ncps_wiring._recurrent_command_synapses, ncps_wiring._motor_fanin)
    elif name == "FullyConnected":
        wiring = lw.FullyConnected(ncps_wiring.units, ncps_wiring.output_dim)
    else:
        wiring = lw.Wiring(ncps_wiring.units)
        wiring.output_dim = ncps_wiring.output_dim
    config = wiring.to_dict()
    config.update(output_dim=ncps_wiring.output_dim, input_dim=ncps_wiring.input_dim,
                  adjacency_matrix=ncps_wiring.adjacency_matrix.tolist(),
                  sensory_adjacency_matrix=ncps_wiring.sensory_adjacency_matrix.tolist())
    return wiring_from_dict(config)


def _copy_cfc_cell(src, dst):
    """ncps CfCCell -> liquidts CfCCell (backbone Linear layers in order, heads stacked)."""
    linears = [m for m in (src.backbone or []) if isinstance(m, torch.nn.Linear)]
    for a, b in zip(linears, dst.backbone):
        b.weight.copy_(a.weight)
        b.bias.copy_(a.bias)
    heads = [src.ff1] if src.mode == "pure" else [src.ff1, src.ff2, src.time_a, src.time_b]
    dst.head.weight.copy_(torch.cat([h.weight for h in heads]))
    dst.head.bias.copy_(torch.cat([h.bias for h in heads]))
    if src.mode == "pure":
        dst.w_tau.copy_(src.w_tau.reshape(-1))
        dst.A.copy_(src.A.reshape(-1))


@torch.no_grad()
def from_ncps(module):
    """Return the liquidts ``CfC`` or ``LTC`` computing what the given ``ncps.torch`` layer computes.

    Parameters are copied (the result does not share storage with ``module``); the wiring, if any,
    is copied with the same matrices. Differences from ncps that are fixes, not changes of
    function: per-sample ``timespans`` work for any batch size in liquidts.
    """
    from ncps import torch as ncps_torch
    from ncps import wirings as ncps_wirings

    from liquidts.nn.cfc import CfC
    from liquidts.nn.ltc import LTC

    if isinstance(module, ncps_torch.CfC):
        src_cell = module.rnn_cell
        units = module.wiring_or_units
        if isinstance(units, ncps_wirings.Wiring):
            units = _copy_wiring(units)
            mode = src_cell._layers[0].mode
            kwargs = {}
        else:
            mode = src_cell.mode
            linears = [m for m in (src_cell.backbone or []) if isinstance(m, torch.nn.Linear)]
            dropouts = [m.p for m in (src_cell.backbone or []) if isinstance(m, torch.nn.Dropout)]
            activation = next((n for n, cls in _ncps_activations().items()
                               if src_cell.backbone is not None and isinstance(src_cell.backbone[1], cls)),
                              "lecun_tanh")
            kwargs = dict(activation=activation, backbone_layers=src_cell.backbone_layers,
                          backbone_units=linears[0].out_features if linears else 128,
                          backbone_dropout=dropouts[0] if dropouts else 0.0)
        out = CfC(module.input_size, units, proj_size=module.proj_size,
                  return_sequences=module.return_sequences, batch_first=module.batch_first,
                  mixed_memory=module.use_mixed, mode=mode, **kwargs)
        src_cells = src_cell._layers if out.wiring is not None else [src_cell]
        for a, b in zip(src_cells, out.cells):
            _copy_cfc_cell(a, b)
        if module.proj_size is not None:
            out.fc.load_state_dict(module.fc.state_dict())
    elif isinstance(module, ncps_torch.LTC):
        cell = module.rnn_cell
        out = LTC(module.input_size, _copy_wiring(module._wiring), return_sequences=module.return_sequences,
                  batch_first=module.batch_first, mixed_memory=module.use_mixed,
                  input_mapping=cell._input_mapping, output_mapping=cell._output_mapping,
                  ode_unfolds=cell._ode_unfolds, epsilon=cell._epsilon,
                  implicit_param_constraints=cell._implicit_param_constraints)
        for name, value in cell.named_parameters():
            getattr(out.cell, name).copy_(value)
        for name in ("sparsity_mask", "sensory_sparsity_mask"):
            getattr(out.cell, name).copy_(cell._params[name])
    else:
        raise TypeError(f"from_ncps takes an ncps.torch.CfC or ncps.torch.LTC, got {type(module).__name__}")
    if module.use_mixed:
        out.memory.load_state_dict(module.lstm.state_dict())
    return out


def _ncps_activations():
    from ncps.torch.cfc_cell import LeCun

    return {"lecun_tanh": LeCun, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU,
            "silu": torch.nn.SiLU, "gelu": torch.nn.GELU}
