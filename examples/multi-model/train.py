"""Train the second model of this example: a logistic regression on scikit-learn's iris data.

Run from the repository root: ``.venv/bin/python examples/multi-model/train.py``. It writes
``models/iris/model.joblib`` next to this file (committed). The first model, ``diabetes``, is the
local-sklearn example's (``examples/local-sklearn/train.py``).
"""

from __future__ import annotations

from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

MODEL_PATH = Path(__file__).parent / "models" / "iris" / "model.joblib"


def train() -> LogisticRegression:
    """Fit on 80% of the data and report the accuracy on the rest."""
    features, target = load_iris(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=0.2, random_state=0, stratify=target
    )
    model = LogisticRegression(max_iter=500).fit(x_train, y_train)
    print(f"accuracy on held-out data: {model.score(x_test, y_test):.3f}")
    return model


if __name__ == "__main__":
    MODEL_PATH.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(train(), MODEL_PATH)
    print(f"saved {MODEL_PATH}")
