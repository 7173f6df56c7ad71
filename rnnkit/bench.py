"""Throughput of every cell and backend against torch.nn's own layer, measured in the same run.

Protocol (docs/benchmarks.md): for each configuration the candidate and its torch.nn reference
run alternately on the same batch; after warm-up the median of ``repeats`` timings is kept.
Training is forward + backward of ``out.sum()`` (plus the final states); inference is a
forward pass under ``torch.no_grad()`` in eval mode. Tokens/s count real (non-padded) tokens,
and with random lengths the reference gets packed input, as a careful torch.nn user would.

Two APIs can be measured: ``"recurrent"`` (:class:`rnnkit.Recurrent` given ``lengths``) and
``"nn"`` (the drop-in :mod:`rnnkit.nn` layers called exactly as torch.nn's: padded input at
full length, a PackedSequence with random lengths - for both sides). On CUDA every timed call
ends with a synchronisation, so the times are the GPU's.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

import rnnkit.nn
from rnnkit.cells import available_cells
from rnnkit.errors import ConfigError
from rnnkit.layers import Recurrent

Mode = Literal["train", "infer"]
LengthKind = Literal["full", "random"]
Api = Literal["recurrent", "nn"]

NN_LAYERS: dict[str, tuple[type[nn.Module], type[nn.RNNBase], dict[str, str]]] = {
    "rnn_tanh": (rnnkit.nn.RNN, nn.RNN, {}),
    "rnn_relu": (rnnkit.nn.RNN, nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (rnnkit.nn.LSTM, nn.LSTM, {}),
    "gru": (rnnkit.nn.GRU, nn.GRU, {}),
}
"""The cells the ``"nn"`` API measures: rnnkit.nn's layer, torch.nn's, and their options."""

REFERENCES: dict[str, type[nn.RNNBase]] = {
    "rnn_tanh": nn.RNN,
    "rnn_relu": nn.RNN,
    "batchnorm_rnn": nn.RNN,
    "lstm": nn.LSTM,
    "layernorm_lstm": nn.LSTM,
    "gru": nn.GRU,
    "layernorm_gru": nn.GRU,
    "mingru": nn.GRU,
    "minlstm": nn.GRU,
}
"""The torch.nn layer each cell is compared with (its closest relative)."""


@dataclass
class BenchConfig:
    """What to measure. Defaults are the protocol's grid."""

    cells: list[str] = field(default_factory=available_cells)
    """Cells to measure (registry names)."""
    backends: list[str] = field(default_factory=lambda: ["auto", "loop"])
    """Backends to measure per cell; ones a cell cannot run are skipped."""
    batch_size: int = 64
    """Sequences per batch (B)."""
    seq_len: int = 100
    """Padded length (T)."""
    scan_seq_len: int = 1000
    """Extra length for the scan backend, full-length batches in one direction (long sequences
    are its point; torch.nn's packed CPU path would take minutes per ragged row there)."""
    input_size: int = 128
    """Features per input step (I)."""
    hidden_sizes: list[int] = field(default_factory=lambda: [128, 256, 512])
    """Hidden sizes (H)."""
    num_layers: list[int] = field(default_factory=lambda: [1, 2])
    """Layer counts."""
    bidirectional: list[bool] = field(default_factory=lambda: [False, True])
    """Directions: uni and/or bi."""
    lengths: list[LengthKind] = field(default_factory=lambda: ["full", "random"])
    """Full-length batches, and/or random lengths uniform in [T/4, T]."""
    modes: list[Mode] = field(default_factory=lambda: ["train", "infer"])
    """Training (forward + backward) and/or inference."""
    repeats: int = 5
    """Timed repeats per configuration (the median is reported)."""
    warmup: int = 2
    """Untimed runs before timing."""
    seed: int = 0
    """Seed for inputs and lengths."""
    device: str = "cpu"
    """Where to run: ``"cpu"``, ``"cuda"`` (cuDNN for torch.nn and the fused backend), ..."""
    api: Api = "recurrent"
    """``"recurrent"`` (rnnkit.Recurrent with lengths) or ``"nn"`` (rnnkit.nn as torch.nn)."""

    def __post_init__(self) -> None:
        sizes = {
            "--batch-size": [self.batch_size],
            "--seq-len": [self.seq_len],
            "--scan-seq-len": [self.scan_seq_len],
            "--input-size": [self.input_size],
            "--hidden": self.hidden_sizes,
            "--layers": self.num_layers,
            "--repeats": [self.repeats],
        }
        for flag, values in sizes.items():
            bad = [v for v in values if v < 1]
            if bad:
                raise ConfigError(f"{flag} must be at least 1, got {bad[0]}")
        if self.warmup < 0:
            raise ConfigError(f"warmup must be at least 0, got {self.warmup}")


@dataclass
class Row:
    """One measured configuration."""

    cell: str
    backend: str
    hidden_size: int
    num_layers: int
    bidirectional: bool
    lengths: str
    seq_len: int
    mode: str
    tokens_per_s: float
    reference: str
    reference_tokens_per_s: float

    tokens: int = 0
    """Real tokens per batch."""
    api: str = "recurrent"
    """Which rnnkit API was measured."""

    @property
    def ratio(self) -> float:
        return self.tokens_per_s / self.reference_tokens_per_s

    @property
    def batch_seconds(self) -> float:
        """Seconds per batch for rnnkit."""
        return self.tokens / self.tokens_per_s


def _median_time(
    fn: Callable[[], None],
    ref: Callable[[], None],
    repeats: int,
    warmup: int,
    sync: Callable[[], None] = lambda: None,
):
    for _ in range(warmup):
        fn()
        ref()
    sync()
    mine, theirs = [], []
    for _ in range(repeats):  # alternate, so drift in machine speed hits both alike
        for f, out in ((fn, mine), (ref, theirs)):
            start = time.perf_counter()
            f()
            sync()
            out.append(time.perf_counter() - start)
    return statistics.median(mine), statistics.median(theirs)


def _workload(module: nn.Module, call: Callable[[], tuple], mode: Mode) -> Callable[[], None]:
    def train() -> None:
        module.zero_grad(set_to_none=True)
        out, state = call()
        loss = out.sum() + sum(s.sum() for s in (state if isinstance(state, tuple) else (state,)))
        loss.backward()

    def infer() -> None:
        with torch.no_grad():
            call()

    module.train(mode == "train")
    return train if mode == "train" else infer


def _torch_nn_call(ref: nn.Module, x: Tensor, lengths: Tensor | None) -> Callable[[], tuple]:
    """How a torch.nn user calls a layer: padded input, or packed when lengths vary."""
    if lengths is None:
        return lambda: ref(x)

    def packed() -> tuple:
        out, state = ref(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        return out.data, state

    return packed


def configurations(
    config: BenchConfig,
) -> Iterator[tuple[str, str, int, int, bool, str, int, Mode]]:
    for cell in config.cells:
        if config.api == "nn" and cell not in NN_LAYERS:
            continue  # the drop-in API is measured on the cells torch.nn has
        for backend in config.backends:
            try:
                resolved = Recurrent(cell, 2, 2, backend=backend).backend  # type: ignore[arg-type]
            except ValueError:
                continue
            if backend == "loop" and resolved == "loop" and "auto" in config.backends:
                auto = Recurrent(cell, 2, 2).backend
                if auto == "loop":
                    continue  # "auto" already is the loop for this cell
            lens = [config.seq_len] + ([config.scan_seq_len] if resolved == "scan" else [])
            for T in lens:
                for H in config.hidden_sizes:
                    for L in config.num_layers:
                        for bi in config.bidirectional:
                            for kind in config.lengths:
                                if config.seq_len != T and (kind != "full" or bi):
                                    continue  # long scans: full-length, one direction only
                                for mode in config.modes:
                                    yield cell, backend, H, L, bi, kind, T, mode


def _nn_pair(
    cell: str, backend: str, I: int, H: int, L: int, bi: bool, x: Tensor, lengths: Tensor | None
) -> tuple[nn.Module, Callable[[], tuple], nn.RNNBase, Callable[[], tuple]]:
    """rnnkit.nn's layer and torch.nn's, same weights, called the same torch.nn way."""
    ours, theirs, options = NN_LAYERS[cell]
    layer = ours(I, H, L, bidirectional=bi, batch_first=True, backend=backend, **options)
    ref = theirs(I, H, L, bidirectional=bi, batch_first=True, **options)
    ref.load_state_dict(layer.state_dict())
    layer, ref = layer.to(x.device), ref.to(x.device)
    return layer, _torch_nn_call(layer, x, lengths), ref, _torch_nn_call(ref, x, lengths)


def measure(config: BenchConfig, progress: Callable[[Row], None] | None = None) -> list[Row]:
    """Run every configuration of ``config``; call ``progress`` after each row."""
    device = torch.device(config.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available to this PyTorch")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rows = []
    for cell, backend, H, L, bi, kind, T, mode in configurations(config):
        g = torch.Generator().manual_seed(config.seed)
        B, I = config.batch_size, config.input_size
        x = torch.randn(B, T, I, generator=g)
        lengths = None
        if kind == "random":
            lengths = torch.randint(max(1, T // 4), T + 1, (B,), generator=g)
        tokens = B * T if lengths is None else int(lengths.sum())
        x = x.to(device)
        torch.manual_seed(config.seed)
        if config.api == "nn":
            layer, call, ref, ref_call = _nn_pair(cell, backend, I, H, L, bi, x, lengths)
            ref_cls = type(ref)
        else:
            layer = Recurrent(cell, I, H, L, bi, backend=backend).to(device)  # type: ignore[arg-type]
            ref_cls = REFERENCES.get(cell, nn.LSTM if layer.num_states == 2 else nn.GRU)
            ref = ref_cls(I, H, L, bidirectional=bi, batch_first=True).to(device)
            call = lambda layer=layer, x=x, lengths=lengths: layer(x, lengths)  # noqa: E731
            ref_call = _torch_nn_call(ref, x, lengths)
        mine = _workload(layer, call, mode)
        theirs = _workload(ref, ref_call, mode)
        t_mine, t_ref = _median_time(mine, theirs, config.repeats, config.warmup, sync)
        row = Row(
            cell,
            layer.backend,
            H,
            L,
            bi,
            kind,
            T,
            mode,
            tokens / t_mine,
            ref_cls.__name__,
            tokens / t_ref,
            tokens,
            config.api,
        )
        rows.append(row)
        if progress:
            progress(row)
    return rows


def dry_run(config: BenchConfig) -> BenchConfig:
    """The smallest version of ``config``: tiny sizes, one configuration per cell and backend."""
    return dataclasses.replace(
        config,
        batch_size=4,
        seq_len=8,
        scan_seq_len=16,
        input_size=8,
        hidden_sizes=[8],
        num_layers=[1],
        bidirectional=[False],
        lengths=["random"],
        modes=["train"],
        repeats=1,
        warmup=0,
    )


def format_table(rows: list[Row]) -> str:
    """A Markdown table: one row per configuration, ratio = rnnkit / torch.nn tokens/s."""
    head = (
        "| cell | backend | H | layers | dir | lengths | T | mode | rnnkit tok/s | reference | "
        "torch.nn tok/s | ratio |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {_label(r)} | {r.backend} | {r.hidden_size} | {r.num_layers} | "
            f"{'bi' if r.bidirectional else 'uni'} | {r.lengths} | {r.seq_len} | {r.mode} | "
            f"{r.tokens_per_s:,.0f} | {r.reference} | {r.reference_tokens_per_s:,.0f} | "
            f"{r.ratio:.2f}x |"
        )
    return "\n".join(lines)


def _label(r: Row) -> str:
    if r.api == "nn":
        return f"rnnkit.nn.{NN_LAYERS[r.cell][0].__name__}" + (
            " (relu)" if r.cell == "rnn_relu" else ""
        )
    return r.cell


def header(device: str = "cpu") -> str:
    """Where the figures come from: versions, threads, device."""
    where = f"device {device}"
    if device.startswith("cuda") and torch.cuda.is_available():
        where += f" ({torch.cuda.get_device_name(torch.device(device))}, cuDNN "
        where += f"{torch.backends.cudnn.version()})"
    return f"torch {torch.__version__}, {torch.get_num_threads()} threads, {where}, float32"
