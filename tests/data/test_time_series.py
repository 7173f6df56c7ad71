"""rnnkit.data.time_series: CSV series, missing values, chronological and ETT splits."""

import numpy as np
import pytest

from rnnkit.data.files import DataError
from rnnkit.data.time_series import (
    TimeSeries,
    chronological_split,
    ett,
    ett_split,
    rows_per_hour,
    time_series_csv,
)

CSV = (
    "date,a,b,OT\n"
    "2020-01-01 00:00:00,1,10,5\n2020-01-01 01:00:00,2,20,6\n2020-01-01 02:00:00,3,30,7\n"
)


def test_reads_columns_timestamps_and_targets(make_file):
    series = time_series_csv(make_file("s.csv", CSV), "date", "OT")
    assert series.columns == ("a", "b", "OT") and series.targets == ("OT",)
    assert series.values.dtype == np.float64
    np.testing.assert_array_equal(series.values, [[1, 10, 5], [2, 20, 6], [3, 30, 7]])
    assert series.timestamps[0] == "2020-01-01 00:00:00" and len(series) == 3
    assert series.feature_indices == [0, 1, 2] and series.target_indices == [2]
    uni = time_series_csv(make_file("s.csv", CSV), "date", ["OT"], features=["b"])
    assert uni.columns == ("b", "OT") and uni.feature_indices == [0] and uni.target_indices == [1]
    assert time_series_csv(make_file("n.csv", "x,y\n1,2\n"), None, "y").timestamps == ()


@pytest.mark.parametrize(
    "content, message",
    [
        ("date,a\n2020,1\n", r"s\.csv: no column 'OT'; columns found: date, a"),
        ("time,OT\n2020,1\n", r"s\.csv: no time column 'date'"),
        ("date,OT\n2020,1\n2021,oops\n", r"s\.csv, line 3, column 'OT': 'oops' is not a number"),
        ("date,OT\n2020,1\n2021\n", r"s\.csv, line 3: expected 2 fields like the header, found 1"),
        (
            "date,OT\n2020,1\n2021,nan\n",
            r"s\.csv, line 3, column 'OT': missing or non-finite value.*fill=",
        ),
        ("date,OT\n2020,inf\n", r"line 2, column 'OT': missing or non-finite"),
        ("date,OT\n2020,\n2021,2\n", r"line 2, column 'OT': missing"),
        ("date,OT\n", r"no data rows"),
    ],
)
def test_errors_name_line_and_column(make_file, content, message):
    with pytest.raises(DataError, match=message):
        time_series_csv(make_file("s.csv", content), "date", "OT")


def test_fill_strategies(make_file):
    path = make_file("gaps.csv", "t,v\n0,\n1,1\n2,NaN\n3,\n4,7\n5,inf\n")
    values = {
        f: time_series_csv(path, "t", "v", fill=f).values[:, 0].tolist()
        for f in ("ffill", "interpolate", "zero")
    }
    assert values["ffill"] == [1, 1, 1, 1, 7, 7]
    assert values["interpolate"] == [1, 1, 3, 5, 7, 7]
    assert values["zero"] == [0, 1, 0, 0, 7, 0]
    with pytest.raises(ValueError, match="fill must be None"):
        time_series_csv(path, "t", "v", fill="mean")
    empty = make_file("empty.csv", "t,v,w\n0,,1\n1,,2\n")
    with pytest.raises(DataError, match=r"empty\.csv: column 'v' has no finite value to fill from"):
        time_series_csv(empty, "t", "v", fill="zero")


def test_chronological_split():
    values = np.arange(20).reshape(10, 2)
    parts = chronological_split(values, [6, 2, 2], window=3)
    assert [p[:, 0].tolist() for p in parts.values()] == [
        [0, 2, 4, 6, 8, 10], [6, 8, 10, 12, 14], [10, 12, 14, 16, 18],
    ]  # fmt: skip
    fractions = chronological_split(values, [0.7, 0.3])
    assert {k: len(v) for k, v in fractions.items()} == {"train": 7, "valid": 3}
    assert {k: len(v) for k, v in chronological_split(values, [0.5, 0.2]).items()} == {
        "train": 5,
        "valid": 2,
    }
    for sizes, message in (
        ([8, 8], "do not fit"),
        ([5, 0.5], "all row counts"),
        ([0.9, 0.2], "sum to at most 1"),
        ([5], "two or three"),
    ):
        with pytest.raises(ValueError, match=message):
            chronological_split(values, sizes)


def _series(n, minutes):
    stamps = tuple(
        f"2016-07-01 {m // 60 % 24:02d}:{m % 60:02d}:00" for m in range(0, n * minutes, minutes)
    )
    values = np.arange(n, dtype=np.float64)[:, None]
    return TimeSeries(values, ("OT",), ("OT",), ("OT",), stamps)


def test_ett_split_hourly_and_quarter_hourly():
    assert rows_per_hour(_series(3, 60)) == 1 and rows_per_hour(_series(3, 15)) == 4
    parts = ett_split(_series(15_000, 60), window=96)
    assert {k: len(v) for k, v in parts.items()} == {"train": 8640, "valid": 2976, "test": 2976}
    assert parts["valid"][96, 0] == 8640 and parts["test"][96, 0] == 11_520
    quarter = ett_split(_series(60_000, 15), window=10)
    assert {k: len(v) for k, v in quarter.items()} == {
        "train": 34_560,
        "valid": 11_530,
        "test": 11_530,
    }
    with pytest.raises(ValueError, match="do not fit"):
        ett_split(_series(1000, 60), window=96)
    with pytest.raises(ValueError, match="7 minutes apart"):
        rows_per_hour(_series(3, 7))


@pytest.mark.shared_data
def test_shared_ett(shared_data):
    for name, rows in (("ETTh1", 17_420), ("ETTh2", 17_420), ("ETTm1", 69_680), ("ETTm2", 69_680)):
        series = ett(name, shared_data)
        assert series.values.shape == (rows, 7) and np.isfinite(series.values).all()
        assert series.columns == ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT")
        k = 4 if name.startswith("ETTm") else 1
        parts = ett_split(series, window=96)
        assert [len(p) for p in parts.values()] == [8640 * k, 2880 * k + 96, 2880 * k + 96]
        # the valid split's first target row is row 8640 (x k) of the file
        np.testing.assert_array_equal(parts["valid"][96], series.values[8640 * k])
    assert ett("ETTh1", shared_data).timestamps[:2] == (
        "2016-07-01 00:00:00",
        "2016-07-01 01:00:00",
    )
    assert ett("ETTh1", shared_data / "ett", features=["OT"]).values.shape == (17_420, 1)


def test_rows_out_of_time_order_are_refused_naming_both_lines(make_file):
    # issue: forecast accepted unsorted timestamps, pairing inputs with the wrong targets
    path = make_file(
        "u.csv", "date,OT\n2020-01-01 00:00,1\n2020-01-01 02:00,3\n2020-01-01 01:00,2\n"
    )
    with pytest.raises(DataError) as caught:
        time_series_csv(path, "date", "OT")
    assert str(caught.value) == (
        f"{path}, line 4, column 'date': time '2020-01-01 01:00' comes before "
        "'2020-01-01 02:00' of line 3; the rows must be in time order; sort the file by time, "
        "or pass sort_time=True to sort the rows by time"
    )
    assert "pass --sort-time to sort" in caught.value.render(cli=True)
    series = time_series_csv(path, "date", "OT", sort_time=True)
    assert series.values[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert series.timestamps == ("2020-01-01 00:00", "2020-01-01 01:00", "2020-01-01 02:00")


@pytest.mark.parametrize("sort_time", [False, True])
def test_a_repeated_time_is_refused_even_when_sorting(make_file, sort_time):
    # issue: duplicate timestamps were accepted silently
    path = make_file("d.csv", "t,OT\n3,1\n1,2\n2,3\n1,4\n")
    if not sort_time:
        with pytest.raises(DataError, match=r"line 3, column 't': time '1' comes before '3'"):
            time_series_csv(path, "t", "OT")
        path = make_file("d.csv", "t,OT\n1,1\n2,2\n2,3\n")
    with pytest.raises(DataError) as caught:
        time_series_csv(path, "t", "OT", sort_time=sort_time)
    line, first = (5, 3) if sort_time else (4, 3)
    assert str(caught.value).startswith(f"{path}, line {line}, column 't': time ")
    assert f"of line {first}; a series has one row per time" in str(caught.value)


def test_times_compare_as_dates_numbers_and_zoned_times(make_file):
    zoned = "t,OT\n2020-01-01T01:00:00+01:00,1\n2020-01-01T00:30:00Z,2\n"  # 00:00Z, then 00:30Z
    assert len(time_series_csv(make_file("z.csv", zoned), "t", "OT")) == 2
    numbers = "t,OT\n9,1\n10,2\n100.5,3\n"  # numeric, not alphabetical, order
    assert len(time_series_csv(make_file("n.csv", numbers), "t", "OT")) == 3
    dates = "t,OT\n2020-01-09,1\n2020-01-10,2\n"
    assert len(time_series_csv(make_file("dd.csv", dates), "t", "OT")) == 2


@pytest.mark.parametrize(
    "content, message",
    [
        (
            "t,OT\n1/2/2020,1\n",
            r"line 2, column 't': time '1/2/2020' is neither a number nor an ISO",
        ),
        ("t,OT\n2020-01-01,1\n5,2\n", r"line 3, column 't': time '5' is a number, but the first"),
        (
            "t,OT\n2020-01-01T00:00Z,1\n2020-01-02,2\n",
            r"'2020-01-02' is a date/time without a time zone, but the first row's time "
            r"'2020-01-01T00:00Z' is a zoned date/time",
        ),
    ],
)
def test_times_that_cannot_be_ordered(make_file, content, message):
    with pytest.raises(DataError, match=message):
        time_series_csv(make_file("s.csv", content), "t", "OT")
    unordered = time_series_csv(make_file("s.csv", content), None, "OT", features=["OT"])
    assert unordered.timestamps == ()  # without a time column, file order is the order


def test_missing_values_are_filled_in_time_order_after_sorting(make_file):
    path = make_file("g.csv", "t,v\n3,3\n1,1\n2,\n")
    series = time_series_csv(path, "t", "v", fill="interpolate", sort_time=True)
    assert series.values[:, 0].tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(DataError, match=r"line 4, column 'v': missing .*pass fill='ffill', "):
        time_series_csv(path, "t", "v", sort_time=True)
