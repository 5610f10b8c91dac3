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


def test_demo_forecasts_the_days_after_the_data_beside_its_backtest(tmp_path, capsys):
    pytest.importorskip("vega_datasets")
    out, png = tmp_path / "demo.csv", tmp_path / "demo.png"
    assert main(["forecast", "--demo", "seattle", "--max-epochs", "2", "--quiet", "--out", str(out),
                 "--plot", str(png)]) == 0
    got = pd.read_csv(out, index_col=0, parse_dates=True)
    assert list(got.columns) == ["kind", "temp_max", "temp_max_q0.1", "temp_max_q0.9", "temp_max_actual"]
    backtest, forecast = got[got["kind"] == "backtest"], got[got["kind"] == "forecast"]
    # The data end on 2015-12-31: the last week's backtest with what happened, then the next week.
    assert list(backtest.index) == list(pd.date_range("2015-12-25", "2015-12-31"))
    assert backtest["temp_max_actual"].notna().all() and forecast["temp_max_actual"].isna().all()
    assert list(forecast.index) == list(pd.date_range("2016-01-01", "2016-01-07"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = capsys.readouterr().out
    assert "forecast for the 7 days after the data: 2016-01-01 to 2016-01-07" in text and "persistence" in text


def test_forecast_long_csv(tmp_path):
    data = tmp_path / "long.csv"
    long_frame().to_csv(data, index=False)
    out = tmp_path / "f.csv"
    assert main(["forecast", str(data), "--horizon", "2", "--lookback", "6", "--max-epochs", "1",
                 "--out", str(out)]) == 0
    assert pd.read_csv(out)["unique_id"].nunique() == 3


def test_forecast_csv_with_an_integer_step_column(tmp_path):
    data = tmp_path / "steps.csv"
    frame = wide_frame()
    frame.index = pd.RangeIndex(0, 5 * len(frame), 5, name="minute")
    frame.to_csv(data)
    out = tmp_path / "f.csv"
    assert main(["forecast", str(data), "--target", "load", "--horizon", "2", "--lookback", "8",
                 "--max-epochs", "1", "--out", str(out), "--quiet"]) == 0
    assert pd.read_csv(out)["minute"].tolist() == [480, 485]


@pytest.fixture
def no_fit(monkeypatch):
    """Any fit fails the test: each usage error must be found before training starts."""
    from liquidts.forecast import LiquidForecaster

    def fit(self, *args, **kwargs):
        raise AssertionError("fit ran before the command line was checked")

    monkeypatch.setattr(LiquidForecaster, "fit", fit)


def _usage_error(argv, flag, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert flag in lines[0], lines[0]
    return lines[0]


def _csv(tmp_path, frame=None, name="data.csv", **kw):
    path = tmp_path / name
    (wide_frame() if frame is None else frame).to_csv(path, **kw)
    return str(path)


FIT = ["--horizon", "2", "--lookback", "8", "--max-epochs", "1", "--quiet"]


def test_forecast_needs_csv_or_demo(capsys):
    _usage_error(["forecast"], "one of them", capsys)
    _usage_error(["forecast", "x.csv", "--demo", "seattle"], "one of them", capsys)


def test_missing_file(tmp_path, capsys, no_fit):
    _usage_error(["forecast", str(tmp_path / "absent.csv")], "csv: file not found", capsys)
    _usage_error(["forecast", str(tmp_path)], "csv: ", capsys)


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe\xfd binary", b"", b"just one line\n",
                                     b'a,b\n1,2,3,4\n"unclosed'])
def test_not_a_csv(tmp_path, capsys, no_fit, content):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    _usage_error(["forecast", str(path)], "csv: ", capsys)


def test_bad_time_column_is_reported(tmp_path, capsys, no_fit):
    data = _csv(tmp_path, pd.DataFrame({"a": ["x", "y"], "b": [1, 2]}), index=False)
    _usage_error(["forecast", data], "--time-col: column 'a'", capsys)
    _usage_error(["forecast", _csv(tmp_path), "--time-col", "when"], "--time-col: time column 'when' not in", capsys)
    long = long_frame().astype({"ds": str})
    long.loc[4, "ds"] = "yesterday"
    _usage_error(["forecast", _csv(tmp_path, long, index=False)], "csv: column 'ds'", capsys)


def test_target_missing_or_wrong(tmp_path, capsys, no_fit):
    data = _csv(tmp_path)  # two numeric columns: load and temp
    _usage_error(["forecast", data] + FIT, "--target: required", capsys)
    _usage_error(["forecast", data, "--target", "price"] + FIT, "--target: column(s) ['price'] not in", capsys)
    long = _csv(tmp_path, long_frame().rename(columns={"y": "sales"}), name="long.csv", index=False)
    _usage_error(["forecast", long] + FIT, "--target: a long CSV forecasts column 'y'", capsys)


def test_unwritable_out_and_plot(tmp_path, capsys, no_fit):
    data = _csv(tmp_path)
    args = ["forecast", data, "--target", "load"] + FIT
    _usage_error(args + ["--out", str(tmp_path / "no" / "such" / "f.csv")], "--out: cannot write", capsys)
    _usage_error(args + ["--out", str(tmp_path)], "--out: ", capsys)
    _usage_error(args + ["--plot", str(tmp_path / "absent" / "f.png")], "--plot: cannot write", capsys)
    _usage_error(args + ["--plot", str(tmp_path / "f.xyz")], "--plot: cannot write a .xyz image", capsys)


def test_plot_with_long_data(tmp_path, capsys, no_fit):
    data = _csv(tmp_path, long_frame(), index=False)
    _usage_error(["forecast", data, "--plot", str(tmp_path / "f.png")] + FIT, "--plot: draws one series", capsys)


@pytest.mark.parametrize("interval", [("0", "0.9"), ("0.1", "1"), ("0.9", "0.1"), ("0.5", "0.5"), ("-1", "2"),
                                      ("nan", "0.9")])
def test_interval_out_of_range(tmp_path, capsys, no_fit, interval):
    _usage_error(["forecast", _csv(tmp_path), "--target", "load", "--interval", *interval] + FIT,
                 "--interval: needs 0 < LO < HI < 1", capsys)


def test_unknown_model_and_too_short_data(tmp_path, capsys, no_fit):
    data = _csv(tmp_path)
    _usage_error(["forecast", data, "--target", "load", "--model", "retnet"], "--model: unknown model", capsys)
    _usage_error(["forecast", _csv(tmp_path, wide_frame(n=20), name="short.csv"), "--target", "load"],
                 "--lookback: lookback 96 + horizon 24 needs 120 rows", capsys)


def test_bad_data_is_one_line_not_a_traceback(tmp_path, capsys, no_fit):
    frame = wide_frame().assign(kind="x")
    _usage_error(["forecast", _csv(tmp_path, frame), "--target", "kind"] + FIT, "csv: target column 'kind'", capsys)


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
