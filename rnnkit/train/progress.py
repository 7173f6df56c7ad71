"""Progress output: a tqdm bar on a terminal, plain log lines everywhere else (CI, files).

The bar shows the running loss, the running value of the first training metric, and tokens/s
(or examples/s: whatever the objective's ``count`` counts).
When the stream is not a terminal, the same numbers are printed as one line every ~10% of the
epoch, so logs stay readable and small.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is an interactive terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def format_logs(logs: dict[str, Any], skip: tuple[str, ...] = ("epoch", "step")) -> str:
    """``key value`` pairs, numbers shortened, for log lines."""
    parts = []
    for key, value in logs.items():
        if key in skip:
            continue
        if key == "lr" and isinstance(value, float):
            parts.append(f"lr {value:.2e}")
        elif key == "time_s" and isinstance(value, float):
            parts.append(f"{value:.1f}s")
        elif key == "tokens_per_s" and isinstance(value, float):
            parts.append(f"{value:,.0f} tok/s")
        elif key.endswith("_per_s") and isinstance(value, float):
            parts.append(f"{value:,.0f} {key[: -len('_per_s')]}/s")
        elif isinstance(value, float):
            parts.append(f"{key} {value:.4f}")
        else:
            parts.append(f"{key} {value}")
    return "  ".join(parts)


class Progress:
    """Progress of one epoch.

    Args:
        total: steps in the epoch (None when the data has no length).
        desc: label, e.g. ``"epoch 3/10"``.
        enabled: False silences everything (non-main DDP ranks, ``progress=False``).
        stream: where to write (default: ``sys.stderr`` at the time of the call).
        initial: steps already done (resuming mid-epoch).
        unit: what the throughput counts ("tokens", "examples", ...).
    """

    def __init__(
        self,
        total: int | None,
        desc: str,
        enabled: bool = True,
        stream: TextIO | None = None,
        initial: int = 0,
        unit: str = "tokens",
    ) -> None:
        self.total, self.desc, self.enabled = total, desc, enabled
        self.unit = "tok" if unit == "tokens" else unit
        self.stream = stream if stream is not None else sys.stderr
        self.bar: Any = None
        self.every = max(1, (total or 100) // 10)
        if enabled and is_terminal(self.stream):
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                desc=desc,
                file=self.stream,
                initial=initial,
                dynamic_ncols=True,
                leave=False,
            )

    def update(
        self, step: int, loss: float, units_per_s: float, metric: tuple[str, float] | None = None
    ) -> None:
        """Report that ``step`` steps of the epoch are done.

        Args:
            step: steps done in this epoch.
            loss: running mean training loss.
            units_per_s: throughput (tokens or examples per second: what the objective counts).
            metric: ``(name, running value)`` of a training metric to show, or None.
        """
        if not self.enabled:
            return
        shown = f"loss {loss:.4f}" + (f"  {metric[0]} {metric[1]:.4f}" if metric else "")
        shown += f"  {units_per_s:,.0f} {self.unit}/s"
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix_str(shown, refresh=False)
        elif step % self.every == 0 or step == self.total:
            of = f"/{self.total}" if self.total else ""
            self.write(f"{self.desc} step {step}{of}  {shown}")

    def write(self, line: str) -> None:
        """Print a line without breaking the bar."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        """Remove the bar (a no-op for plain lines)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
