"""Tests for descent.models: the Gaussian-peak model, its derivatives and its local minima."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from descent.models import GaussianPeak, polish_newton

# The article's "Table of Sleep Duration and Performance".
SLEEP_X = np.arange(4.0, 10.0)
SLEEP_Y = np.array([55.0, 65, 75, 85, 95, 80])


def model_and_point(seed: int) -> tuple[GaussianPeak, np.ndarray]:
    """Random data and a random, well-scaled parameter vector."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, 20)
    y = 2 * np.exp(-((x - 0.5) ** 2) / 2) + 1 + 0.1 * rng.standard_normal(20)
    w = np.array([rng.uniform(-3, 3), rng.uniform(-2, 2), rng.uniform(0.5, 2), rng.uniform(-1, 2)])
    return GaussianPeak(x, y), w


def direct_value(model: GaussianPeak, w: np.ndarray) -> float:
    """Objective straight from the definition."""
    a, mu, s, c = w
    pred = a * np.exp(-((model.x - mu) ** 2) / (2 * s**2)) + c
    return 0.5 * np.mean((model.y - pred) ** 2)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_gradient_and_hessian_match_finite_differences(seed):
    model, w = model_and_point(seed)
    value, grad = model.value_and_grad(w)
    assert value == pytest.approx(direct_value(model, w), rel=1e-13)
    h = 1e-6
    eye = np.eye(4)
    fd_grad = [(model.value(w + h * e) - model.value(w - h * e)) / (2 * h) for e in eye]
    np.testing.assert_allclose(grad, fd_grad, rtol=1e-6, atol=1e-8)
    fd_hess = np.column_stack(
        [(model.value_and_grad(w + h * e)[1] - model.value_and_grad(w - h * e)[1]) / (2 * h)
         for e in eye]
    )
    hess = model.hessian(w)
    np.testing.assert_allclose(hess, fd_hess, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(hess, hess.T)


def test_interface_matches_least_squares_where_meaningful():
    model, w = model_and_point(1)
    assert (model.n_samples, model.n_features, model.has_l1) == (20, 4, False)
    np.testing.assert_allclose(model.batch_grad(w, np.arange(20)), model.value_and_grad(w)[1])
    rows = np.array([3, 7, 11])
    sub = GaussianPeak(model.x[rows], model.y[rows])
    np.testing.assert_allclose(model.batch_grad(w, rows), sub.value_and_grad(w)[1], rtol=1e-14)
    assert model.smooth_value_and_grad(w)[0] == model.value(w)
    np.testing.assert_array_equal(model.prox_l1(w, 0.1), w)
    eig = np.linalg.eigvalsh(model.hessian(w))
    assert model.lipschitz(w) == pytest.approx(np.max(np.abs(eig)))
    assert model.strong_convexity(w) == pytest.approx(eig[0])
    assert model.lipschitz() > 0


def test_degenerate_width_gives_inf_not_warnings():
    model = GaussianPeak(SLEEP_X, SLEEP_Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert model.value(np.array([10.0, 6.0, 0.0, 50.0])) == float("inf")
        assert model.value(np.array([1e300, 6.0, 1e3, 1e300])) == float("inf")


def test_initial_points_are_seeded_and_spread_over_the_data():
    model = GaussianPeak(SLEEP_X, SLEEP_Y)
    starts = model.initial_points(50, np.random.default_rng(0))
    assert starts.shape == (50, 4)
    np.testing.assert_array_equal(starts, model.initial_points(50, np.random.default_rng(0)))
    assert np.all((starts[:, 1] >= 4) & (starts[:, 1] <= 9))
    assert np.all((starts[:, 3] >= 55) & (starts[:, 3] <= 95))
    assert np.all(starts[:, 2] > 0)
    assert np.any(starts[:, 0] < 0) and np.any(starts[:, 0] > 0)


def gradient_descent(model: GaussianPeak, w0, lr: float, gtol: float, max_iter: int):
    """Plain fixed-step gradient descent, then a few undamped Newton steps."""
    w = np.array(w0, dtype=float)
    for _ in range(max_iter):
        _, grad = model.value_and_grad(w)
        if np.linalg.norm(grad) <= gtol:
            break
        w = w - lr * grad
    for _ in range(5):
        w = w - np.linalg.solve(model.hessian(w), model.value_and_grad(w)[1])
    return w


def test_sleep_table_has_distinct_local_minima_reached_from_different_starts():
    model = GaussianPeak(SLEEP_X, SLEEP_Y)
    lr = 0.5 / model.lipschitz(np.array([30.0, 7.5, 1.5, 55.0]))
    peak = gradient_descent(model, [30.0, 7.5, 1.5, 55.0], lr, 1e-4, 50_000)
    dip = gradient_descent(model, [-30.0, 4.0, 1.4, 87.0], lr, 1e-4, 50_000)
    for w in (peak, dip):
        assert np.linalg.norm(model.value_and_grad(w)[1]) < 1e-9
        assert np.linalg.eigvalsh(model.hessian(w))[0] > 1e-3  # a strict local minimum
    # a peak near 7.7 hours on a baseline vs. a dip left of the data under a high baseline
    assert peak[0] > 0 and 7 < peak[1] < 8.5
    assert dip[0] < 0 and dip[1] < 4 and dip[3] > 85
    assert model.value(peak) == pytest.approx(2.71998, abs=1e-4)
    assert model.value(dip) == pytest.approx(10.3618, abs=1e-3)
    # Newton polishing from the same starts lands on the same two minima
    np.testing.assert_allclose(polish_newton(model, [30.0, 7.5, 1.5, 55.0]), peak, rtol=1e-7)
    polished_dip = polish_newton(model, [-30.0, 4.0, 1.4, 87.0])
    assert model.value(polished_dip) == pytest.approx(model.value(dip), rel=1e-10)


def test_best_of_restarts_polished_by_newton_is_the_peak():
    model = GaussianPeak(SLEEP_X, SLEEP_Y)
    starts = model.initial_points(40, np.random.default_rng(1))
    polished = [polish_newton(model, w) for w in starts]
    values = np.array([model.value(w) for w in polished])
    best = polished[int(np.argmin(values))]
    assert values.min() == pytest.approx(2.7199767, rel=1e-6)
    assert np.linalg.norm(model.value_and_grad(best)[1]) < 1e-9
    assert len(np.unique(np.round(values, 4))) >= 2  # the starts do not all agree


def test_polish_newton_recovers_exact_parameters():
    x = np.linspace(-4, 6, 40)
    truth = np.array([3.0, 1.2, 0.8, -0.5])
    a, mu, s, c = truth
    model = GaussianPeak(x, a * np.exp(-((x - mu) ** 2) / (2 * s**2)) + c)
    w = polish_newton(model, [1.0, 0.5, 1.5, 0.0])
    np.testing.assert_allclose(np.abs(w), np.abs(truth), rtol=1e-8)  # s is defined up to sign
    assert model.value(w) < 1e-28
