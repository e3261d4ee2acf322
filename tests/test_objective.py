"""Tests for descent.objective: Gram statistics, the objective and the exact reference solvers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import ElasticNet, Lasso, Ridge

from descent.objective import (
    GramStats,
    LeastSquares,
    condition,
    exact_optimum,
    gram_stats,
    l1_reference,
    loss_in_original_units,
    lstsq_reference,
    ridge_reference,
)

SETTINGS = settings(max_examples=30, deadline=None)


def make_problem(seed: int, n: int = 60, p: int = 5, noise: float = 0.3):
    """Random regression problem with a known coefficient vector."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    w = rng.standard_normal(p)
    return X, X @ w + noise * rng.standard_normal(n)


def with_intercept(X: np.ndarray) -> np.ndarray:
    """Prepend a column of ones."""
    return np.column_stack([np.ones(len(X)), X])


# ------------------------------------------------------------------------------ GramStats


@SETTINGS
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 40),
    p=st.integers(1, 6),
    chunk=st.integers(1, 17),
)
def test_gram_stats_chunked_equals_one_shot_and_numpy(seed, n, p, chunk):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((n, p)), rng.standard_normal(n)
    one, chunked = gram_stats(X, y), gram_stats(X, y, chunk_rows=chunk)
    np.testing.assert_allclose(chunked.gram, X.T @ X, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(chunked.xty, X.T @ y, rtol=1e-12, atol=1e-12)
    assert chunked.yty == pytest.approx(float(y @ y), rel=1e-12)
    assert chunked.n == one.n == n
    # R is unique up to row signs: compare R^T R, and the projected target norm
    np.testing.assert_allclose(chunked.r.T @ chunked.r, X.T @ X, rtol=1e-10, atol=1e-10)
    assert np.linalg.norm(chunked.qty) == pytest.approx(np.linalg.norm(one.qty), rel=1e-10)
    np.testing.assert_allclose(chunked.w_ls, one.w_ls, rtol=1e-8, atol=1e-8)
    assert chunked.f_ls == pytest.approx(one.f_ls, rel=1e-8, abs=1e-20)
    assert chunked.rank == one.rank == np.linalg.matrix_rank(X)


def test_gram_stats_on_memmap(tmp_path):
    X, y = make_problem(3, n=500, p=4)
    path = tmp_path / "X.npy"
    np.save(path, X)
    Xm = np.load(path, mmap_mode="r")
    stats = gram_stats(Xm, y, chunk_rows=64)
    np.testing.assert_allclose(stats.gram, X.T @ X, rtol=1e-12)
    np.testing.assert_allclose(stats.w_ls, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-10)
    obj = LeastSquares(Xm, y, gram_stats=stats)
    rows = np.array([5, 1, 400])
    _, full = obj.smooth_value_and_grad(np.zeros(4))
    expected = X[rows].T @ (X[rows] @ np.zeros(4) - y[rows]) / 3
    np.testing.assert_allclose(obj.batch_grad(np.zeros(4), rows), expected, rtol=1e-12)
    assert np.all(np.isfinite(full))


def test_f_ls_is_from_actual_residuals():
    X, y = make_problem(4)
    stats = gram_stats(X, y)
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    assert stats.f_ls == pytest.approx(0.5 * np.mean((y - X @ w) ** 2), rel=1e-12)


def test_npz_round_trip(tmp_path):
    X, y = make_problem(5)
    stats = gram_stats(X, y)
    np.savez(tmp_path / "s.npz", **stats.to_npz_dict(prefix="stats_"))
    with np.load(tmp_path / "s.npz") as data:
        back = GramStats.from_npz(data, prefix="stats_")
    for field in ("gram", "xty", "r", "qty", "w_ls"):
        np.testing.assert_array_equal(getattr(back, field), getattr(stats, field))
    assert (back.yty, back.n, back.f_ls, back.rank) == (stats.yty, stats.n, stats.f_ls, stats.rank)


def test_gram_stats_rejects_non_finite():
    X, y = make_problem(6, n=10, p=2)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        gram_stats(X, y)


@pytest.mark.parametrize(
    ("n", "p", "chunk"),
    [
        (10_007, 10, 1 << 20),  # batches of 13 blocks of 733 rows, then a remainder-only batch
        (10_007, 10, 2000),  # batches of 2 blocks; the last has a full block and a remainder
        (5_000, 3, 1 << 20),
        (20_000, 40, 1 << 20),  # wide: one tall block per batch (blocked QR)
    ],
)
def test_gram_stats_batched_blocks_match_numpy(n, p, chunk):
    rng = np.random.default_rng(n + p + chunk)
    X = rng.standard_normal((n, p)) * np.geomspace(1.0, 1e3, p)
    y = X @ rng.standard_normal(p) + rng.standard_normal(n)
    stats = gram_stats(X, y, chunk_rows=chunk)
    gram = X.T @ X
    np.testing.assert_allclose(stats.gram, gram, rtol=1e-12, atol=1e-12 * np.abs(gram).max())
    np.testing.assert_allclose(stats.xty, X.T @ y, rtol=1e-12, atol=1e-12 * np.abs(X.T @ y).max())
    assert stats.yty == pytest.approx(float(y @ y), rel=1e-12)
    np.testing.assert_allclose(stats.r.T @ stats.r, gram, rtol=1e-10, atol=1e-10 * gram.max())
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    np.testing.assert_allclose(stats.w_ls, w, rtol=1e-9)
    assert np.linalg.norm(stats.qty) == pytest.approx(np.linalg.norm(X @ w), rel=1e-10)
    assert stats.f_ls == pytest.approx(0.5 * np.mean((y - X @ w) ** 2), rel=1e-10)
    # the same statistics from a float32, Fortran-ordered copy (cast block by block)
    X32 = np.asfortranarray(X.astype(np.float32))
    s32 = gram_stats(X32, y, chunk_rows=chunk)
    np.testing.assert_allclose(
        s32.gram,
        X32.astype(np.float64).T @ X32.astype(np.float64),
        rtol=1e-12,
        atol=1e-12 * np.abs(gram).max(),
    )


def test_gram_stats_reports_the_rows_of_a_late_non_finite_value():
    X, y = make_problem(8, n=5_000, p=3)
    y[4_321] = np.inf
    with pytest.raises(ValueError, match=r"non-finite values in rows \d+\.\.\d+"):
        gram_stats(X, y)
    X[4_321, 0], y[4_321] = 1e300, 1.0  # finite, only its square overflows: not an error
    with np.errstate(over="ignore"):
        assert gram_stats(X, y).n == 5_000


def test_gram_stats_streams_without_copying_x():
    import tracemalloc

    X, y = make_problem(9, n=200_000, p=10)
    tracemalloc.start()
    try:
        gram_stats(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.25 * X.nbytes  # ~2 MB of block buffers whatever n, never a copy of X


# ------------------------------------------------------------------------------ lstsq


@SETTINGS
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 30),
    p=st.integers(1, 8),
    deficient=st.booleans(),
)
def test_lstsq_reference_equals_numpy_including_min_norm(seed, n, p, deficient):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    if deficient and p > 1:
        X[:, -1] = X[:, 0] - 2.0 * X[:, -2]  # exact linear dependence
    y = rng.standard_normal(n)
    expected = np.linalg.lstsq(X, y, rcond=None)[0]
    got = lstsq_reference(gram_stats(X, y, chunk_rows=7))
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-8)


def test_lstsq_underdetermined_is_min_norm_and_interpolates():
    rng = np.random.default_rng(7)
    X, y = rng.standard_normal((4, 9)), rng.standard_normal(4)
    stats = gram_stats(X, y, chunk_rows=3)
    w = lstsq_reference(stats)
    np.testing.assert_allclose(X @ w, y, atol=1e-12)
    np.testing.assert_allclose(w, np.linalg.pinv(X) @ y, atol=1e-12)
    assert stats.rank == 4
    assert stats.f_ls < 1e-25


# ------------------------------------------------------------------------------ ridge


@SETTINGS
@given(seed=st.integers(0, 10_000), alpha=st.floats(1e-4, 10.0))
def test_ridge_reference_equals_sklearn_and_closed_form(seed, alpha):
    X, y = make_problem(seed, n=40, p=6)
    n = len(y)
    w = ridge_reference(gram_stats(X, y), alpha)
    sk = Ridge(alpha=n * alpha, fit_intercept=False, solver="svd").fit(X, y).coef_
    closed = np.linalg.solve(X.T @ X / n + alpha * np.eye(6), X.T @ y / n)
    np.testing.assert_allclose(w, sk, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(w, closed, rtol=1e-9, atol=1e-11)


def test_ridge_with_unpenalised_intercept_equals_sklearn_fit_intercept():
    X, y = make_problem(11, n=50, p=3)
    y = y + 7.0
    alpha = 0.3
    l2 = np.array([0.0, alpha, alpha, alpha])
    w = ridge_reference(gram_stats(with_intercept(X), y), l2)
    sk = Ridge(alpha=len(y) * alpha, fit_intercept=True, solver="svd").fit(X, y)
    np.testing.assert_allclose(w, np.r_[sk.intercept_, sk.coef_], rtol=1e-10)


def test_ridge_min_norm_when_unpenalised_subspace_is_singular():
    rng = np.random.default_rng(12)
    X = rng.standard_normal((30, 4))
    X[:, 1] = X[:, 0]  # columns 0 and 1 collinear and both unpenalised
    y = rng.standard_normal(30)
    l2 = np.array([0.0, 0.0, 0.5, 0.5])
    w = ridge_reference(gram_stats(X, y), l2)
    stacked = np.vstack([X, np.diag(np.sqrt(30 * l2))])
    expected = np.linalg.lstsq(stacked, np.r_[y, np.zeros(4)], rcond=None)[0]
    np.testing.assert_allclose(w, expected, rtol=1e-9, atol=1e-12)
    assert w[0] == pytest.approx(w[1], rel=1e-10)  # min norm splits the weight evenly


# ------------------------------------------------------------------------------ L1 / elastic net


def lasso_kkt(X, y, w, l1, l2):
    """Max KKT violation of 0.5 mean(r^2) + l1|w| + 0.5 l2 w^2."""
    g = X.T @ (X @ w - y) / len(y) + l2 * w
    nz = w != 0
    return np.max(np.where(nz, np.abs(g + l1 * np.sign(w)), np.maximum(np.abs(g) - l1, 0)))


@pytest.mark.parametrize("alpha", [0.005, 0.05, 0.3, 5.0])
def test_l1_reference_equals_sklearn_lasso(alpha):
    X, y = make_problem(13, n=80, p=7)
    w = l1_reference(gram_stats(X, y), alpha)
    sk = Lasso(alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=1_000_000).fit(X, y)
    np.testing.assert_allclose(w, sk.coef_, rtol=1e-8, atol=1e-10)
    assert lasso_kkt(X, y, w, alpha, 0.0) < 1e-12
    if alpha == 5.0:
        assert np.all(w == 0.0)


@pytest.mark.parametrize(("alpha", "l1_ratio"), [(0.02, 0.5), (0.2, 0.9), (1.0, 0.1)])
def test_l1_reference_equals_sklearn_elastic_net(alpha, l1_ratio):
    X, y = make_problem(14, n=70, p=6)
    l1, l2 = alpha * l1_ratio, alpha * (1 - l1_ratio)
    w = l1_reference(gram_stats(X, y), l1, l2)
    sk = ElasticNet(
        alpha=alpha, l1_ratio=l1_ratio, fit_intercept=False, tol=1e-14, max_iter=1_000_000
    ).fit(X, y)
    np.testing.assert_allclose(w, sk.coef_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(("alpha", "l1_ratio"), [(0.05, 1.0), (0.1, 0.5)])
def test_l1_reference_with_unpenalised_intercept_equals_sklearn_fit_intercept(alpha, l1_ratio):
    X, y = make_problem(15, n=60, p=5)
    X = X * np.array([1.0, 3.0, 0.5, 10.0, 2.0]) + np.array([4.0, -2.0, 0.0, 50.0, 1.0])
    y = y + 20.0
    mask = np.r_[0.0, np.ones(5)]
    w = l1_reference(gram_stats(with_intercept(X), y), alpha * l1_ratio * mask,
                     alpha * (1 - l1_ratio) * mask)
    sk = ElasticNet(
        alpha=alpha, l1_ratio=l1_ratio, fit_intercept=True, tol=1e-15, max_iter=1_000_000
    ).fit(X, y)
    np.testing.assert_allclose(w, np.r_[sk.intercept_, sk.coef_], rtol=1e-7, atol=1e-9)


def test_l1_reference_on_ill_conditioned_polynomial_matches_sklearn_objective():
    x = np.arange(4.0, 10.0)
    y = np.array([55, 65, 75, 85, 95, 80.0])
    X = np.column_stack([np.ones(6), x, x**2, x**3])
    l1 = 0.1 * np.array([0.0, 1, 1, 1])
    w = l1_reference(gram_stats(X, y), l1)
    obj = LeastSquares(X, y, l1_weights=l1)
    sk = Lasso(alpha=0.1, fit_intercept=True, tol=1e-15, max_iter=10_000_000).fit(X[:, 1:], y)
    assert obj.value(w) <= obj.value(np.r_[sk.intercept_, sk.coef_]) * (1 + 1e-12)
    assert lasso_kkt(X, y, w, l1, 0.0) < 1e-9 * np.abs(X.T @ y).max() / 6


# ------------------------------------------------------------------------------ the objective


def direct_value(X, y, w, l1, l2):
    """Objective straight from the definition."""
    return 0.5 * np.mean((y - X @ w) ** 2) + l1 @ np.abs(w) + 0.5 * l2 @ (w * w)


@SETTINGS
@given(seed=st.integers(0, 10_000))
def test_value_and_grad_equal_direct_computation_and_finite_differences(seed):
    rng = np.random.default_rng(seed)
    X, y = make_problem(seed, n=25, p=4)
    l1, l2 = rng.uniform(0, 0.5, 4), rng.uniform(0, 0.5, 4)
    obj = LeastSquares(X, y, l1_weights=l1, l2_weights=l2)
    w = rng.standard_normal(4) + 0.1 * np.sign(rng.standard_normal(4))
    value, grad = obj.value_and_grad(w)
    assert value == pytest.approx(direct_value(X, y, w, l1, l2), rel=1e-12)
    assert obj.value(w) == value
    direct_grad = X.T @ (X @ w - y) / 25 + l2 * w + l1 * np.sign(w)
    np.testing.assert_allclose(grad, direct_grad, rtol=1e-10, atol=1e-12)
    h = 1e-6
    fd = [(obj.value(w + h * e) - obj.value(w - h * e)) / (2 * h) for e in np.eye(4)]
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7)
    smooth, smooth_grad = obj.smooth_value_and_grad(w)
    assert smooth == pytest.approx(value - l1 @ np.abs(w), rel=1e-12)
    np.testing.assert_allclose(smooth_grad, direct_grad - l1 * np.sign(w), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(obj.batch_grad(w, np.arange(25)), direct_grad, rtol=1e-10)


def test_anchored_value_is_accurate_at_a_perfect_fit():
    rng = np.random.default_rng(21)
    X = with_intercept(rng.uniform(1e3, 1e3 + 1, size=(200, 3)))  # badly centred columns
    w_true = np.array([1e4, 3.0, -2.0, 0.5])
    y = X @ w_true
    obj = LeastSquares(X, y)
    assert 0.0 <= obj.value(obj.stats.w_ls) < 1e-20
    naive = 0.5 * (w_true @ (X.T @ X) @ w_true - 2 * w_true @ (X.T @ y) + y @ y) / 200
    exact = loss_in_original_units(X, y, w_true)
    assert abs(obj.value(w_true) - exact) < 1e-20  # the anchored form keeps tiny values exact
    assert abs(naive - exact) > 1e-10  # while the expanded quadratic loses them
    w = w_true + 1e-7 * rng.standard_normal(4)
    assert obj.value(w) == pytest.approx(loss_in_original_units(X, y, w), rel=1e-6)


def test_hessian_lipschitz_strong_convexity_and_condition():
    X, y = make_problem(22, n=50, p=5)
    l2 = np.array([0.0, 0.1, 0.1, 0.2, 0.0])
    obj = LeastSquares(X, y, l2_weights=l2)
    hess = X.T @ X / 50 + np.diag(l2)
    np.testing.assert_allclose(obj.hessian(), hess, rtol=1e-12)
    eig = np.linalg.eigvalsh(hess)
    assert obj.lipschitz() == pytest.approx(eig[-1], rel=1e-12)
    assert obj.strong_convexity() == pytest.approx(eig[0], rel=1e-10)
    assert obj._power_iteration() == pytest.approx(eig[-1], rel=1e-8)
    info = condition(obj)
    assert info["kappa"] == pytest.approx(eig[-1] / eig[0], rel=1e-9)
    assert info["unstable_lr"] == pytest.approx(2 / eig[-1], rel=1e-12)
    assert info["rank"] == 5


def test_power_iteration_used_for_many_features():
    rng = np.random.default_rng(23)
    X = rng.standard_normal((260, 210))
    obj = LeastSquares(X, rng.standard_normal(260))
    assert obj.lipschitz() == pytest.approx(np.linalg.eigvalsh(X.T @ X / 260)[-1], rel=1e-6)


def test_condition_of_rank_deficient_problem():
    X, y = make_problem(24, n=30, p=3)
    X = np.column_stack([X, X[:, 0] + X[:, 1]])
    info = condition(LeastSquares(X, y))
    assert info["mu"] == 0.0
    assert info["kappa"] == float("inf")
    assert info["rank"] == 3


def test_prox_l1_soft_thresholds_with_per_coordinate_weights():
    X, y = make_problem(25, n=10, p=3)
    obj = LeastSquares(X, y, l1_weights=np.array([0.0, 1.0, 2.0]))
    out = obj.prox_l1(np.array([-3.0, 0.3, -5.0]), step=0.5)
    np.testing.assert_array_equal(out, [-3.0, 0.0, -4.0])
    assert obj.has_l1 and not LeastSquares(X, y).has_l1


def test_loss_in_original_units_overflow_returns_inf_without_warning():
    X, y = make_problem(26, n=10, p=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert loss_in_original_units(X, y, np.array([1e200, 1e200])) == float("inf")
        assert loss_in_original_units(X, y, np.array([np.nan, 0.0])) == float("inf")
        value, _ = LeastSquares(X, y).value_and_grad(np.array([1e300, -1e300]))
        assert value == float("inf")
    w = np.array([0.2, -0.1])
    expected = direct_value(X, y, w, np.full(2, 0.3), np.full(2, 0.7))
    assert loss_in_original_units(X, y, w, 0.3, 0.7, chunk_rows=3) == pytest.approx(expected)


def test_exact_optimum_dispatches_by_penalty():
    X, y = make_problem(27, n=40, p=3)
    stats = gram_stats(X, y)
    w, method = exact_optimum(stats, None, None)
    assert method == "lstsq (SVD)"
    np.testing.assert_allclose(w, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-10)
    w, method = exact_optimum(stats, 0.0, 0.1)
    assert method.startswith("ridge")
    np.testing.assert_allclose(w, ridge_reference(stats, 0.1))
    w, method = exact_optimum(stats, 0.1, 0.0)
    assert method.startswith("coordinate descent")
    assert lasso_kkt(X, y, w, 0.1, 0.0) < 1e-12


def test_penalty_weights_must_be_non_negative():
    X, y = make_problem(28, n=10, p=2)
    with pytest.raises(ValueError, match="l1_weights"):
        LeastSquares(X, y, l1_weights=np.array([-1.0, 0.0]))
