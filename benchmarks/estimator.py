"""GDRegressor against scikit-learn's LinearRegression and SGDRegressor: time and accuracy.

    python benchmarks/estimator.py [--rows 1000000] [--features 10] [--repeat 3]

Draws an N x D float64 problem (``y = X b + 1 + 0.5 ε``, features of different scales and
correlated, seeded), then times ``fit`` of each model, median of ``--repeat`` runs after one
untimed warm-up fit on 1000 rows (one-time import and first-call costs are not per row):

  GDRegressor(newton)   descent's Newton step (exact Hessian, learning_rate=1): one step
  GDRegressor(gd)       full-batch gradient descent with the automatic 1/L learning rate
  LinearRegression      scikit-learn's least squares (scipy lstsq), the baseline of the ratios
  SGDRegressor          scikit-learn's SGD, on standardized X (it needs it), 5 epochs

Prints seconds, the ratio to LinearRegression (target: GDRegressor(newton) < 1) and the largest
relative coefficient error ``max|b − b_lstsq| / max|b_lstsq|`` (intercept included) against
``numpy.linalg.lstsq`` on ``[1 | X]`` (target ≤ 1e-6 for GDRegressor).

Needs scikit-learn (``pip install -e .[bench]``).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, SGDRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from descent.estimator import GDRegressor


def problem(rows: int, features: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Correlated features on scales 1..100, a known linear signal and noise."""
    rng = np.random.default_rng(seed)
    mix = np.eye(features) + 0.3 * rng.standard_normal((features, features))
    X = rng.standard_normal((rows, features)) @ mix * np.geomspace(1, 100, features) + 5.0
    coef = rng.uniform(-3, 3, features)
    y = 1.0 + X @ coef + 0.5 * rng.standard_normal(rows)
    return X, y


def coefficients(model) -> np.ndarray:
    """``[intercept, coef...]`` in the data's units (through a scaler if in a pipeline)."""
    if hasattr(model, "steps"):
        scaler, sgd = model.steps[0][1], model.steps[-1][1]
        coef = sgd.coef_ / scaler.scale_
        return np.concatenate([[float(np.ravel(sgd.intercept_)[0]) - coef @ scaler.mean_], coef])
    return np.concatenate([[float(model.intercept_)], np.ravel(model.coef_)])


MODELS: dict[str, Callable[[], object]] = {
    "GDRegressor(newton)": lambda: GDRegressor(optimizer="newton", learning_rate=1.0,
                                               max_iter=50),
    "GDRegressor(gd)": lambda: GDRegressor(optimizer="gd"),
    "LinearRegression": LinearRegression,
    "SGDRegressor": lambda: make_pipeline(
        StandardScaler(), SGDRegressor(max_iter=5, tol=None, random_state=0)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    X, y = problem(args.rows, args.features)
    A = np.column_stack([np.ones(len(X)), X])
    reference = np.linalg.lstsq(A, y, rcond=None)[0]
    del A
    small_X, small_y = problem(1000, args.features, seed=1)
    kappa = np.linalg.cond(np.column_stack([np.ones(len(small_X)), small_X]))
    print(f"{args.rows} rows x {args.features} features, median of {args.repeat} fits "
          f"(condition number of [1|X] on a 1000-row sample: {kappa:.3g})")
    rows, baseline = [], None
    for name, make in MODELS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            make().fit(small_X, small_y)  # warm-up
            times = []
            for _ in range(args.repeat):
                model = make()
                start = time.perf_counter()
                model.fit(X, y)
                times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        if name == "LinearRegression":
            baseline = seconds
        error = np.max(np.abs(coefficients(model) - reference)) / np.max(np.abs(reference))
        extra = f"  status {model.status_}, {model.n_iter_} iterations" if hasattr(
            model, "status_") else ""
        rows.append((name, seconds, error, extra))
    print(f"{'model':<22} {'seconds':>9} {'vs LinReg':>10} {'max rel coef err':>17}")
    for name, seconds, error, extra in rows:
        print(f"{name:<22} {seconds:>9.3f} {seconds / baseline:>9.2f}x {error:>17.2e}{extra}")


if __name__ == "__main__":
    main()
