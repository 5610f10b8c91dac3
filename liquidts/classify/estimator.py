"""LiquidClassifier: a scikit-learn classifier of irregularly sampled multivariate sequences.

Data flow: long-format observations -> validate (one place, clear errors) -> static descriptors
taken out -> per-step features (carried-forward values, masks, elapsed times; normalisation
fitted on the training subjects) -> :class:`ClassifierNetwork` (liquid or baseline core, the state
at each subject's last step, static descriptors, MLP head) -> class probabilities. ``predict``
runs the same path with the fitted encoding, so training and serving cannot drift apart.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from torch import nn

from liquidts.classify.cores import build_core, output_size
from liquidts.classify.data import Encoded, Encoding, encode, fit_encoding, split_static
from liquidts.classify.network import ClassifierNetwork
from liquidts.classify.training import predict_logits, train
from liquidts.classify.validate import Observations, _plain, align_labels, read_observations
from liquidts.forecast.estimator import _check_range, _progress, _torch_threads, read_checked, write_checked
from liquidts.forecast.validate import check_positive_int

_FORMAT = "liquidts.LiquidClassifier/2"  # 2: with a SHA-256 of weights and metadata
READOUTS = ("last", "last+mean")


class LiquidClassifier(ClassifierMixin, BaseEstimator):
    """Classify subjects from irregularly sampled observations with a liquid (CfC/LTC/NCP) or
    baseline sequence core.

    ``X`` is long format, one row per observation: columns ``id_col`` (subject), ``time_col``
    (numbers in any unit, or timestamps), ``variable_col`` (name) and ``value_col`` (a number), or a
    list of such frames, one per subject (without the id column). Each variable is observed at
    its own times: the network reads, at each distinct observation time, every variable's last
    value beside its observation mask and the time since it was last seen; the liquid cells also
    receive the elapsed time as ``timespans``. Missing values are masked, never imputed silently.
    ``y``: a Series indexed by subject id, or one label per subject in the order of the sorted
    unique ids (list input: the list order). Outputs follow the same order.

    Parameters
    ----------
    model : str or torch.nn.Module, default "cfc"
        ``"cfc"``, ``"ltc"``, ``"ncp"`` (CfC on an AutoNCP wiring), ``"lstm"``, ``"gru"``,
        ``"mamba"``, ``"xlstm"`` (they read the elapsed times as inputs), ``"grud"`` (GRU-D decay),
        ``"odernn"`` (ODE-RNN, torchdiffeq), or a module ``y, h = module(x, hx, timespans)`` that
        reads ``3 * n_variables + 1`` features and returns outputs at every step.
    static : list of str or None
        Variables that are static descriptors, read at each subject's first time (PhysioNet:
        Age, Gender, Height, ICUType, Weight); later observations of them stay in the sequence.
    static_missing : float or None
        A static value meaning "unknown" (PhysioNet: -1), treated as missing.
    id_col, time_col, variable_col, value_col : column names (default id, time, variable, value).
    units : int, default 64
        Width of the core and of the head.
    backbone_units : int, default 64
        Backbone width of the CfC core.
    readout : {"last", "last+mean"}, default "last+mean"
        What the head reads from the core: its output at the subject's last step, or that and the
        mean of its outputs over all steps.
    dropout : float, default 0.2
        Dropout in the head.
    class_weight : "balanced", dict or None
        Weights of the classes in the loss.
    max_epochs, batch_size, learning_rate, weight_decay : training (AdamW; the rate halves when
        the validation score stalls). Defaults (100, 128, 1e-3, 1e-3) and ``readout`` were chosen
        by validation AUC on PhysioNet 2012 (benchmarks/results/classify.md), never the test stays.
    validation_fraction : float, default 0.1
        Stratified share of the training subjects held out for early stopping (by ROC AUC for two
        classes, else log-loss); 0 trains ``max_epochs`` epochs. ``fit(..., eval_set=(X, y))``
        gives the validation subjects instead.
    patience : int, default 10
        Epochs without improvement before stopping; the best weights are kept.
    random_state : int or None; device : "cpu" or "cuda".
    n_threads : int or None, default 1
        torch CPU threads during fit and predict (restored after); None leaves torch's setting.
    verbose : bool, default False
        A tqdm progress bar while fitting.

    Attributes (after fit): ``classes_``, ``n_classes_``, ``net_``, ``encoding_``,
    ``variables_``, ``n_features_in_``, ``n_epochs_``, ``best_epoch_``, ``loss_curve_``,
    ``validation_scores_``, ``epoch_seconds_``, ``time_kind_``.
    """

    def __init__(self, model="cfc", static=None, static_missing=None, id_col="id", time_col="time",
                 variable_col="variable", value_col="value", units=64, backbone_units=64, readout="last+mean",
                 dropout=0.2,
                 class_weight=None, max_epochs=100, batch_size=128, learning_rate=1e-3, weight_decay=1e-3,
                 validation_fraction=0.1, patience=10, random_state=None, device="cpu", n_threads=1,
                 verbose=False):
        self.model = model
        self.static = static
        self.static_missing = static_missing
        self.id_col = id_col
        self.time_col = time_col
        self.variable_col = variable_col
        self.value_col = value_col
        self.units = units
        self.backbone_units = backbone_units
        self.readout = readout
        self.dropout = dropout
        self.class_weight = class_weight
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.device = device
        self.n_threads = n_threads
        self.verbose = verbose

    # ----- checks -----------------------------------------------------------------------------
    def _check_params(self) -> None:
        for name in ("units", "backbone_units", "max_epochs", "batch_size", "patience"):
            check_positive_int(getattr(self, name), name)
        if self.n_threads is not None:
            check_positive_int(self.n_threads, "n_threads")
        _check_range(self.dropout, "dropout", 0, 1, high_open=True)
        _check_range(self.learning_rate, "learning_rate", 0, 10, low_open=True)
        _check_range(self.weight_decay, "weight_decay", 0, 10)
        _check_range(self.validation_fraction, "validation_fraction", 0, 1, high_open=True)
        if self.readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {self.readout!r}")
        if self.device not in ("cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        if not (self.class_weight is None or self.class_weight == "balanced" or isinstance(self.class_weight, dict)):
            raise ValueError("class_weight must be None, 'balanced' or a dict {class: weight}, "
                             f"got {self.class_weight!r}")
        self._static_names()

    def _static_names(self) -> list:
        if self.static is None:
            return []
        names = [self.static] if isinstance(self.static, str) else list(self.static)
        if len(set(names)) != len(names):
            raise ValueError(f"static names a variable twice: {names}")
        return [str(n) for n in names]

    def _read(self, X, time_kind=None):
        return read_observations(X, self.id_col, self.time_col, self.variable_col, self.value_col, time_kind)

    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                                 "observations and labels before using this estimator.")

    # ----- fitting ----------------------------------------------------------------------------
    def fit(self, X, y, eval_set=None):
        """Fit on the observations ``X`` and labels ``y``; ``eval_set=(X_val, y_val)``: validation
        subjects for early stopping (else a stratified ``validation_fraction`` of ``X``). Returns
        self. A failed or interrupted fit leaves a previous fit as it was."""
        self._check_params()
        with _torch_threads(self.n_threads):
            return self._fit(X, y, eval_set)

    def _fit(self, X, y, eval_set):
        obs = self._read(X)
        labels_raw = align_labels(y, obs.ids, obs.list_input)
        classes, labels = np.unique(labels_raw, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"y has one class only ({classes[0]!r}); a classifier needs at least two")
        seed = self.random_state
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**31))
        static = self._static_names()
        obs, static_values, first = split_static(obs, static, self.static_missing)
        n = len(obs.ids)
        if eval_set is not None:
            X_val, y_val = eval_set
            val_obs = self._read(X_val, obs.time_kind)
            val_raw = align_labels(y_val, val_obs.ids, val_obs.list_input)
            unknown = sorted(set(val_raw.tolist()) - set(classes.tolist()))
            if unknown:
                raise ValueError(f"eval_set has class(es) {unknown} that are not in y")
            val_obs, val_static, val_first = split_static(val_obs, static, self.static_missing)
            train_idx, val_idx = np.arange(n), None
        elif self.validation_fraction > 0:
            counts = np.bincount(labels)
            stratify = labels if counts.min() >= 2 else None
            n_val = max(1, int(round(self.validation_fraction * n)))
            if n - n_val < 1:
                raise ValueError(f"{n} subjects are too few for validation_fraction={self.validation_fraction}")
            train_idx, val_idx = train_test_split(np.arange(n), test_size=n_val, random_state=seed % (2**32),
                                                  stratify=stratify)
            train_idx, val_idx = np.sort(train_idx), np.sort(val_idx)
        else:
            train_idx, val_idx = np.arange(n), np.arange(0)
        keep = np.isin(obs.subject, train_idx)
        train_obs = Observations(obs.ids, obs.subject[keep], obs.time[keep], obs.variable[keep], obs.value[keep],
                                 obs.time_kind, obs.list_input)
        encoding = fit_encoding(train_obs, static_values[train_idx], static, self.static_missing)
        data = encode(obs, static_values, first, encoding)
        if val_idx is None:  # eval_set: the validation subjects after the training ones
            vdata = encode(val_obs, val_static, val_first, encoding)
            data = _concat(data, vdata)
            labels = np.concatenate([labels, np.searchsorted(classes, val_raw)])
            val_idx = np.arange(n, n + len(vdata))
        weights = self._class_weights(classes, labels[train_idx])
        device = torch.device(self.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = self._new_net(encoding, len(classes)).to(device)
            bar = _progress(self.verbose, self.max_epochs)
            run = train(net, data, labels, train_idx, val_idx, n_classes=len(classes), class_weights=weights,
                        epochs=self.max_epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
                        weight_decay=self.weight_decay, patience=self.patience, seed=seed, device=device,
                        progress=bar)
            bar.close()
        if run.diverged:
            warnings.warn(f"training diverged (non-finite loss) after {run.epochs} epoch(s) with learning_rate="
                          f"{self.learning_rate}; the best finite weights were kept. Lower learning_rate.",
                          RuntimeWarning, stacklevel=3)
        net.to("cpu").eval()
        self.__dict__.update(
            classes_=classes, n_classes_=len(classes), net_=net, encoding_=encoding,
            variables_=list(encoding.variables),
            n_features_in_=encoding.n_features, time_kind_=obs.time_kind, n_epochs_=run.epochs,
            best_epoch_=run.best_epoch, loss_curve_=run.loss_curve, validation_scores_=run.validation_scores,
            best_validation_score_=run.best_score, epoch_seconds_=run.epoch_seconds, core_name_=_model_name(self.model))
        return self

    def _class_weights(self, classes, labels):
        if self.class_weight is None:
            return None
        if self.class_weight == "balanced":
            counts = np.bincount(labels, minlength=len(classes)).astype(np.float64)
            return np.where(counts > 0, len(labels) / (len(classes) * np.maximum(counts, 1)), 0.0)
        unknown = [c for c in self.class_weight if c not in set(classes.tolist())]
        if unknown:
            raise ValueError(f"class_weight names class(es) {unknown} that are not in y ({classes.tolist()})")
        return np.array([float(self.class_weight.get(c, 1.0)) for c in classes.tolist()])

    def _new_net(self, encoding: Encoding, n_classes: int) -> ClassifierNetwork:
        core = build_core(self.model, encoding.n_features, len(encoding.variables), self.units, self.backbone_units)
        return ClassifierNetwork(core, output_size(core, encoding.n_features), encoding.n_static, self.units,
                                 n_classes, self.dropout, self.readout)

    # ----- predicting -------------------------------------------------------------------------
    def _encode(self, X):
        obs = self._read(X, self.time_kind_)
        obs, static_values, first = split_static(obs, self.encoding_.static, self.encoding_.static_missing)
        return obs, encode(obs, static_values, first, self.encoding_)

    def _logits(self, X) -> np.ndarray:
        self._check_fitted()
        with _torch_threads(self.n_threads):
            _, data = self._encode(X)
            return predict_logits(self.net_, data, np.arange(len(data)), "cpu")

    def decision_function(self, X) -> np.ndarray:
        """Class logits (N, n_classes) per subject (sorted unique ids, or the list order); with two
        classes, as scikit-learn does, the log-odds of ``classes_[1]`` (N,)."""
        logits = self._logits(X)
        return logits[:, 1] - logits[:, 0] if self.n_classes_ == 2 else logits

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (N, n_classes), columns in the order of ``classes_``."""
        logits = torch.from_numpy(self._logits(X)).double()
        return torch.softmax(logits, dim=-1).numpy()

    def predict(self, X) -> np.ndarray:
        """The most probable class of each subject."""
        self._check_fitted()
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def subject_ids(self, X) -> list:
        """The subject ids of ``X`` in the order of the outputs."""
        return self._read(X).ids

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of ``predict(X)`` against ``y`` (a Series by id, or aligned labels)."""
        self._check_fitted()
        obs = self._read(X, self.time_kind_)
        truth = align_labels(y, obs.ids, obs.list_input)
        return float(accuracy_score(truth, self.predict(X), sample_weight=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags

    # ----- persistence ------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the fitted classifier to one safetensors file (weights, encoding, classes, params);
        the file appears whole or not at all (written beside it, then renamed)."""
        self._check_fitted()
        params = self.get_params()
        if not isinstance(self.model, str):
            params["model"] = None
        if params["static"] is not None and not isinstance(params["static"], str):
            params["static"] = list(params["static"])
        if isinstance(params["class_weight"], dict):
            params["class_weight"] = [[_plain(k), float(v)] for k, v in params["class_weight"].items()]
        tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in self.net_.state_dict().items()}
        state = {"format": _FORMAT, "params": params, "classes": [_plain(c) for c in self.classes_],
                 "classes_dtype": str(self.classes_.dtype), "encoding": self.encoding_.to_dict(),
                 "n_classes": self.n_classes_, "time_kind": self.time_kind_, "n_epochs": self.n_epochs_,
                 "best_epoch": self.best_epoch_, "core_name": self.core_name_}
        write_checked(path, tensors, json.dumps(state))

    @classmethod
    def load(cls, path, model: nn.Module | None = None) -> "LiquidClassifier":
        """Read a classifier written by :meth:`save` (no pickle). One fitted with a custom module
        needs a fresh instance of it as ``model``. A file that is not one :meth:`save` wrote, or
        one altered since, raises ``ValueError("not a valid liquidts file: ...")``."""
        state, tensors = read_checked(path, "LiquidClassifier", _FORMAT)
        params = state["params"]
        if isinstance(params["class_weight"], list):
            params["class_weight"] = {k: v for k, v in params["class_weight"]}
        if params["model"] is None:
            if model is None:
                raise ValueError("this classifier was fitted with a custom module: pass model=<a new instance>")
            params["model"] = model
        est = cls(**params)
        est.encoding_ = Encoding.from_dict(state["encoding"])
        est.classes_ = np.asarray(state["classes"], dtype=np.dtype(state["classes_dtype"]))
        est.n_classes_ = state["n_classes"]
        est.variables_ = list(est.encoding_.variables)
        est.n_features_in_ = est.encoding_.n_features
        est.time_kind_ = state["time_kind"]
        est.n_epochs_, est.best_epoch_, est.core_name_ = state["n_epochs"], state["best_epoch"], state["core_name"]
        net = est._new_net(est.encoding_, est.n_classes_)
        net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
        est.net_ = net.eval()
        return est


def _concat(a: Encoded, b: Encoded) -> Encoded:
    return Encoded(np.concatenate([a.features, b.features]), np.concatenate([a.dt, b.dt]),
                   np.concatenate([a.offsets[:-1], b.offsets + a.offsets[-1]]),
                   np.concatenate([a.static, b.static]))


def _model_name(model) -> str:
    return model.lower() if isinstance(model, str) else type(model).__name__


__all__ = ["LiquidClassifier"]
