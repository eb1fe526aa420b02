"""Train the example model: a Ridge regression on scikit-learn's bundled diabetes data.

Run from the repository root: ``.venv/bin/python examples/local-sklearn/train.py``. It writes
``model/model.joblib`` next to this file (committed, so serving needs no training step).
"""

from __future__ import annotations

from pathlib import Path

import joblib
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

MODEL_PATH = Path(__file__).parent / "model" / "model.joblib"


def train() -> Ridge:
    """Fit the model on 80% of the data and report R^2 on the rest."""
    features, target = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=0.2, random_state=0
    )
    model = Ridge(alpha=0.1).fit(x_train, y_train)
    print(f"R^2 on held-out data: {model.score(x_test, y_test):.3f}")
    return model


if __name__ == "__main__":
    MODEL_PATH.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(train(), MODEL_PATH)
    print(f"saved {MODEL_PATH}")
