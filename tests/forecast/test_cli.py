"""``liquidts forecast`` on a CSV file, end to end with tiny settings."""

import pandas as pd
import pytest

from liquidts.cli import build_parser, main

from ._helpers import long_frame, wide_frame


def test_forecast_csv_writes_forecast_and_plot(tmp_path, capsys):
    data = tmp_path / "data.csv"
    wide_frame().to_csv(data)
    out, png = tmp_path / "forecast.csv", tmp_path / "forecast.png"
    code = main(["forecast", str(data), "--target", "load", "--horizon", "4", "--lookback", "8",
                 "--max-epochs", "2", "--out", str(out), "--plot", str(png)])
    assert code == 0
    got = pd.read_csv(out, index_col=0, parse_dates=True)
    assert list(got.columns) == ["load", "load_q0.1", "load_q0.9"] and len(got) == 4
    assert got.index[0] == pd.Timestamp("2021-04-07")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "fitted cfc" in capsys.readouterr().out


def test_forecast_long_csv(tmp_path):
    data = tmp_path / "long.csv"
    long_frame().to_csv(data, index=False)
    out = tmp_path / "f.csv"
    assert main(["forecast", str(data), "--horizon", "2", "--lookback", "6", "--max-epochs", "1",
                 "--out", str(out)]) == 0
    assert pd.read_csv(out)["unique_id"].nunique() == 3


def test_forecast_needs_csv_or_demo():
    with pytest.raises(SystemExit, match="one of them"):
        main(["forecast"])


def test_bad_time_column_is_reported(tmp_path):
    data = tmp_path / "x.csv"
    pd.DataFrame({"a": ["x", "y"], "b": [1, 2]}).to_csv(data, index=False)
    with pytest.raises(SystemExit, match="--time-col"):
        main(["forecast", str(data)])


def test_parser_has_forecast_subcommand():
    args = build_parser().parse_args(["forecast", "--demo", "seattle"])
    assert args.demo == "seattle" and args.func.__name__ == "run"


@pytest.mark.parametrize("flag", ["--horizon", "--lookback", "--max-epochs", "--threads"])
@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_counts_below_one_are_usage_errors(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["forecast", "--demo", "seattle", flag, value])
    assert exit_.value.code == 2
    assert flag in capsys.readouterr().err
