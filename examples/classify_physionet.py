"""In-hospital mortality from the first 48 hours of an ICU stay (PhysioNet 2012, set A) with the
default LiquidClassifier (CfC core): fit on 80% of the stays, early stopping on 10%, ROC AUC on
the last 10%. About 3 minutes on one CPU thread.

    python examples/classify_physionet.py [DATA_HOME]   # DATA_HOME holds physionet2012/
"""

import sys

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from liquidts import LiquidClassifier
from liquidts.datasets import PHYSIONET_2012_STATIC, load_physionet2012

data_home = sys.argv[1] if len(sys.argv) > 1 else None  # default: $LIQUIDTS_DATA or ~/liquidts_data
obs, outcomes = load_physionet2012(data_home)  # add download=True to fetch it from PhysioNet
y = outcomes["In-hospital_death"]
ids = np.sort(y.index.to_numpy())
train, rest = train_test_split(ids, test_size=0.2, stratify=y.loc[ids], random_state=0)
val, test = train_test_split(rest, test_size=0.5, stratify=y.loc[rest], random_state=0)
part = {name: obs[obs["RecordID"].isin(s)] for name, s in (("train", train), ("val", val), ("test", test))}

clf = LiquidClassifier(static=PHYSIONET_2012_STATIC, static_missing=-1, id_col="RecordID", time_col="minutes",
                       variable_col="parameter", random_state=0, verbose=True)
clf.fit(part["train"], y.loc[train], eval_set=(part["val"], y.loc[val]))
proba = clf.predict_proba(part["test"])[:, 1]  # rows: sorted RecordIDs of the test stays
print(f"test ROC AUC {roc_auc_score(y.loc[np.sort(test)], proba):.3f} after {clf.n_epochs_} epochs "
      f"({np.mean(clf.epoch_seconds_):.1f} s each)")
