"""Loaders read the shared real data offline; the download path is exercised on a local URL."""

from pathlib import Path

import pandas as pd
import pytest

from liquidts import datasets

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
needs_shared = pytest.mark.skipif(not (SHARED / "ett" / "ETTh1.csv").exists(),
                                  reason="shared data folder ../shared/data not present")


def test_seattle_weather():
    df = datasets.load_seattle_weather()
    assert df.shape == (1461, 5) and isinstance(df.index, pd.DatetimeIndex)
    assert df.index[0] == pd.Timestamp("2012-01-01") and df["temp_max"].notna().all()


@needs_shared
def test_ett_reads_the_standard_file():
    df = datasets.load_ett("ETTh1", data_home=SHARED)
    assert df.shape == (17420, 7) and list(df.columns)[-1] == "OT"
    assert sum(datasets.ETT_SPLITS["ETTh1"]) <= len(df)


@needs_shared
def test_weather_sentinels_and_duplicate_are_handled():
    df = datasets.load_weather(data_home=SHARED)
    assert df.shape[1] == 21 and df.index.is_unique and df.index.is_monotonic_increasing
    assert not (df == -9999).any().any() and df["OT"].isna().any()


def test_missing_file_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        datasets.load_ett("ETTh1", data_home=tmp_path)
    with pytest.raises(ValueError, match="valid names"):
        datasets.load_ett("ETTh3", data_home=tmp_path)


def _local_remote(tmp_path, content: bytes, digest: str) -> datasets.RemoteFile:
    source = tmp_path / "source.csv"
    source.write_bytes(content)
    return datasets.RemoteFile("ett/ETTh1.csv", source.as_uri(), digest)


def test_download_keeps_only_a_file_with_the_right_checksum(tmp_path):
    content = b"date,OT\n2020-01-01 00:00:00,1.0\n"
    good = _local_remote(tmp_path, content, __import__("hashlib").sha256(content).hexdigest())
    path = datasets.fetch_file(good, tmp_path / "home", download=True)
    assert path.read_bytes() == content

    bad = _local_remote(tmp_path, content, "0" * 64)
    with pytest.raises(OSError, match="checksum mismatch"):
        datasets.fetch_file(bad, tmp_path / "other", download=True)
    assert not list((tmp_path / "other" / "ett").iterdir())


def test_data_home_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LIQUIDTS_DATA", str(tmp_path))
    assert datasets.get_data_home() == tmp_path
    assert datasets.get_data_home("~/x") == Path.home() / "x"
