"""rnnkit.bench: which configurations the throughput benchmark measures."""

import pytest
import torch

from rnnkit import bench
from rnnkit.bench import BenchConfig
from rnnkit.errors import ConfigError


def test_long_scans_are_measured_full_length_in_one_direction():
    config = bench.BenchConfig(cells=["mingru", "lstm"], hidden_sizes=[8], num_layers=[1])
    rows = list(bench.configurations(config))
    long = [r for r in rows if r[6] == config.scan_seq_len]
    assert long and all(r[0] == "mingru" and r[5] == "full" and not r[4] for r in long)
    short = [r for r in rows if r[6] == config.seq_len]
    assert {(r[4], r[5]) for r in short} == {
        (False, "full"),
        (False, "random"),
        (True, "full"),
        (True, "random"),
    }


def test_the_nn_api_measures_the_torch_nn_cells_as_torch_nn_is_called():
    config = bench.BenchConfig(cells=["lstm", "layernorm_lstm", "rnn_relu"], api="nn")
    assert {r[0] for r in bench.configurations(config)} == {"lstm", "rnn_relu"}
    rows = bench.measure(bench.dry_run(config))
    assert [(r.cell, r.api, r.reference) for r in rows] == [
        ("lstm", "nn", "LSTM"),
        ("lstm", "nn", "LSTM"),
        ("rnn_relu", "nn", "RNN"),
        ("rnn_relu", "nn", "RNN"),
    ]
    assert all(r.ratio > 0 for r in rows)
    assert "| rnnkit.nn.RNN (relu) | loop |" in bench.format_table(rows)


def test_bench_command_line_device_api_and_quick(capsys):
    from rnnkit.cli import main

    assert main(["bench", "--dry-run", "--api", "nn", "--cells", "gru", "--backends", "auto"]) == 0
    out = capsys.readouterr().out
    assert "device cpu" in out and "| rnnkit.nn.GRU | fused |" in out
    assert main(["bench", "--dry-run", "--quick", "--cells", "mingru", "--device", "cpu"]) == 0
    if not torch.cuda.is_available():
        assert main(["bench", "--dry-run", "--device", "cuda", "--cells", "gru"]) == 1
        assert "no CUDA device" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "flag"),
    [("batch_size", "--batch-size"), ("seq_len", "--seq-len"), ("repeats", "--repeats")],
)
def test_sizes_are_checked_with_the_flags_name(option, flag):
    with pytest.raises(ConfigError, match=f"{flag} must be at least 1, got 0"):
        BenchConfig(**{option: 0})
    with pytest.raises(ConfigError, match="--hidden must be at least 1, got -2"):
        BenchConfig(hidden_sizes=[8, -2])
