"""Bad input: each a clear error naming the subject, column or variable."""

import numpy as np
import pandas as pd
import pytest

from ._helpers import timing_frame, tiny


@pytest.fixture(scope="module")
def data():
    return timing_frame(40)


@pytest.fixture(scope="module")
def fitted(data):
    return tiny(max_epochs=1).fit(*data)


def test_subject_with_no_observations(data):
    X, y = data
    X = X.copy()
    X.loc[X["id"] == "s003", "value"] = np.nan
    with pytest.raises(ValueError, match="subject 's003' has no observations"):
        tiny().fit(X, y)
    frames = [X[X["id"] == "s000"].drop(columns="id"), X.iloc[:0].drop(columns="id")]
    with pytest.raises(ValueError, match=r"subject 1 \(X\[1\]\) has no observations"):
        tiny().fit(frames, [0, 1])


def test_times_going_backwards(data):
    X, y = data
    rows = X.index[X["id"] == "s005"]
    X = X.copy()
    X.loc[rows, "time"] = X.loc[rows, "time"].to_numpy()[::-1]
    with pytest.raises(ValueError, match="not increasing within subject 's005', variable 'a'"):
        tiny().fit(X, y)


def test_unknown_variable_at_predict_time(data, fitted):
    X, _ = data
    extra = pd.DataFrame([("s001", 1.0, "lactate", 2.0)], columns=X.columns)
    with pytest.raises(ValueError, match=r"\['lactate'\] were not seen in training.*subject 's001'"):
        fitted.predict(pd.concat([X, extra]).sort_values(["id", "time"], kind="stable"))


def test_bad_labels(data):
    X, y = data
    with pytest.raises(ValueError, match="missing \\(NaN\\) label for subject 's002'"):
        tiny().fit(X, y.astype(float).where(y.index != "s002"))
    with pytest.raises(ValueError, match="one class only"):
        tiny().fit(X, y * 0)
    with pytest.raises(ValueError, match="missing from X, e.g. 'zzz'"):
        tiny().fit(X, pd.concat([y, pd.Series({"zzz": 1})]))
    with pytest.raises(ValueError, match="without a label in y, e.g. 's039'"):
        tiny().fit(X, y.drop("s039"))
    with pytest.raises(ValueError, match="39 labels but X has 40 subjects"):
        tiny().fit(X, y.to_numpy()[:-1])


def test_value_column_must_be_numeric(data):
    X, y = data
    X = X.assign(value=X["value"].astype(str))
    X.loc[3, "value"] = "high"
    with pytest.raises(TypeError, match="column 'value' must be numeric"):
        tiny().fit(X, y)


def test_columns_and_times(data):
    X, y = data
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['minutes'\]"):
        tiny(time_col="minutes").fit(X, y)
    with pytest.raises(TypeError, match="column 'time' must hold numbers"):
        tiny().fit(X.assign(time="soon"), y)
    with pytest.raises(ValueError, match="positive integer"):
        tiny(units=0).fit(X, y)
    with pytest.raises(ValueError, match="unknown model 'rnn'"):
        tiny(model="rnn").fit(X, y)
    with pytest.raises(ValueError, match="class_weight names class"):
        tiny(class_weight={7: 1.0}).fit(X, y)
