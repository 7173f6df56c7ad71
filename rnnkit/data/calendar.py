"""Calendar covariates of a time series, and the times of the steps to forecast.

The five features are those of the Informer code (Zhou et al. 2021): minute, hour, weekday, day
of month and day of year of each step, each scaled to [-0.5, 0.5].
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np

CALENDAR = ("minute", "hour", "weekday", "day_of_month", "day_of_year")
"""Names of the calendar covariates, in the order the models read them."""


def calendar_features(timestamps: tuple[str, ...], source: str) -> np.ndarray:
    """``(N, 5)`` calendar covariates (see :data:`CALENDAR`), each in [-0.5, 0.5]."""
    return calendar_of(parse_times(timestamps, source))


def calendar_of(times: list[datetime]) -> np.ndarray:
    """``(N, 5)`` calendar covariates of parsed times, each in [-0.5, 0.5]."""
    return np.asarray([_calendar(t) for t in times]).reshape(len(times), len(CALENDAR)) - 0.5


def _calendar(t: datetime) -> tuple[float, ...]:
    return (
        t.minute / 59,
        t.hour / 23,
        t.weekday() / 6,
        (t.day - 1) / 30,
        (t.timetuple().tm_yday - 1) / 365,
    )


def parse_times(timestamps: tuple[str, ...], source: str, first: int = 1) -> list[datetime]:
    """Parse ISO date/times; the error names the source and the data row (``first`` = row 1)."""
    out = []
    for row, text in enumerate(timestamps, start=first):
        try:
            out.append(datetime.fromisoformat(text.strip()))
        except ValueError:
            raise ValueError(
                f"{source}, data row {row}: time {text!r} is not an ISO date/time "
                "(YYYY-MM-DD[ HH:MM[:SS]]), which calendar covariates and dated forecasts need"
            ) from None
    return out


def future_times(
    timestamps: tuple[str, ...], horizon: int, source: str
) -> list[datetime] | list[float]:
    """The times of the ``horizon`` steps after the last one, at the last step's spacing.

    Times are ISO dates and times (``Z`` read as UTC), or numbers (a step or row counter).
    """
    last = timestamps[-2:]
    numbers = _numbers(last)
    if numbers is not None:
        step = numbers[-1] - numbers[0] if len(numbers) == 2 else 0.0
        if step > 0:
            return [numbers[-1] + step * (k + 1) for k in range(horizon)]
    else:
        zoned = tuple(t.strip()[:-1] + "+00:00" if t.strip().endswith("Z") else t for t in last)
        times = parse_times(zoned, source, first=max(len(timestamps) - 1, 1))
        spacing = times[-1] - times[0] if len(times) == 2 else timedelta(0)
        if spacing > timedelta(0):
            return [times[-1] + spacing * (k + 1) for k in range(horizon)]
    raise ValueError(
        f"{source}: the last two times ({', '.join(last)}) do not increase, so the times of the "
        "forecast steps are unknown"
    )


def _numbers(texts: tuple[str, ...]) -> list[float] | None:
    try:
        values = [float(t) for t in texts]
    except ValueError:
        return None
    return values if all(math.isfinite(v) for v in values) else None
