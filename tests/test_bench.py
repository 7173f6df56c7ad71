"""rnnkit.bench: which configurations the throughput benchmark measures."""

from rnnkit import bench


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
