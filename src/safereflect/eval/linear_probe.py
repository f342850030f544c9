"""A linear probe for safety on frozen hidden states: fair to arms never trained to reflect.

Standardised features, L2 logistic regression, stratified K-fold with a seeded shuffle;
every item is scored by the fold that did not train on it.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from safereflect.errors import UserError


def cross_validated_scores(x: np.ndarray, y: np.ndarray, *, seed: int, folds: int = 5, c: float = 1.0) -> np.ndarray:
    """Out-of-fold P(class 1) for every item."""
    y = np.asarray(y, dtype=int)
    smallest = int(np.bincount(y, minlength=2).min())
    if smallest < 2:
        raise UserError(
            f"the linear probe needs at least 2 items of each class (got {np.bincount(y, minlength=2).tolist()})"
        )
    scores = np.zeros(len(y))
    split = StratifiedKFold(n_splits=min(folds, smallest), shuffle=True, random_state=seed)
    for train, test in split.split(x, y):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
        clf.fit(x[train], y[train])
        scores[test] = clf.predict_proba(x[test])[:, 1]
    return scores
