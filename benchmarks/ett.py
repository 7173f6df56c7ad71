"""ETTh1 forecasting: naive, linear and DLinear baselines beside rnnkit's LSTM and GRU forecasters,
with the published Informer figures (LSTMa, Informer) beside them.

Protocol (Informer, Zhou et al. 2021; docs/BENCHMARKS.md of the shared docs): rows 0-8,639
train, 8,640-11,519 valid, 11,520-14,399 test (valid and test windows reach ``window`` rows
back), every column standardised with the training rows' statistics, test windows at stride 1,
MSE and MAE on the standardised test targets. Multivariate (``M``): all 7 columns in, all 7 out.
Univariate (``S``): OT in, OT out. Every row uses the same windows (``rnnkit.tasks.forecast``).

Rows:

* ``naive``: the last value of the window, repeated over the horizon.
* ``linear``: one linear layer from the window to the horizon, shared by the channels and
  applied to each channel separately (DLinear's "Linear", Zeng et al. 2023, individual=False).
* ``dlinear``: the same with the series decomposition (moving average of 25 steps: one linear
  layer for the trend, one for the rest), as DLinear.
* ``lstm``, ``gru``: ``rnnkit train forecast`` itself (the Forecaster: Recurrent encoder,
  reversible instance normalisation, direct linear head), the best validation epoch kept.

Linear rows train with Adam (lr 0.005 as in the DLinear scripts for ETTh1), the recurrent rows
with the forecast task's defaults (Adam 1e-3, gradient norm clip 1); all use batch 32, at most
``--epochs`` epochs with early stopping on the validation MSE (patience 3). Run from the
repository root, e.g.::

    RNNKIT_DATA=../shared/data python benchmarks/ett.py --threads 1

Times are wall-clock seconds per row (training, validation and testing), on whatever machine
runs it. ``--dry-run`` trains on two batches per epoch for one epoch, to check the script only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

import rnnkit as rk
from rnnkit.tasks import forecast, get_task
from rnnkit.tasks.forecast.predictor import objective as forecast_objective
from rnnkit.train import MAE, MSE, ResumableLoader, Trainer, TrainerConfig, evaluate

HORIZONS = (24, 48, 168, 336, 720)
ROWS = ("naive", "linear", "dlinear", "lstm", "gru")
PUBLISHED = {  # Informer (Zhou et al., AAAI 2021), table 1 / 2, ETTh1; MSE, MAE where given
    "M": {
        "LSTMa": {24: (0.650, 0.624), 48: (0.702, 0.675), 168: (1.212, 0.867),
                  336: (1.424, 0.994), 720: (1.960, 1.322)},
        "Informer": {24: (0.577, None), 48: (0.685, None), 168: (0.931, None),
                     336: (1.128, None), 720: (1.215, None)},
    },
    "S": {
        "LSTMa": {24: (0.114, None), 48: (0.193, None), 168: (0.236, None),
                  336: (0.580, None), 720: (0.683, None)},
    },
}  # fmt: skip


class Naive(nn.Module):
    """The last observed value of each target, repeated ``horizon`` times."""

    def __init__(self, horizon: int, targets: list[int]) -> None:
        super().__init__()
        self.horizon, self.targets = horizon, targets
        self.unused = nn.Parameter(torch.zeros(()))  # so that the model has a device

    def forward(self, x: Tensor, past: Tensor | None = None, future: Tensor | None = None):
        return x[:, -1:, self.targets].expand(-1, self.horizon, -1)


class LinearForecaster(nn.Module):
    """DLinear (Zeng et al., AAAI 2023): per-channel linear maps from window to horizon.

    Args:
        window, horizon: input and output lengths.
        targets: the channels to return.
        kernel: moving-average length of the trend (0: no decomposition, plain "Linear").
    """

    def __init__(self, window: int, horizon: int, targets: list[int], kernel: int = 0) -> None:
        super().__init__()
        self.targets, self.kernel = targets, kernel
        self.seasonal = nn.Linear(window, horizon)
        self.trend = nn.Linear(window, horizon) if kernel else None

    def forward(self, x: Tensor, past: Tensor | None = None, future: Tensor | None = None):
        x = x.transpose(1, 2)  # (B, C, W): each channel on its own
        if self.trend is None:
            y = self.seasonal(x)
        else:  # moving average with the ends repeated, as DLinear's series_decomp
            front = x[..., :1].expand(-1, -1, (self.kernel - 1) // 2)
            back = x[..., -1:].expand(-1, -1, self.kernel // 2)
            padded = torch.cat([front, x, back], dim=-1)
            trend = F.avg_pool1d(padded, self.kernel, stride=1)  # (B, C, W)
            y = self.seasonal(x - trend) + self.trend(trend)
        return y.transpose(1, 2)[..., self.targets]  # (B, horizon, T)


def data_config(args: argparse.Namespace, mode: str, horizon: int) -> dict:
    columns = ["all"] if mode == "M" else ["OT"]
    return {
        "dataset": "ETTh1",
        "data_dir": args.data_dir,
        "targets": columns,
        "features": columns,
        "window": args.window,
        "horizon": horizon,
        "batch_size": args.batch_size,
        "split": "ett",
    }


def trainer_config(args: argparse.Namespace, lr: float) -> dict:
    steps = 2 if args.dry_run else None
    epochs = 1 if args.dry_run else args.epochs
    return {"epochs": epochs, "lr": lr, "patience": 3, "seed": args.seed,
            "max_steps_per_epoch": steps, "device": "cpu"}  # fmt: skip


def run_recurrent(args, mode: str, horizon: int, cell: str, out: Path) -> dict[str, float]:
    """The forecast task itself: train into a run directory, then evaluate its test split."""
    config = forecast.ForecastConfig.from_dict(
        {
            "data": data_config(args, mode, horizon),
            "model": {
                "cell": cell,
                "hidden_size": args.hidden,
                "num_layers": args.layers,
                "decoder": args.decoder,
            },
            "trainer": trainer_config(args, args.lr),
        }
    )
    run = out / f"{cell}-{mode}-{horizon}"
    trainer = get_task("forecast").train(config, run)
    results = rk.load(run).evaluate("test")
    return {"mse": results["mse"], "mae": results["mae"], "epochs": len(trainer.history)}


def run_baseline(args, mode: str, horizon: int, row: str) -> dict[str, float]:
    """A naive or linear model on the same windows, trained with rnnkit's Trainer."""
    config = forecast.ForecastDataConfig.from_dict(data_config(args, mode, horizon))
    data, _ = forecast.prepare(config)
    targets = data.series.target_indices
    test = ResumableLoader(data.windows(config, "test"), 256, even_shards=False)
    epochs = 0
    if row == "naive":
        model: nn.Module = Naive(horizon, targets)
    else:
        torch.manual_seed(args.seed)
        model = LinearForecaster(args.window, horizon, targets, 25 if row == "dlinear" else 0)
        train = data.windows(config, "train")
        loader = ResumableLoader(train, args.batch_size, shuffle=True, seed=args.seed)
        valid = ResumableLoader(data.windows(config, "valid"), 256, even_shards=False)
        options = TrainerConfig.from_dict(trainer_config(args, args.linear_lr))
        trainer = Trainer.from_config(
            options, model, forecast_objective, len(loader), [MSE(), MAE()], progress=False
        )
        epochs = len(trainer.fit(loader, valid))
    results = evaluate(model, forecast_objective, test, [MSE(), MAE()])
    return {"mse": results["mse"], "mae": results["mae"], "epochs": epochs}


def fmt(value: tuple[float, float | None] | None) -> str:
    if value is None:
        return "—"
    mse, mae = value
    return f"{mse:.3f} / {mae:.3f}" if mae is not None else f"{mse:.3f} / —"


def table(mode: str, rows: list[str], horizons, results: dict) -> str:
    published = list(PUBLISHED.get(mode, {}))
    head = ["horizon", *rows, *(f"{name} (published)" for name in published)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for h in horizons:
        cells = [str(h)]
        for row in rows:
            r = results.get((mode, h, row))
            cells.append(fmt((r["mse"], r["mae"])) if r else "—")
        cells += [fmt(PUBLISHED[mode][name][h]) for name in published]
        best = min(
            range(len(rows)), key=lambda i: results.get((mode, h, rows[i]), {}).get("mse", 9)
        )
        cells[1 + best] = f"**{cells[1 + best]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", help="folder with ETTh1.csv (default: the loader's: $RNNKIT_DATA)")
    p.add_argument("--modes", nargs="+", default=["M", "S"], choices=["M", "S"],
                   help="M: 7 columns -> 7; S: OT -> OT (default: both)")  # fmt: skip
    p.add_argument("--horizons", nargs="+", type=int, default=list(HORIZONS), help="horizons")
    p.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS, help="models to run")
    p.add_argument("--window", type=int, default=96, help="input length (default: 96)")
    p.add_argument("--hidden", type=int, default=64, help="recurrent hidden size (default: 64)")
    p.add_argument("--layers", type=int, default=1, help="recurrent layers (default: 1)")
    p.add_argument("--decoder", default="direct", choices=["direct", "autoregressive"],
                   help="LSTM/GRU head (default: direct)")  # fmt: skip
    p.add_argument("--epochs", type=int, default=10, help="most epochs per model (default: 10)")
    p.add_argument("--batch-size", type=int, default=32, help="training batch (default: 32)")
    p.add_argument("--lr", type=float, default=1e-3, help="LSTM/GRU learning rate (1e-3)")
    p.add_argument("--linear-lr", type=float, default=5e-3, help="linear rows' lr (5e-3)")
    p.add_argument("--seed", type=int, default=0, help="seed of every model (default: 0)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--out", help="keep the LSTM/GRU run directories here (default: temporary)")
    p.add_argument("--dry-run", action="store_true", help="one epoch of two batches per model")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    print(
        f"# ETTh1: torch {torch.__version__}, {threads} threads, window {args.window}, "
        f"hidden {args.hidden} x {args.layers}, {args.decoder} head",
        flush=True,
    )
    results: dict = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        for mode in args.modes:
            for h in args.horizons:
                for row in args.rows:
                    t = time.perf_counter()
                    if row in ("lstm", "gru"):
                        r = run_recurrent(args, mode, h, row, out)
                    else:
                        r = run_baseline(args, mode, h, row)
                    r["time_s"] = time.perf_counter() - t
                    results[(mode, h, row)] = r
                    print(f"{mode} {h:>4} {row:<8} mse {r['mse']:.4f} mae {r['mae']:.4f} "
                          f"epochs {r['epochs']:>2} {r['time_s']:7.1f}s", flush=True)  # fmt: skip
    total = time.perf_counter() - start
    for mode in args.modes:
        title = "multivariate (7 -> 7)" if mode == "M" else "univariate (OT -> OT)"
        print(f"\n## ETTh1 {title}, MSE / MAE on the standardised test windows\n")
        print(table(mode, args.rows, args.horizons, results))
    print(f"\ntotal wall-clock time: {total:.0f} s", file=sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
