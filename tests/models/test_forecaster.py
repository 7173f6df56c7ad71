"""rnnkit.models.forecaster: parity with torch.nn, RevIN, both heads, learning, reloading."""

import math

import pytest
import torch
from torch import nn

from rnnkit.models.forecaster import (
    AutoregressiveDecoder,
    DirectHead,
    Forecaster,
    ForecasterConfig,
    RevIN,
)
from rnnkit.train import load_weights, save_weights


def _sine_mixture(n: int = 700) -> torch.Tensor:
    """``(n, 2)``: two series, each a sum of sines with different periods."""
    t = torch.arange(n, dtype=torch.float32)
    a = torch.sin(2 * math.pi * t / 24) + 0.5 * torch.sin(2 * math.pi * t / 7)
    b = 0.8 * torch.cos(2 * math.pi * t / 24) + 0.3 * torch.sin(2 * math.pi * t / 11 + 1.0)
    return torch.stack([a, b], dim=1)


def _windows(series: torch.Tensor, window: int, horizon: int) -> tuple:
    starts = range(len(series) - window - horizon + 1)
    x = torch.stack([series[s : s + window] for s in starts])
    y = torch.stack([series[s + window : s + window + horizon] for s in starts])
    return x, y


def test_direct_forecaster_equals_torch_lstm_and_a_linear_map():
    torch.manual_seed(0)
    config = ForecasterConfig(cell="lstm", hidden_size=8, num_layers=2, revin=False)
    model = Forecaster.from_config(config, input_size=3, targets=[2, 0], horizon=4).eval()
    reference = nn.LSTM(3, 8, num_layers=2, batch_first=True)
    reference.load_state_dict(model.encoder.state_dict())
    x = torch.randn(5, 10, 3)
    with torch.no_grad():
        h = reference(x)[0][:, -1]  # (B, H)
        expected = model.head.linear(h).view(5, 4, 2)
        torch.testing.assert_close(model(x), expected)


def test_autoregressive_decoder_feeds_its_own_output_back():
    torch.manual_seed(0)
    config = ForecasterConfig(cell="gru", hidden_size=6, decoder="autoregressive", revin=False)
    model = Forecaster.from_config(config, input_size=2, targets=[1], horizon=5).eval()
    assert isinstance(model.head, AutoregressiveDecoder)
    encoder = nn.GRU(2, 6, batch_first=True)
    encoder.load_state_dict(model.encoder.state_dict())
    step = nn.GRUCell(1, 6)
    cell = model.head.cell
    step.load_state_dict(
        {
            "weight_ih": cell.weight_ih,
            "weight_hh": cell.weight_hh,
            "bias_ih": cell.bias_ih,
            "bias_hh": cell.bias_hh,
        }
    )
    x = torch.randn(3, 7, 2)
    with torch.no_grad():
        h = encoder(x)[1][-1]
        y, expected = x[:, -1, [1]], []
        for _ in range(5):
            h = step(y, h)
            y = y + model.head.proj(h)
            expected.append(y)
        torch.testing.assert_close(model(x), torch.stack(expected, dim=1))


def test_revin_round_trip_and_scale_equivariance():
    torch.manual_seed(0)
    revin = RevIN(3)
    with torch.no_grad():
        revin.weight.copy_(torch.tensor([1.5, 0.7, 2.0]))
        revin.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    x = torch.randn(4, 12, 3) * 5 + 3
    z, stats = revin.normalize(x)
    plain = (z - revin.bias) / revin.weight
    torch.testing.assert_close(plain.mean(1), torch.zeros(4, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(revin.denormalize(z[..., [2, 0]], stats, [2, 0]), x[..., [2, 0]])
    # with RevIN, shifting and scaling each input series shifts and scales its forecast alike
    model = Forecaster.from_config(ForecasterConfig(hidden_size=8), 3, [0, 2], horizon=6).eval()
    scale, shift = torch.tensor([2.0, 0.5, 3.0]), torch.tensor([10.0, -4.0, 1.0])
    with torch.no_grad():
        base, moved = model(x), model(x * scale + shift)
    torch.testing.assert_close(moved, base * scale[[0, 2]] + shift[[0, 2]], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("decoder", ["direct", "autoregressive"])
def test_a_sine_mixture_is_forecast_with_low_error(decoder):
    torch.manual_seed(0)
    x, y = _windows(_sine_mixture(), window=24, horizon=12)
    train, test = slice(0, 500), slice(550, None)  # a gap: test windows are unseen
    config = ForecasterConfig(cell="lstm", hidden_size=32, decoder=decoder)
    model = Forecaster.from_config(config, 2, [0, 1], horizon=12)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        b = torch.randint(0, 500, (32,), generator=g)
        loss = nn.functional.mse_loss(model(x[train][b]), y[train][b])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        mse = float(nn.functional.mse_loss(model(x[test]), y[test]))
    variance = float(y[test].var())  # the error of always forecasting the mean
    naive = float(nn.functional.mse_loss(x[test][:, -1:].expand_as(y[test]), y[test]))
    assert mse < 0.03 * variance and mse < 0.03 * naive, (mse, variance, naive)


def test_covariates_reach_both_heads_and_are_checked():
    torch.manual_seed(0)
    for decoder in ("direct", "autoregressive"):
        config = ForecasterConfig(hidden_size=8, decoder=decoder)
        model = Forecaster.from_config(config, 2, [0], horizon=3, covariate_size=4).eval()
        x, past, future = torch.randn(2, 6, 2), torch.randn(2, 6, 4), torch.randn(2, 3, 4)
        with torch.no_grad():
            out = model(x, past, future)
            assert out.shape == (2, 3, 1)
            assert not torch.allclose(out, model(x, past, future + 1.0))  # the future matters
        with pytest.raises(ValueError, match="built with 4 covariates"):
            model(x)
    plain = Forecaster.from_config(ForecasterConfig(hidden_size=8), 2, [0], horizon=3)
    with pytest.raises(ValueError, match="without covariates"):
        plain(x, past, future)
    with pytest.raises(ValueError, match=r"\(B, window, series\)"):
        plain(torch.randn(6, 2))
    assert isinstance(plain.head, DirectHead)


def test_weights_reload_and_predict_identically(tmp_path):
    torch.manual_seed(0)
    config = ForecasterConfig(cell="gru", hidden_size=8, num_layers=2, dropout=0.2)
    model = Forecaster.from_config(config, 3, [1], horizon=5, covariate_size=2)
    save_weights(model, tmp_path / "m.safetensors")
    other = load_weights(
        Forecaster.from_config(config, 3, [1], horizon=5, covariate_size=2),
        tmp_path / "m.safetensors",
    )
    x, past, future = torch.randn(4, 9, 3), torch.randn(4, 9, 2), torch.randn(4, 5, 2)
    model.eval(), other.eval()
    with torch.no_grad():
        assert torch.equal(model(x, past, future), other(x, past, future))


def test_config_and_build_errors_name_the_problem():
    with pytest.raises(ValueError, match="cell must be one of .*lstm"):
        ForecasterConfig(cell="transformer")
    with pytest.raises(ValueError, match="'direct', 'autoregressive'"):
        ForecasterConfig(decoder="beam")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dropout must be in"):
        ForecasterConfig(dropout=1.0)
    with pytest.raises(ValueError, match="target index 3 is not one of the 3 input series"):
        Forecaster.from_config(ForecasterConfig(), 3, [3], horizon=2)
    with pytest.raises(ValueError, match="horizon must be at least 1"):
        Forecaster.from_config(ForecasterConfig(), 3, [0], horizon=0)


@pytest.mark.filterwarnings("ignore:`torch.jit.[a-z_]+` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("decoder", ["direct", "autoregressive"])
def test_a_traced_forecaster_keeps_batch_and_window_dynamic(decoder):
    torch.manual_seed(0)
    model = Forecaster(2, [1], horizon=3, hidden_size=4, decoder=decoder).eval()
    traced = torch.jit.trace(model, torch.randn(3, 7, 2), check_trace=False)
    for shape in ((5, 7, 2), (1, 12, 2)):  # another batch size, a longer window
        x = torch.randn(*shape)
        torch.testing.assert_close(traced(x), model(x))
