"""References the tests compare against: a plain per-sequence run of any Recurrent layer."""

from __future__ import annotations

import torch
from torch import Tensor

import rnnkit as rk


def reference_recurrent(
    layer: rk.Recurrent, x: Tensor, lengths: Tensor, state: tuple[Tensor, ...] | None = None
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run ``layer``'s cells one sequence and one step at a time, in plain Python.

    No padding, sorting, masking, packing or hoisting: each sequence alone, each direction on the
    flipped sequence, layer after layer (dropout must be 0). Returns batch-first outputs
    ``(B, T, H * D)`` (zeros at padding) and final states as a tuple of ``(L * D, B, H)``.
    """
    B, T = x.shape[:2]
    D, L = layer.num_directions, layer.num_layers
    outputs = x.new_zeros(B, T, layer.hidden_size * D)
    finals = []
    for b in range(B):
        n = int(lengths[b])
        inp = x[b, :n]
        seq_finals = []
        for layer_index in range(L):
            outs = []
            for d in range(D):
                cell = layer.cell(layer_index, reverse=d == 1)
                k = layer_index * D + d
                if state is None:
                    s = cell.init_state(1, x)
                else:
                    s = tuple(part[k, b : b + 1] for part in state)
                    s = s if len(s) > 1 else s[0]
                steps = inp if d == 0 else inp.flip(0)
                hs = []
                for t in range(n):
                    s = cell.step(cell.project(steps[t : t + 1]), s)
                    hs.append(s[0] if isinstance(s, tuple) else s)
                h = torch.cat(hs) if hs else inp.new_zeros(0, layer.hidden_size)
                outs.append(h if d == 0 else h.flip(0))
                seq_finals.append(s if isinstance(s, tuple) else (s,))
            inp = torch.cat(outs, dim=-1)
        outputs[b, :n] = inp
        finals.append(seq_finals)
    num_states = len(finals[0][0])
    final = tuple(
        torch.stack([torch.cat([finals[b][k][i] for b in range(B)]) for k in range(L * D)])
        for i in range(num_states)
    )
    return outputs, final


def random_lengths(B: int, T: int, generator: torch.Generator, min_len: int = 1) -> Tensor:
    """Random lengths in [min_len, T], in random order, with at least one full-length row."""
    lengths = torch.randint(min_len, T + 1, (B,), generator=generator)
    lengths[torch.randint(0, B, (1,), generator=generator)] = T
    return lengths
