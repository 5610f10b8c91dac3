"""What the CfC and LTC layer tests share: data, tolerances and state comparisons."""

import torch

TOL = dict(rtol=1e-5, atol=1e-6)


def make_data(batch, steps, features=3, seed=0):
    """Inputs (B, T, F) and irregular elapsed times (B, T) in [0, 2)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, steps, features, generator=gen), torch.rand(batch, steps, generator=gen) * 2.0


def as_states(h):
    return h if isinstance(h, tuple) else (h,)


def assert_states_close(a, b, **tol):
    for u, v in zip(as_states(a), as_states(b)):
        torch.testing.assert_close(u, v, **(tol or TOL))


def assert_batch_equals_each_sample(model, x, ts):
    """Each sample of a batch sees its own elapsed times (ncps 1.0.1 breaks this for batch > 1)."""
    y, h = model(x, timespans=ts)
    for b in range(x.shape[0]):
        yb, hb = model(x[b: b + 1], timespans=ts[b: b + 1])
        torch.testing.assert_close(y[b: b + 1], yb, **TOL)
        assert_states_close(tuple(s[b: b + 1] for s in as_states(h)), hb)
    # The timespans matter: the same inputs with other elapsed times give other outputs.
    assert not torch.allclose(model(x, timespans=ts.flip(0))[0], y)


def assert_chunks_and_steps_equal_whole(model, x, ts, cuts):
    """Fed in chunks ``cuts`` (pairs of step indices), or one step at a time, with the state carried
    between calls, a layer gives the outputs and final state of the whole sequence."""
    y, h = model(x, timespans=ts)
    for pieces in (cuts, [(t, t + 1) for t in range(x.shape[1])]):
        outs, state = [], None
        for a, b in pieces:
            out, state = model(x[:, a:b], state, ts[:, a:b])
            outs.append(out)
        torch.testing.assert_close(torch.cat(outs, 1), y, **TOL)
        assert_states_close(state, h)
