"""rnnkit.data.calendar: calendar covariates by hand, and the times of forecast steps."""

from datetime import datetime

import numpy as np
import pytest

from rnnkit.data.calendar import CALENDAR, calendar_features, future_times


def test_features_by_hand():
    # 2016-07-01 was a Friday (weekday 4), day 183 of a leap year
    features = calendar_features(("2016-07-01 12:30:00",), "f.csv")
    expected = np.array([[30 / 59, 12 / 23, 4 / 6, 0 / 30, 182 / 365]]) - 0.5
    np.testing.assert_allclose(features, expected)
    assert features.shape == (1, len(CALENDAR))
    assert (np.abs(calendar_features(("2016-12-31 23:59",), "f.csv")) <= 0.5).all()


def test_bad_time_names_the_row():
    with pytest.raises(ValueError, match=r"f.csv, data row 2: time 'yesterday' is not an ISO"):
        calendar_features(("2016-07-01", "yesterday"), "f.csv")


def test_future_times_follow_the_last_spacing():
    times = future_times(("2021-01-01 00:00", "2021-01-01 01:00"), 3, "f.csv")
    assert times == [datetime(2021, 1, 1, h) for h in (2, 3, 4)]
    with pytest.raises(ValueError, match="do not increase"):
        future_times(("2021-01-01 01:00", "2021-01-01 01:00"), 2, "f.csv")


def test_future_times_of_numbers_and_utc_times():
    assert future_times(("7", "9"), 3, "f.csv") == [11.0, 13.0, 15.0]
    assert future_times(("0.5", "0.75"), 1, "f.csv") == [1.0]
    times = future_times(("2021-01-01T00:00Z", "2021-01-01T00:30Z"), 2, "f.csv")
    assert [t.isoformat() for t in times] == [
        "2021-01-01T01:00:00+00:00",
        "2021-01-01T01:30:00+00:00",
    ]
    with pytest.raises(ValueError, match="the last two times .9, 9. do not increase"):
        future_times(("9", "9"), 2, "f.csv")
    with pytest.raises(ValueError, match="do not increase"):
        future_times(("9",), 2, "f.csv")  # one row: no spacing to follow
