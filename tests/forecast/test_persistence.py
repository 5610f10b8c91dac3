"""Saved models: written atomically, checked on load, every kind of id round-trips."""

import json
import os
import struct

import numpy as np
import pandas as pd
import pytest
import safetensors.torch

from liquidts.forecast import LiquidForecaster

from ._helpers import long_frame, tiny, wide_frame


@pytest.fixture
def saved(tmp_path):
    est = tiny(target="load").fit(wide_frame())
    path = tmp_path / "model.safetensors"
    est.save(path)
    return est, path


def _header(data: bytes) -> tuple[int, dict]:
    n = struct.unpack("<Q", data[:8])[0]
    return n, json.loads(data[8: 8 + n])


def test_a_crash_mid_save_leaves_the_existing_file_intact(saved, monkeypatch):
    est, path = saved
    before = path.read_bytes()

    def crash(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        est.save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == ["model.safetensors"], "no temporary file left behind"
    monkeypatch.undo()
    pd.testing.assert_frame_equal(LiquidForecaster.load(path).predict(), est.predict())


def test_flipped_weight_bytes_are_detected(saved):
    _, path = saved
    data = bytearray(path.read_bytes())
    n, header = _header(data)
    start, _ = header["net.linear.weight"]["data_offsets"]
    data[8 + n + start + 2] ^= 0x40  # one bit of one weight
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="not a valid liquidts file: .*checksum mismatch"):
        LiquidForecaster.load(path)


def test_altered_metadata_is_detected(saved):
    _, path = saved
    data = path.read_bytes()
    altered = data.replace(b'\\"lookback_\\": 8', b'\\"lookback_\\": 9')
    assert altered != data
    path.write_bytes(altered)
    with pytest.raises(ValueError, match="not a valid liquidts file: .*checksum mismatch"):
        LiquidForecaster.load(path)


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.99])
def test_truncated_files_are_not_valid(saved, keep):
    _, path = saved
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match="not a valid liquidts file: "):
        LiquidForecaster.load(path)


def test_other_files_are_not_valid(tmp_path):
    text = tmp_path / "notes.safetensors"
    text.write_text("date,load\n2021-01-01,3\n")
    with pytest.raises(ValueError, match="not a valid liquidts file: .*unreadable"):
        LiquidForecaster.load(text)
    with pytest.raises(FileNotFoundError, match="no model file"):
        LiquidForecaster.load(tmp_path / "absent.safetensors")


@pytest.mark.parametrize("ids", [
    (pd.Timestamp("2021-01-01"), pd.Timestamp("2021-02-01")),
    (pd.Timestamp("2021-01-01", tz="Europe/Berlin"), pd.Timestamp("2021-06-01", tz="Europe/Berlin")),
    (7, 11),
    (1.5, 2.5),
    ("a", 3),
])
def test_ids_round_trip_through_save(tmp_path, ids):
    df = long_frame(ids=("a", "b"))
    df["unique_id"] = df["unique_id"].map(dict(zip(("a", "b"), ids)))
    if isinstance(ids[0], pd.Timestamp):
        df["unique_id"] = pd.to_datetime(df["unique_id"]) if ids[0].tz is None else df["unique_id"]
    est = tiny().fit(df)
    path = tmp_path / "m.safetensors"
    est.save(path)
    back = LiquidForecaster.load(path)
    pd.testing.assert_frame_equal(back.predict(), est.predict(), check_exact=True)
    pd.testing.assert_frame_equal(back.predict(df=df), est.predict(df=df), check_exact=True)
    assert [s.uid for s in back.history_] == [s.uid for s in est.history_]
    assert back._scaler_index_ == est._scaler_index_


def test_path_objects_and_strings_both_save(tmp_path, saved):
    est, _ = saved
    est.save(str(tmp_path / "as_string.safetensors"))
    assert np.array_equal(LiquidForecaster.load(tmp_path / "as_string.safetensors").predict().to_numpy(),
                          est.predict().to_numpy())


def _resave_as_format_3(path, window_norm: float):
    """The file as liquidts format 3 wrote it (the series scaling then applied to the core too)."""
    from safetensors import safe_open

    from liquidts.forecast.estimator import write_checked

    with safe_open(path, framework="pt") as f:
        state = json.loads(f.metadata()["liquidts"])
    tensors = safetensors.torch.load_file(path)
    tensors["net.window_norm"].fill_(window_norm)
    state["format"] = "liquidts.LiquidForecaster/3"
    write_checked(path, tensors, json.dumps(state))


def test_format_3_files_load_where_the_network_is_unchanged_and_say_why_not_otherwise(tmp_path):
    est = tiny(target="load", normalization="window").fit(wide_frame())
    path = tmp_path / "model.safetensors"
    est.save(path)
    _resave_as_format_3(path, 1.0)
    pd.testing.assert_frame_equal(LiquidForecaster.load(path).predict(), est.predict())
    _resave_as_format_3(path, 0.0)
    with pytest.raises(ValueError, match="earlier liquidts.*series scaling.*refit it"):
        LiquidForecaster.load(path)
