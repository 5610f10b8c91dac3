"""Real data for examples and benchmarks: ``load_*`` readers with an optional checked download.

Files live under a data folder laid out as ``<data_home>/ett/ETTh1.csv``,
``<data_home>/weather/weather.csv``, ``<data_home>/physionet2012/set-a.csv.gz``.
``data_home`` defaults to ``$LIQUIDTS_DATA`` or ``~/liquidts_data``. A missing file is
downloaded from its canonical source only when ``download=True`` and is kept only if its SHA-256
matches the one recorded here (PhysioNet 2012: the sums PhysioNet publishes beside its files), so a
benchmark always reads the bytes its figures were measured on.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
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


PHYSIONET_2012_URL = "https://physionet.org/files/challenge-2012/1.0.0/"
PHYSIONET_2012_SETS = ("a", "b", "c")
PHYSIONET_2012_STATIC = ["Age", "Gender", "Height", "ICUType", "Weight"]


def load_physionet2012(data_home=None, download: bool = False, subset: str = "a"):
    """PhysioNet/CinC Challenge 2012 (Silva et al., 2012): ICU stays, first 48 hours, up to 37
    time-varying variables each observed at its own irregular times, and the outcomes.

    Returns ``(observations, outcomes)``: ``observations`` in long format with columns
    ``RecordID``, ``minutes`` (since admission), ``parameter``, ``value`` (values as recorded;
    the static descriptors ``PHYSIONET_2012_STATIC`` are the rows at minute 0, -1 = unknown; the
    archive's ``RecordID`` rows are dropped); ``outcomes`` indexed by ``RecordID`` with
    ``SAPS-I``, ``SOFA``, ``Length_of_stay``, ``Survival`` and ``In-hospital_death``.

    Reads ``<data_home>/physionet2012/set-<subset>.csv.gz`` and ``Outcomes-<subset>.csv``. With
    ``download=True`` and the files missing, fetches ``set-<subset>.tar.gz`` and
    ``Outcomes-<subset>.txt`` from PhysioNet (``PHYSIONET_2012_URL``), checks them against the
    SHA-256 sums PhysioNet publishes beside them, and converts the archive (one file per stay) to
    that CSV, values unchanged.
    """
    if subset not in PHYSIONET_2012_SETS:
        raise ValueError(f"unknown PhysioNet 2012 subset {subset!r}; valid: {list(PHYSIONET_2012_SETS)}")
    folder = get_data_home(data_home) / "physionet2012"
    series, outcomes = folder / f"set-{subset}.csv.gz", folder / f"Outcomes-{subset}.csv"
    if not (series.exists() and outcomes.exists()):
        if not download:
            raise FileNotFoundError(
                f"{series} or {outcomes} not found. Point data_home= (or $LIQUIDTS_DATA) at a folder with "
                f"physionet2012/, or pass download=True to fetch set-{subset} from {PHYSIONET_2012_URL}")
        _download_physionet2012(folder, subset)
    obs = pd.read_csv(series, dtype={"RecordID": np.int64, "minutes": np.int64, "parameter": str,
                                     "value": np.float64})
    obs = obs[obs["parameter"] != "RecordID"].reset_index(drop=True)
    return obs, pd.read_csv(outcomes, index_col="RecordID")


def _download_physionet2012(folder: Path, subset: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        tmp = Path(tmp)
        names = [f"set-{subset}.tar.gz", f"Outcomes-{subset}.txt", "SHA256SUMS.txt"]
        for name in names:
            with urllib.request.urlopen(PHYSIONET_2012_URL + name, timeout=120) as response, \
                    open(tmp / name, "wb") as out:
                shutil.copyfileobj(response, out)
        sums = {}
        for line in (tmp / "SHA256SUMS.txt").read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                sums[parts[1].lstrip("*")] = parts[0]
        for name in names[:2]:
            got = sha256(tmp / name)
            if sums.get(name) != got:
                raise OSError(f"checksum mismatch for {PHYSIONET_2012_URL + name}: PhysioNet lists "
                              f"{sums.get(name)}, got {got}; nothing was kept")
        frame = physionet2012_archive_to_frame(tmp / names[0])
        frame.to_csv(tmp / f"set-{subset}.csv.gz", index=False)
        os.replace(tmp / names[1], folder / f"Outcomes-{subset}.csv")
        os.replace(tmp / f"set-{subset}.csv.gz", folder / f"set-{subset}.csv.gz")


def physionet2012_archive_to_frame(archive) -> pd.DataFrame:
    """PhysioNet's ``set-x.tar.gz`` (one ``Time,Parameter,Value`` file per stay, times ``hh:mm``)
    as one long frame ``RecordID, minutes, parameter, value``, in the archive's order."""
    frames = []
    with tarfile.open(archive, "r:gz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if not (member.isfile() and member.name.endswith(".txt")):
                continue
            part = pd.read_csv(tar.extractfile(member), dtype={"Time": str, "Parameter": str, "Value": np.float64})
            hours, minutes = part["Time"].str.split(":", expand=True).astype(np.int64).T.to_numpy()
            record = int(Path(member.name).stem)
            frames.append(pd.DataFrame({"RecordID": record, "minutes": hours * 60 + minutes,
                                        "parameter": part["Parameter"], "value": part["Value"]}))
    if not frames:
        raise ValueError(f"{archive} holds no stay files (*.txt)")
    return pd.concat(frames, ignore_index=True)
