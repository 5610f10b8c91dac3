"""Classification of irregularly sampled multivariate sequences: the LiquidClassifier estimator.

``validate`` checks long-format input, ``data`` turns it into step features with masks and
elapsed times, ``cores`` builds the sequence cores (liquid, baselines, GRU-D, ODE-RNN),
``network`` the classification network, ``training`` its loop, ``estimator`` the estimator.
"""

from liquidts.classify.cores import GRUD, ODERNN, available_models
from liquidts.classify.estimator import LiquidClassifier

__all__ = ["LiquidClassifier", "GRUD", "ODERNN", "available_models"]
