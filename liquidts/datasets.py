"""Real data for examples and benchmarks: ``load_*`` readers with an optional checked download.

Files live under a data folder laid out as ``<data_home>/ett/ETTh1.csv``,
``<data_home>/weather/weather.csv``. ``data_home`` defaults to ``$LIQUIDTS_DATA`` or
``~/liquidts_data``. A missing file is downloaded from its canonical source only when
``download=True`` and is kept only if its SHA-256 matches the one recorded here, so a
benchmark always reads the bytes its figures were measured on.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class RemoteFile:
    path: str  # relative to data_home
    url: str
    sha256: str


_ETT_URL = "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/{}.csv"
REMOTE = {
    "ETTh1": RemoteFile("ett/ETTh1.csv", _ETT_URL.format("ETTh1"),
                        "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066"),
    "ETTh2": RemoteFile("ett/ETTh2.csv", _ETT_URL.format("ETTh2"),
                        "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b"),
    "ETTm1": RemoteFile("ett/ETTm1.csv", _ETT_URL.format("ETTm1"),
                        "6ce1759b1a18e3328421d5d75fadcb316c449fcd7cec32820c8dafda71986c9e"),
    "ETTm2": RemoteFile("ett/ETTm2.csv", _ETT_URL.format("ETTm2"),
                        "db973ca252c6410a30d0469b13d696cf919648d0f3fd588c60f03fdbdbadd1fd"),
    "weather": RemoteFile(
        "weather/weather.csv",
        "https://huggingface.co/datasets/thuml/Time-Series-Library/resolve/main/weather/weather.csv",
        "34ee981d07313e51da2a50bb600072c8ae4a69cb4b0651f4cb93a069d7a2ba63"),
}

# Rows per split of the standard long-horizon protocol (12/4/4 months for ETT).
ETT_SPLITS = {"ETTh1": (8640, 2880, 2880), "ETTh2": (8640, 2880, 2880),
              "ETTm1": (34560, 11520, 11520), "ETTm2": (34560, 11520, 11520)}


def get_data_home(data_home=None) -> Path:
    """The data folder: the argument, else ``$LIQUIDTS_DATA``, else ``~/liquidts_data``."""
    if data_home is None:
        data_home = os.environ.get("LIQUIDTS_DATA", Path.home() / "liquidts_data")
    return Path(data_home).expanduser()


def sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_file(remote: RemoteFile, data_home=None, download: bool = False) -> Path:
    """Path of ``remote`` under ``data_home``, downloading it first when asked and missing."""
    target = get_data_home(data_home) / remote.path
    if target.exists():
        return target
    if not download:
        raise FileNotFoundError(
            f"{target} not found. Put the file there, point data_home= (or $LIQUIDTS_DATA) at a "
            f"folder that has {remote.path}, or pass download=True to fetch it from {remote.url}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
        with urllib.request.urlopen(remote.url, timeout=60) as response:
            shutil.copyfileobj(response, tmp)
    got = sha256(tmp.name)
    if got != remote.sha256:
        os.unlink(tmp.name)
        raise OSError(f"checksum mismatch for {remote.url}: expected sha256 {remote.sha256}, got {got}; "
                      "the file was not kept")
    os.replace(tmp.name, target)
    return target


def load_seattle_weather() -> pd.DataFrame:
    """Daily Seattle weather 2012-2015 (1461 real observations, from ``vega_datasets``).

    Columns ``precipitation`` (mm), ``temp_max``, ``temp_min`` (degC), ``wind`` (m/s) and
    ``weather`` (text), indexed by ``date``.
    """
    try:
        from vega_datasets import local_data
    except ImportError as exc:
        raise ImportError("load_seattle_weather needs vega_datasets: pip install 'liquidts[data]'") from exc
    return local_data.seattle_weather().set_index("date")


def load_ett(name: str = "ETTh1", data_home=None, download: bool = False) -> pd.DataFrame:
    """Electricity Transformer Temperature (Zhou et al., 2021): ``ETTh1``, ``ETTh2``, ``ETTm1``,
    ``ETTm2``, indexed by ``date``; ``OT`` (oil temperature) is the usual target.
    Standard split sizes are in ``ETT_SPLITS``."""
    if name not in ETT_SPLITS:
        raise ValueError(f"unknown ETT dataset {name!r}; valid names: {sorted(ETT_SPLITS)}")
    path = fetch_file(REMOTE[name], data_home, download)
    return pd.read_csv(path, parse_dates=["date"], index_col="date")


def load_weather(data_home=None, download: bool = False) -> pd.DataFrame:
    """The "Weather" benchmark (Jena roof station, 2020, every 10 minutes, 21 variables).

    The -9999 sentinels become NaN (missing) and the one duplicated timestamp keeps its
    first row, so the frame can go straight into a forecaster.
    """
    path = fetch_file(REMOTE["weather"], data_home, download)
    df = pd.read_csv(path, encoding="latin-1", parse_dates=["date"], index_col="date")
    df = df.replace(-9999.0, np.nan)
    return df[~df.index.duplicated(keep="first")]
