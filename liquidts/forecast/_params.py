"""scikit-learn's estimator parameter protocol without importing scikit-learn.

Importing ``sklearn.base`` costs about a second (it loads scipy.stats), more than the rest of
``from liquidts import LiquidForecaster``, which imports no torch either. Forecasters only need
``get_params``/``set_params``/``clone``; this mixin provides them with sklearn's semantics, so
``sklearn.base.clone``, ``GridSearchCV`` and friends keep working, and ``NotFittedError`` is
sklearn's own class, imported only when it is raised.
"""

from __future__ import annotations

import copy
import inspect


class ParamsMixin:
    """get_params/set_params/repr from the ``__init__`` signature, as ``sklearn.base.BaseEstimator``."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        init = cls.__init__
        if init is object.__init__:
            return []
        params = [p for p in inspect.signature(init).parameters.values()
                  if p.name != "self" and p.kind != p.VAR_KEYWORD]
        if any(p.kind == p.VAR_POSITIONAL for p in params):
            raise RuntimeError(f"{cls.__name__} must take its parameters by name (no *args)")
        return sorted(p.name for p in params)

    def get_params(self, deep: bool = True) -> dict:
        out = {}
        for key in self._get_param_names():
            value = getattr(self, key)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{key}__{k}", v) for k, v in value.get_params().items())
            out[key] = value
        return out

    def set_params(self, **params):
        if not params:
            return self
        valid = self.get_params(deep=True)
        nested: dict = {}
        for key, value in params.items():
            key, delim, sub = key.partition("__")
            if key not in valid:
                raise ValueError(f"Invalid parameter {key!r} for estimator {self}. "
                                 f"Valid parameters are: {sorted(self._get_param_names())!r}.")
            if delim:
                nested.setdefault(key, {})[sub] = value
            else:
                setattr(self, key, value)
                valid[key] = value
        for key, sub_params in nested.items():
            valid[key].set_params(**sub_params)
        return self

    def __sklearn_clone__(self):
        return clone(self)

    def __repr__(self) -> str:
        defaults = {name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()}
        changed = []
        for key, value in self.get_params(deep=False).items():
            default = defaults.get(key, inspect.Parameter.empty)
            try:
                same = default is value or bool(default == value)
            except Exception:  # arrays and the like
                same = False
            if not same:
                changed.append(f"{key}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"


def clone(estimator):
    """A new unfitted estimator with the same parameters (deep copies), as ``sklearn.base.clone``."""
    params = estimator.get_params(deep=False)
    fresh = {k: clone(v) if hasattr(v, "get_params") and not isinstance(v, type) else copy.deepcopy(v)
             for k, v in params.items()}
    return type(estimator)(**fresh)


def not_fitted_error(message: str) -> Exception:
    """sklearn's NotFittedError (a ValueError and AttributeError), imported only when needed."""
    from sklearn.exceptions import NotFittedError

    return NotFittedError(message)
