"""Tests for descent.estimator.GDRegressor: scikit-learn's contract and agreement with sklearn."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, Ridge
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from descent.estimator import GDRegressor, design_from_arrays
from descent.features import build_design
from descent.ingest import ingest_and_validate

DATA = Path(__file__).resolve().parents[1] / "data"


def _table(name: str):
    outcome = ingest_and_validate(DATA / f"{name}.yaml")
    outcome.raise_if_failed()
    return outcome.kept


def _rel(a, b) -> float:
    a, b = np.atleast_1d(a), np.atleast_1d(b)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


@pytest.fixture(scope="module")
def noisy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)) * [1.0, 10.0, 0.1, 3.0, 1.0] + 2.0
    y = 3.0 + X @ np.array([1.0, 0.0, -2.0, 0.1, 0.0]) + rng.normal(size=200)
    return X, y


# --- scikit-learn's own checks -----------------------------------------------------------------


@parametrize_with_checks([GDRegressor()])
def test_sklearn_contract(estimator, check):
    check(estimator)


def test_constructor_stores_arguments_unchanged():
    schedule, options = {"name": "step_decay", "every": 10}, {"momentum": 0.5}
    model = GDRegressor(optimizer="momentum", schedule=schedule, options=options,
                        learning_rate=0.1)
    params = model.get_params()
    assert params["schedule"] is schedule and params["options"] is options
    assert params["learning_rate"] == 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clone(model).fit(np.arange(10.0)[:, None], np.arange(10.0))
    assert schedule == {"name": "step_decay", "every": 10} and options == {"momentum": 0.5}


# --- agreement with the exact answers ------------------------------------------------------------


def test_cars_matches_linear_regression():
    df = _table("cars")
    X, y = df[["City MPG"]].to_numpy(float), df["Highway MPG"].to_numpy(float)
    ours, ref = GDRegressor().fit(X, y), LinearRegression().fit(X, y)
    assert ours.status_ == "converged"
    assert _rel(ours.coef_, ref.coef_) < 1e-6
    assert _rel(ours.intercept_, ref.intercept_) < 1e-6
    assert ours.gap_ < 1e-10
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-9)
    assert ours.score(X, y) == pytest.approx(ref.score(X, y), rel=1e-9)


@pytest.mark.parametrize("settings", [
    {"optimizer": "newton", "learning_rate": 1.0},
    {"optimizer": "gd", "tol": 0.0, "gtol": 1e-13, "max_iter": 100_000},
    {"optimizer": "nesterov", "lr_factor": 0.5, "tol": 0.0, "gtol": 1e-13, "max_iter": 100_000},
])
def test_sleep_with_a_squared_column_matches_linear_regression(settings):
    df = _table("sleep")
    x = df["Sleep Duration (hours)"].to_numpy(float)
    X, y = np.column_stack([x, x**2]), df["Performance Index"].to_numpy(float)
    ours, ref = GDRegressor(**settings).fit(X, y), LinearRegression().fit(X, y)
    assert ours.status_ == "converged"
    assert _rel(ours.coef_, ref.coef_) < 1e-6
    assert _rel(ours.intercept_, ref.intercept_) < 1e-6
    assert _rel(ours.optimal_coef_, ref.coef_) < 1e-9


def test_design_matches_build_design():
    """The arrays' design has the centers and scales of the spec's design."""
    df = _table("sleep")
    spec = {"columns": [{"name": c, "type": "float"} for c in df.columns],
            "model": {"target": "Performance Index", "features": ["Sleep Duration (hours)"],
                      "degree": 2}}
    built = build_design(df, spec)
    ours = design_from_arrays(built.X[:, 1:], built.y)
    np.testing.assert_array_equal(ours.X, built.X)
    np.testing.assert_array_equal(ours.center, built.center)
    np.testing.assert_array_equal(ours.scale, built.scale)
    assert ours.terms == ["intercept", "x0", "x1"]


def test_no_intercept_matches_linear_regression(noisy):
    X, y = noisy
    ours = GDRegressor(optimizer="newton", learning_rate=1.0, fit_intercept=False).fit(X, y)
    ref = LinearRegression(fit_intercept=False).fit(X, y)
    assert ours.intercept_ == 0.0
    assert _rel(ours.coef_, ref.coef_) < 1e-8


@pytest.mark.parametrize("optimizer", ["proximal", "fista"])
def test_lasso_matches_sklearn(noisy, optimizer):
    X, y = noisy
    ours = GDRegressor(optimizer=optimizer, alpha=0.1, l1_ratio=1.0, tol=0.0, gtol=1e-12,
                       max_iter=20_000).fit(X, y)
    ref = Lasso(alpha=0.1, tol=1e-14, max_iter=100_000).fit(X, y)
    assert ours.status_ == "converged"
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-8, atol=1e-10)
    assert ours.intercept_ == pytest.approx(ref.intercept_, rel=1e-8)
    np.testing.assert_array_equal(ours.coef_ == 0.0, ref.coef_ == 0.0)  # the same exact zeros
    assert np.sum(ours.coef_ == 0.0) > 0


@pytest.mark.parametrize("optimizer", ["proximal", "fista"])
def test_elastic_net_matches_sklearn(noisy, optimizer):
    X, y = noisy
    ours = GDRegressor(optimizer=optimizer, alpha=0.2, l1_ratio=0.5, tol=0.0, gtol=1e-12,
                       max_iter=20_000).fit(X, y)
    ref = ElasticNet(alpha=0.2, l1_ratio=0.5, tol=1e-14, max_iter=100_000).fit(X, y)
    assert ours.status_ == "converged"
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-8, atol=1e-10)
    assert ours.intercept_ == pytest.approx(ref.intercept_, rel=1e-8)
    np.testing.assert_allclose(ours.optimal_coef_, ref.coef_, rtol=1e-8, atol=1e-10)


def test_default_stopping_rule_is_close_in_loss(noisy):
    """With the default tol the run stops once the loss is flat: a tiny gap, coefficients ~1e-6."""
    X, y = noisy
    ours = GDRegressor(optimizer="fista", alpha=0.1, l1_ratio=1.0).fit(X, y)
    ref = Lasso(alpha=0.1, tol=1e-14, max_iter=100_000).fit(X, y)
    # the gap may be -1e-16: both losses are evaluated in floating point at nearly equal points
    assert ours.status_ == "converged" and abs(ours.gap_) < 1e-10
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-5, atol=1e-5)


def test_ridge_matches_sklearn(noisy):
    X, y = noisy
    ours = GDRegressor(optimizer="newton", learning_rate=1.0, alpha=0.5).fit(X, y)
    ref = Ridge(alpha=0.5 * len(y)).fit(X, y)  # our 0.5·mean(r²) + ½α‖w‖² is Ridge(n·α)
    assert _rel(ours.coef_, ref.coef_) < 1e-8


# --- pipelines and model selection -------------------------------------------------------------


def test_pipeline_and_grid_search_pick_a_stable_learning_rate(noisy):
    """Learning rates in standardized units: 2/L is the stability limit (L = 1.x here)."""
    X, y = noisy
    pipe = make_pipeline(StandardScaler(), GDRegressor(max_iter=30))
    grid = {
        "gdregressor__learning_rate": [1e-3, 0.05, 0.8, 5.0],
        "gdregressor__schedule": [None, "reduce_on_plateau",
                                  {"name": "exponential_decay", "rate": 0.01}],
    }
    search = GridSearchCV(pipe, grid, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    assert search.best_params_["gdregressor__learning_rate"] == 0.8
    exact = cross_val_score(LinearRegression(), X, y, cv=3).mean()
    assert search.best_score_ == pytest.approx(exact, abs=1e-3)
    scores = search.cv_results_["mean_test_score"]
    too_large = np.array(search.cv_results_["param_gdregressor__learning_rate"]) == 5.0
    assert np.all(scores[too_large] < scores.max())


def test_schedule_name_or_dict():
    X = np.linspace(0, 1, 20)[:, None]
    y = 2 * X[:, 0] + 1
    by_name = GDRegressor(schedule="reduce_on_plateau").fit(X, y)
    by_dict = GDRegressor(schedule={"name": "reduce_on_plateau"}).fit(X, y)
    np.testing.assert_array_equal(by_name.coef_, by_dict.coef_)
    with pytest.raises(ValueError, match="step_decay"):
        GDRegressor(schedule="step_decay").fit(X, y)  # needs `every`
    with pytest.raises(ValueError, match="unknown optimizer"):
        GDRegressor(optimizer="nope").fit(X, y)
    with pytest.raises(ValueError, match="l1_ratio"):
        GDRegressor(alpha=1.0, l1_ratio=2.0).fit(X, y)


# --- statuses ------------------------------------------------------------------------------------


def test_max_iter_is_a_convergence_warning(noisy):
    X, y = noisy
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        model = GDRegressor(max_iter=3).fit(X, y)
    assert model.status_ == "max_iter"
    assert model.n_iter_ == 3
    assert len(model.loss_curve_) == 4  # the start and three updates
    assert np.all(np.diff(model.loss_curve_) < 0)
    assert model.gap_ > 1e-6


def test_divergence_gives_status_and_finite_coefficients(noisy):
    X, y = noisy
    with pytest.warns(ConvergenceWarning, match="diverged"):
        model = GDRegressor(lr_factor=2.5, max_iter=2000).fit(X, y)
    assert model.status_ == "diverged"
    assert np.all(np.isfinite(model.coef_)) and np.isfinite(model.intercept_)
    assert np.all(np.isfinite(model.predict(X)))
    assert model.record_["lr_unstable"]


def test_loss_curve_is_in_the_data_units(noisy):
    X, y = noisy
    model = GDRegressor(optimizer="newton", learning_rate=1.0).fit(X, y)
    residual = y - model.predict(X)
    assert model.loss_curve_[-1] == pytest.approx(0.5 * np.mean(residual**2), rel=1e-10)
    assert model.loss_curve_[0] == pytest.approx(0.5 * np.mean((y - y.mean()) ** 2), rel=1e-10)


def test_sgd_is_deterministic_given_random_state(noisy):
    X, y = noisy

    def fit(seed):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return GDRegressor(optimizer="sgd", batch_size=1, max_iter=500,
                               random_state=seed).fit(X, y).coef_

    np.testing.assert_array_equal(fit(3), fit(3))
    assert not np.array_equal(fit(3), fit(4))
    rng = np.random.RandomState(7)
    assert np.all(np.isfinite(fit(rng)))
    assert np.all(np.isfinite(fit(None)))


def test_importing_descent_does_not_import_sklearn():
    import subprocess
    import sys

    code = ("import sys, descent, descent.fitting, descent.cli; "
            "assert 'sklearn' not in sys.modules, 'sklearn imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
