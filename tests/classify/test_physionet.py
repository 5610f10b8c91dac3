"""The PhysioNet 2012 loader reads the shared files offline; its download path converts a
PhysioNet-style archive (a tiny fake one here, served from local files) and checks its sums."""

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from liquidts import datasets

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
needs_shared = pytest.mark.skipif(not (SHARED / "physionet2012" / "set-a.csv.gz").exists(),
                                  reason="shared data folder ../shared/data/physionet2012 not present")


@needs_shared
def test_set_a_loads_and_a_classifier_fits_on_a_few_subjects():
    obs, outcomes = datasets.load_physionet2012(SHARED)
    assert list(obs.columns) == ["RecordID", "minutes", "parameter", "value"]
    assert obs["RecordID"].nunique() == 4000 and len(outcomes) == 4000
    assert "RecordID" not in set(obs["parameter"]) and set(datasets.PHYSIONET_2012_STATIC) <= set(obs["parameter"])
    assert 0.1 < outcomes["In-hospital_death"].mean() < 0.2
    from liquidts import LiquidClassifier

    ids = np.sort(obs["RecordID"].unique())[:40]
    X, y = obs[obs["RecordID"].isin(ids)], outcomes.loc[ids, "In-hospital_death"]
    clf = LiquidClassifier(static=datasets.PHYSIONET_2012_STATIC, static_missing=-1, id_col="RecordID",
                           time_col="minutes", variable_col="parameter", units=8, backbone_units=8,
                           max_epochs=1, random_state=0).fit(X, y)
    assert clf.predict_proba(X).shape == (40, 2) and len(clf.variables_) > 20


def _fake_physionet(tmp_path, corrupt=False):
    records = {"132539": "Time,Parameter,Value\n00:00,RecordID,132539\n00:00,Age,54\n00:07,HR,73\n01:37,HR,77\n",
               "132540": "Time,Parameter,Value\n00:00,RecordID,132540\n00:00,Age,76\n00:15,Temp,35.1\n"}
    source = tmp_path / "physionet"
    source.mkdir()
    with tarfile.open(source / "set-a.tar.gz", "w:gz") as tar:
        for name, text in records.items():
            data = text.encode()
            info = tarfile.TarInfo(f"set-a/{name}.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (source / "Outcomes-a.txt").write_text("RecordID,SAPS-I,SOFA,Length_of_stay,Survival,In-hospital_death\n"
                                           "132539,6,1,5,-1,0\n132540,16,8,8,-1,1\n")
    sums = {n: hashlib.sha256((source / n).read_bytes()).hexdigest() for n in ("set-a.tar.gz", "Outcomes-a.txt")}
    if corrupt:
        sums["set-a.tar.gz"] = "0" * 64
    (source / "SHA256SUMS.txt").write_text("".join(f"{h} {n}\n" for n, h in sums.items()))
    return source.as_uri() + "/"


def test_download_converts_the_archive(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "PHYSIONET_2012_URL", _fake_physionet(tmp_path))
    with pytest.raises(FileNotFoundError, match="download=True"):
        datasets.load_physionet2012(tmp_path / "home")
    obs, outcomes = datasets.load_physionet2012(tmp_path / "home", download=True)
    assert obs.values.tolist() == [[132539, 0, "Age", 54.0], [132539, 7, "HR", 73.0], [132539, 97, "HR", 77.0],
                                   [132540, 0, "Age", 76.0], [132540, 15, "Temp", 35.1]]
    assert outcomes.loc[132540, "In-hospital_death"] == 1
    again, _ = datasets.load_physionet2012(tmp_path / "home")  # now offline
    assert again.equals(obs)
    with pytest.raises(ValueError, match="valid"):
        datasets.load_physionet2012(tmp_path / "home", subset="d")


def test_download_refuses_a_file_whose_sum_does_not_match(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "PHYSIONET_2012_URL", _fake_physionet(tmp_path, corrupt=True))
    with pytest.raises(OSError, match="checksum mismatch"):
        datasets.load_physionet2012(tmp_path / "home", download=True)
    assert not any(p.is_file() for p in (tmp_path / "home").rglob("*"))
