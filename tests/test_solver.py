"""The solver loop: convergence to exact optima, divergence, determinism, trace, budgets."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optim_helpers import TinyLeastSquares, lasso_reference, random_problem
from sklearn.linear_model import Lasso

from descent.optim import (
    PlateauSchedule,
    adam,
    gd,
    make_optimizer,
    multistart,
    solve,
)
from descent.optim.schedules import inverse_time
from descent.optim.solver import thin_indices


def lstsq(problem: TinyLeastSquares) -> np.ndarray:
    return np.linalg.lstsq(problem.X, problem.y, rcond=None)[0]


def settings_for(name: str, L: float) -> tuple[float, dict, float]:
    """(learning rate, options, tolerance on |w - w*| / (1 + |w*|)) that suit each optimizer."""
    return {
        "gd": (1 / L, {}, 1e-7),
        "sgd": (1 / L, {}, 1e-7),  # full batch here: batch_size is the solver's
        "minibatch": (1 / L, {}, 1e-7),
        "momentum": (1 / L, {"momentum": 0.5}, 1e-7),
        "nesterov": (1 / L, {"momentum": 0.5}, 1e-7),
        "adagrad": (1.0, {}, 1e-6),
        "rmsprop": (inverse_time(0.05, 0.01), {}, 1e-3),
        "adam": (0.05, {}, 1e-5),
        "newton": (1.0, {}, 1e-10),
        "proximal": (1 / L, {}, 1e-7),
        "fista": (1 / L, {}, 1e-7),
    }[name]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 6),
       st.sampled_from(["gd", "sgd", "minibatch", "momentum", "nesterov", "adagrad", "rmsprop",
                        "adam", "newton", "proximal", "fista"]))
def test_every_optimizer_reaches_the_lstsq_optimum(seed, p, name):
    problem = random_problem(seed, n=50, p=p)
    lr, options, tolerance = settings_for(name, problem.lipschitz())
    opt = make_optimizer(name, learning_rate=lr, objective=problem, **options)
    result = solve(problem, opt, np.zeros(p), max_iter=20_000, tol=0.0, gtol=1e-10)
    w_star = lstsq(problem)
    assert result.status in ("converged", "max_iter")
    assert np.linalg.norm(result.params - w_star) <= tolerance * (1 + np.linalg.norm(w_star))
    assert result.loss == pytest.approx(problem.value(result.params), rel=1e-12)


@pytest.mark.parametrize("name", ["gd", "momentum", "nesterov", "fista", "newton"])
def test_ridge_matches_the_closed_form(name):
    base = random_problem(11, n=80, p=5)
    l2 = np.array([0.0, 0.3, 0.3, 0.3, 0.3])
    problem = TinyLeastSquares(base.X, base.y, l2_weights=l2)
    n = base.n_samples
    closed = np.linalg.solve(base.X.T @ base.X + n * np.diag(l2), base.X.T @ base.y)
    opt = make_optimizer(name, learning_rate=1.0 if name == "newton" else 1 / problem.lipschitz(),
                         objective=problem)
    result = solve(problem, opt, np.zeros(5), tol=0.0, gtol=1e-11)
    assert result.status == "converged"
    np.testing.assert_allclose(result.params, closed, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("name", ["proximal", "fista"])
@pytest.mark.parametrize("alpha", [0.05, 0.3, 2.0])
def test_lasso_agrees_with_coordinate_descent_and_sklearn(name, alpha):
    rng = np.random.default_rng(7)
    n, p = 100, 6
    Z = rng.normal(size=(n, p))
    y = Z @ np.array([2.0, 0.0, -1.0, 0.0, 0.5, 0.0]) + 0.5 * rng.normal(size=n)
    # centred data, no intercept: our objective equals sklearn's Lasso(alpha) exactly
    Z, y = Z - Z.mean(0), y - y.mean()
    problem = TinyLeastSquares(Z, y, l1_weights=np.full(p, alpha))
    opt = make_optimizer(name, learning_rate=1 / problem.lipschitz(), objective=problem)
    result = solve(problem, opt, np.zeros(p), max_iter=50_000, tol=0.0, gtol=1e-11)
    reference = lasso_reference(problem)
    sk = Lasso(alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=1_000_000).fit(Z, y).coef_
    assert result.status == "converged"
    np.testing.assert_allclose(result.params, reference, atol=1e-8)
    np.testing.assert_allclose(reference, sk, atol=1e-6)
    if name == "proximal":  # ISTA iterates are prox outputs: exact zeros
        assert np.array_equal(result.params == 0, reference == 0)


def test_proximal_sgd_drops_the_l1_subgradient_and_nears_the_lasso():
    problem = random_problem(13, n=64, p=4, noise=0.1, l1_weights=np.array([0, 0.2, 0.2, 0.2]))
    lr = inverse_time(0.5 / problem.lipschitz(), 0.002)
    opt = make_optimizer("proximal", learning_rate=lr, objective=problem)
    result = solve(problem, opt, np.zeros(4), batch_size=4, max_passes=200, max_iter=10**6)
    reference = lasso_reference(problem)
    assert np.linalg.norm(result.params - reference) < 0.02 * np.linalg.norm(reference)
    assert result.loss - problem.value(reference) < 1e-3 * problem.value(reference)


def test_subgradient_descent_on_lasso_gets_close_but_uses_the_full_loss():
    problem = random_problem(2, n=60, p=4, l1_weights=np.array([0, 0.1, 0.1, 0.1]))
    result = solve(problem, gd(inverse_time(0.5, 0.05)), np.zeros(4), max_iter=5000)
    assert result.loss == pytest.approx(problem.value(result.params))
    assert result.loss - problem.value(lasso_reference(problem)) < 1e-3


def test_newton_converges_in_one_or_two_steps():
    problem = random_problem(4, n=50, p=5)
    result = solve(problem, make_optimizer("newton", learning_rate=1.0, objective=problem),
                   np.full(5, 10.0))
    assert result.status == "converged" and result.iterations <= 2
    np.testing.assert_allclose(result.params, lstsq(problem), rtol=1e-10, atol=1e-10)


def test_newton_on_a_rank_deficient_design_stays_finite():
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    X = np.column_stack([np.ones(30), x, 2 * x])  # collinear columns: singular Hessian
    problem = TinyLeastSquares(X, 1 + x + 0.1 * rng.normal(size=30))
    result = solve(problem, make_optimizer("newton", learning_rate=1.0, objective=problem),
                   np.zeros(3))
    assert result.status == "converged"
    np.testing.assert_allclose(result.params, lstsq(problem), atol=1e-8)  # min-norm solution


def test_too_large_learning_rate_diverges_quietly():
    problem = random_problem(1, n=50, p=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = solve(problem, gd(5.0 / problem.lipschitz()), np.zeros(4), max_iter=100_000,
                       divergence_factor=1e300)  # run on until the loss overflows
    assert result.status == "diverged" and result.diverged_at is not None
    assert np.all(np.isfinite(result.params))
    assert np.isfinite(result.loss)
    assert result.trace["step"][-1] == result.diverged_at - 1
    assert np.all(np.isfinite(result.trace["loss"]))
    assert "diverged at iteration" in result.message


def test_exploding_loss_is_caught_early():
    problem = random_problem(1, n=50, p=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = solve(problem, adam(1e6), np.zeros(4), batch_size=5)
        big = solve(problem, gd(3.0 / problem.lipschitz()), np.zeros(4))
    for r in (result, big):
        assert r.status in ("diverged", "max_iter")
        assert np.all(np.isfinite(r.params))
    assert big.status == "diverged" and "exceeds" in big.message
    assert big.loss <= 1e8 * big.trace["loss"][0]


def test_stochastic_runs_are_deterministic_per_seed():
    problem = random_problem(9, n=40, p=3)
    opt = gd(inverse_time(0.05, 0.01))
    kwargs = {"batch_size": 1, "max_iter": 2000}
    first, again = solve(problem, opt, np.zeros(3), seed=5, **kwargs), solve(
        problem, opt, np.zeros(3), seed=5, **kwargs)
    other = solve(problem, opt, np.zeros(3), seed=6, **kwargs)
    for key in ("loss", "grad_norm", "lr", "passes", "step"):
        np.testing.assert_array_equal(first.trace[key], again.trace[key])
    np.testing.assert_array_equal(first.params, again.params)
    assert not np.array_equal(first.trace["loss"], other.trace["loss"])
    assert first.trace["passes"][-1] == pytest.approx(first.iterations / 40)


@pytest.mark.parametrize("batch_size", [1, 8])
def test_stochastic_gradient_gets_near_the_optimum(batch_size):
    problem = random_problem(12, n=64, p=3, noise=0.1)
    lr = inverse_time(0.5 / problem.lipschitz(), 0.01 / batch_size)
    result = solve(problem, gd(lr), np.zeros(3), batch_size=batch_size, max_passes=60,
                   max_iter=10**6)
    w_star = lstsq(problem)
    assert np.linalg.norm(result.params - w_star) < 0.05 * np.linalg.norm(w_star)
    assert result.status == "max_iter" and "max_passes" in result.message
    assert result.trace["passes"][-1] == pytest.approx(60, rel=1e-9)


def test_batch_size_at_least_n_is_full_batch():
    problem = random_problem(3, n=20, p=3)
    full = solve(problem, gd(0.3), np.zeros(3))
    same = solve(problem, gd(0.3), np.zeros(3), batch_size=20)
    np.testing.assert_array_equal(full.params, same.params)


def test_trace_is_thinned_keeping_first_and_last():
    problem = random_problem(5, n=30, p=3)
    result = solve(problem, gd(1e-4), np.zeros(3), max_iter=5000, tol=0, gtol=0,
                   max_trace=100, record_path=True)
    steps = result.trace["step"]
    assert result.status == "max_iter" and result.iterations == 5000
    assert 2 < len(steps) <= 100 and steps[0] == 0 and steps[-1] == 5000
    assert np.all(np.diff(steps) > 0)
    assert {len(v) for v in result.trace.values()} == {len(steps)}
    assert result.path.shape == (len(steps), 3)
    np.testing.assert_array_equal(result.path[-1], result.params)
    np.testing.assert_array_equal(result.path[0], np.zeros(3))
    assert np.all(result.trace["lr"] == 1e-4)
    np.testing.assert_array_equal(result.trace["passes"], steps)
    w = problem.value(result.path[10])
    assert w == pytest.approx(result.trace["loss"][10], rel=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 100_000), st.integers(2, 3000))
def test_thin_indices_bounded_sorted_with_ends(m, max_trace):
    idx = thin_indices(m, max_trace)
    assert len(idx) <= max_trace and idx[0] == 0 and idx[-1] == m - 1
    assert np.all(np.diff(idx) > 0)
    if m <= max_trace:
        assert len(idx) == m


def test_plateau_schedule_is_detected_and_reduces_the_rate():
    problem = random_problem(8, n=40, p=3)
    schedule = PlateauSchedule(0.05, factor=0.5, patience=5, threshold=1e-3)
    opt = make_optimizer("adam", learning_rate=schedule)
    result = solve(problem, opt, np.zeros(3), max_iter=3000)
    lrs = result.trace["lr"]
    assert lrs[0] == 0.05 and lrs[-1] < 0.05 and np.all(np.diff(lrs) <= 0)
    again = solve(problem, opt, np.zeros(3), max_iter=3000)  # the schedule is reset per solve
    np.testing.assert_array_equal(again.trace["lr"], lrs)
    explicit = solve(problem, opt, np.zeros(3), max_iter=3000, plateau=schedule)
    np.testing.assert_array_equal(explicit.params, result.params)


def test_convergence_messages_and_zero_budget():
    problem = random_problem(6, n=30, p=3)
    result = solve(problem, gd(1 / problem.lipschitz()), np.zeros(3))
    assert result.status == "converged" and "converged" in result.message
    start = solve(problem, gd(0.1), np.zeros(3), max_iter=0)
    assert start.status == "max_iter" and start.iterations == 0
    assert list(start.trace["step"]) == [0]
    at_optimum = solve(problem, gd(0.1), lstsq(problem))
    assert at_optimum.status == "converged" and at_optimum.iterations == 0


def test_bad_arguments_raise():
    problem = random_problem(6, n=30, p=3)
    for kwargs in ({"max_trace": 1}, {"batch_size": 0}, {"max_iter": -1},
                   {"divergence_factor": 1.0}, {"max_passes": 0}):
        with pytest.raises(ValueError):
            solve(problem, gd(0.1), np.zeros(3), **kwargs)
    with pytest.raises(ValueError, match="finite 1-D"):
        solve(problem, gd(0.1), np.array([np.nan, 0, 0]))


def test_multistart_picks_the_best_non_diverged_run():
    problem = random_problem(10, n=40, p=3)
    starts = np.array([[0.0, 0.0, 0.0], [1e6, 1e6, 1e6], [5.0, -5.0, 5.0]])
    best, runs = multistart(problem, gd(1.0 / problem.lipschitz()), starts, max_iter=30)
    assert len(runs) == 3
    assert best.loss == min(r.loss for r in runs if r.status != "diverged")
    built = []

    def factory():
        built.append(1)
        return make_optimizer("nesterov", learning_rate=1 / problem.lipschitz())

    best2, runs2 = multistart(problem, factory, starts, gtol=1e-12, tol=0)
    assert len(built) == 3 == len(runs2) and best2.status == "converged"
    np.testing.assert_allclose(best2.params, lstsq(problem), atol=1e-9)


def test_ten_thousand_full_batch_steps_are_fast():
    problem = random_problem(0, n=100, p=10)
    solve(problem, gd(1e-4), np.zeros(10), max_iter=100)  # warm-up
    started = time.perf_counter()
    result = solve(problem, gd(1e-4), np.zeros(10), max_iter=10_000, tol=0, gtol=0)
    elapsed = time.perf_counter() - started
    assert result.iterations == 10_000
    assert elapsed < 1.0  # typically ~0.05 s; generous for a loaded 2-core machine
