import pytest
import torch

from liquidts.baselines import BASELINES, GRU, LSTM, make_model

from ._tasks import delayed_copy_loss


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_matches_torch_and_chunks(cls):
    torch.manual_seed(0)
    m = cls(3, 8, num_layers=2)
    x = torch.randn(4, 11, 3)
    y, h = m(x, timespans=torch.ones(4, 11))
    y_ref, h_ref = m.rnn(x)
    torch.testing.assert_close(y, y_ref)
    ya, ha = m(x[:, :5])
    yb, hb = m(x[:, 5:], ha)
    torch.testing.assert_close(torch.cat([ya, yb], 1), y)
    assert m.output_size == 8
    last, _ = cls(3, 8, return_sequences=False)(x)
    assert last.shape == (4, 8)
    tb, _ = cls(3, 8, batch_first=False)(x.transpose(0, 1))
    assert tb.shape == (11, 4, 8)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_dropout_in_training_applies_without_gradient(cls):
    """Monte Carlo dropout: train mode under torch.no_grad() still drops out (as the liquid layers do)."""
    m = cls(3, 8, num_layers=2, dropout=0.5).train()
    x = torch.randn(4, 6, 3)
    with torch.no_grad():
        samples = torch.stack([m(x)[0] for _ in range(4)])
        assert samples.std(0).mean() > 1e-3
        m.eval()
        torch.testing.assert_close(m(x)[0], m(x)[0])


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_learns_delayed_copy(cls):
    first, last = delayed_copy_loss(lambda: cls(1, 16), steps=120)
    assert first > 0.8 and last < 0.2  # predicting 0 scores 1.0


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_registry_and_bad_input(name):
    m = make_model(name, 3, 8)
    assert m.output_size == 8
    x = torch.randn(2, 5, 3)
    y, _ = m(x)
    assert y.shape == (2, 5, 8)
    torch.testing.assert_close(m(x, timespans=torch.rand(2, 5))[0], y)  # documented as ignored
    with pytest.raises(ValueError, match="3-D"):
        m(torch.randn(4, 3))
    with pytest.raises(ValueError, match="input_size=3"):
        m(torch.randn(4, 5, 2))
    with pytest.raises(TypeError):
        m(torch.ones(4, 5, 3, dtype=torch.long))


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="gru.*lstm.*mamba.*xlstm"):
        make_model("retnet", 3, 8)
