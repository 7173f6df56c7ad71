"""rnnkit.cells.layernorm against the equations of Ba et al. (2016), written out by hand."""

import torch
from torch.nn import functional as F

import rnnkit as rk


def _ln(v, weight=None, bias=None, eps=1e-5):
    mu = v.mean(-1, keepdim=True)
    var = v.var(-1, unbiased=False, keepdim=True)
    out = (v - mu) / torch.sqrt(var + eps)
    return out * (1 if weight is None else weight) + (0 if bias is None else bias)


def _randomise(cell):
    with torch.no_grad():
        for p in cell.parameters():
            p.normal_()


def test_layernorm_lstm_step():
    cell = rk.create_cell("layernorm_lstm", 3, 4).double()
    _randomise(cell)
    x, h, c = (torch.randn(5, n, dtype=torch.float64) for n in (3, 4, 4))
    gates = _ln(x @ cell.weight_ih.T, cell.norm_ih.weight, cell.norm_ih.bias) + _ln(
        h @ cell.weight_hh.T, cell.norm_hh.weight
    )
    i, f, g, o = gates.chunk(4, -1)
    c_ref = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_ref = torch.sigmoid(o) * torch.tanh(_ln(c_ref, cell.norm_c.weight, cell.norm_c.bias))
    h_new, c_new = cell.step(cell.project(x), (h, c))
    torch.testing.assert_close(c_new, c_ref)
    torch.testing.assert_close(h_new, h_ref)


def test_layernorm_gru_step():
    cell = rk.create_cell("layernorm_gru", 3, 4).double()
    _randomise(cell)
    x, h = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    xr, xz, xn = _ln(F.linear(x, cell.weight_ih), cell.norm_ih.weight, cell.norm_ih.bias).chunk(
        3, -1
    )
    hr, hz, hn = _ln(F.linear(h, cell.weight_hh), cell.norm_hh.weight).chunk(3, -1)
    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    torch.testing.assert_close(cell.step(cell.project(x), h), (1 - z) * n + z * h)
