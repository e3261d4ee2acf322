"""Transformations, chain and named optimizers against hand-written textbook recursions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optim_helpers import TinyLeastSquares, random_problem

from descent.optim import (
    OPTIMIZERS,
    GradientTransformation,
    adagrad,
    adam,
    chain,
    fista,
    gd,
    make_optimizer,
    momentum,
    nesterov,
    newton,
    optimizer_options,
    proximal_gradient,
    rmsprop,
)
from descent.optim import transforms as tx
from descent.optim.schedules import inverse_time

NAMES = ["gd", "sgd", "minibatch", "momentum", "nesterov", "adagrad", "rmsprop", "adam",
         "newton", "proximal", "fista"]


def run(optimizer: GradientTransformation, problem, w0: np.ndarray, steps: int) -> list:
    """Apply ``steps`` updates by hand (no solver); return every iterate."""
    w, state, path = w0.copy(), optimizer.init(w0), [w0.copy()]
    for k in range(steps):
        g = problem.smooth_value_and_grad(w)[1]
        delta, state = optimizer.update(g, state, w, k)
        w = w + delta
        path.append(w)
    return path


@pytest.fixture
def problem() -> TinyLeastSquares:
    return random_problem(3, n=40, p=3)


def test_gd_is_the_textbook_step(problem):
    w0 = np.array([1.0, -2.0, 0.5])
    path = run(gd(0.3), problem, w0, 5)
    w = w0.copy()
    for k in range(5):
        w = w - 0.3 * problem.smooth_value_and_grad(w)[1]
        np.testing.assert_allclose(path[k + 1], w, rtol=1e-14, atol=1e-14)


def test_momentum_chain_matches_heavy_ball(problem):
    # Polyak: w_{k+1} = w_k - lr g_k + beta (w_k - w_{k-1})
    lr, beta, w0 = 0.2, 0.7, np.array([2.0, 1.0, -1.0])
    path = run(chain(tx.trace(beta), tx.scale_by_learning_rate(lr)), problem, w0, 30)
    w_prev, w = w0.copy(), w0.copy()
    for k in range(30):
        w_next = w - lr * problem.smooth_value_and_grad(w)[1] + beta * (w - w_prev)
        w_prev, w = w, w_next
        np.testing.assert_allclose(path[k + 1], w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(run(momentum(lr, momentum=beta), problem, w0, 30)[-1], w)


def test_nesterov_params_are_the_sutskever_lookahead_point(problem):
    # Sutskever et al. 2013: v_{k+1} = mu v_k - lr g(w_k + mu v_k); w_{k+1} = w_k + v_{k+1}
    lr, mu, w0 = 0.2, 0.8, np.array([1.0, 3.0, -2.0])
    path = run(nesterov(lr, momentum=mu), problem, w0, 25)
    w, v = w0.copy(), np.zeros(3)
    for k in range(25):
        v = mu * v - lr * problem.smooth_value_and_grad(w + mu * v)[1]
        w = w + v
        np.testing.assert_allclose(path[k + 1], w + mu * v, rtol=1e-11, atol=1e-11)


def test_adam_matches_kingma_ba_algorithm_1(problem):
    lr, b1, b2, eps, w0 = 0.05, 0.8, 0.99, 1e-8, np.array([0.5, -0.5, 2.0])
    path = run(adam(lr, b1=b1, b2=b2, eps=eps), problem, w0, 20)
    w, m, v = w0.copy(), np.zeros(3), np.zeros(3)
    for t in range(1, 21):
        g = problem.smooth_value_and_grad(w)[1]
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        np.testing.assert_allclose(path[t], w, rtol=1e-12, atol=1e-12)


def test_adagrad_and_rmsprop_recursions(problem):
    w0 = np.array([1.0, 1.0, 1.0])
    ada, rms = run(adagrad(0.5), problem, w0, 10), run(rmsprop(0.01, decay=0.95), problem, w0, 10)
    w, total = w0.copy(), np.zeros(3)
    for k in range(10):
        g = problem.smooth_value_and_grad(w)[1]
        total += g**2
        w = w - 0.5 * g / (np.sqrt(total) + 1e-10)
        np.testing.assert_allclose(ada[k + 1], w, rtol=1e-12)
    w, avg = w0.copy(), np.zeros(3)
    for k in range(10):
        g = problem.smooth_value_and_grad(w)[1]
        avg = 0.95 * avg + 0.05 * g**2
        w = w - 0.01 * g / (np.sqrt(avg) + 1e-8)
        np.testing.assert_allclose(rms[k + 1], w, rtol=1e-12)


def test_learning_rate_schedule_is_evaluated_at_each_step(problem):
    w0 = np.array([1.0, 2.0, 3.0])
    path = run(gd(inverse_time(0.4, 0.5)), problem, w0, 6)
    w = w0.copy()
    for k in range(6):
        w = w - 0.4 / (1 + 0.5 * k) * problem.smooth_value_and_grad(w)[1]
    np.testing.assert_allclose(path[-1], w, rtol=1e-13)


def test_newton_one_step_on_a_quadratic(problem):
    w_star = np.linalg.lstsq(problem.X, problem.y, rcond=None)[0]
    path = run(newton(problem.hessian), problem, np.array([10.0, -7.0, 3.0]), 1)
    np.testing.assert_allclose(path[1], w_star, rtol=1e-10, atol=1e-10)


def test_newton_direction_singular_falls_back_to_min_norm():
    H = np.array([[1.0, 1.0], [1.0, 1.0]])
    g = np.array([2.0, 2.0])
    d = tx.newton_direction(H, g)
    np.testing.assert_allclose(d, [1.0, 1.0], rtol=1e-12)  # min-norm solution of H d = g
    damped = np.linalg.solve(H + np.eye(2), g)
    np.testing.assert_allclose(tx.newton_direction(H, g, damping=1.0), damped)


def test_proximal_step_is_soft_thresholded_gradient_step():
    problem = random_problem(5, n=30, p=3, l1_weights=np.array([0.0, 0.5, 0.5]))
    w = np.array([0.3, -0.2, 0.05])
    g = problem.smooth_value_and_grad(w)[1]
    opt = proximal_gradient(0.1, problem.prox_l1)
    delta, _ = opt.update(g, opt.init(w), w, 0)
    v = w - 0.1 * g
    expected = np.sign(v) * np.maximum(np.abs(v) - 0.1 * problem.l1_weights, 0)
    np.testing.assert_allclose(w + delta, expected, rtol=1e-14)
    assert opt.proximal and not gd(0.1).proximal


def test_fista_matches_beck_teboulle_recursion():
    problem = random_problem(6, n=30, p=4, l1_weights=np.full(4, 0.3))
    lr, w0 = 1.0 / problem.lipschitz(), np.array([1.0, -1.0, 0.5, 2.0])
    path = run(fista(lr, problem.prox_l1), problem, w0, 15)
    x_old, y, t = w0.copy(), w0.copy(), 1.0
    for k in range(15):
        x = problem.prox_l1(y - lr * problem.smooth_value_and_grad(y)[1], lr)
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        y = x + (t - 1) / t_new * (x - x_old)
        x_old, t = x, t_new
        np.testing.assert_allclose(path[k + 1], y, rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=3, max_size=3), st.floats(0.01, 0.5))
def test_chain_of_one_link_equals_the_link(values, lr):
    w, g = np.zeros(3), np.array(values)
    single = tx.scale_by_learning_rate(lr)
    chained = chain(single)
    assert np.array_equal(single.update(g, single.init(w), w, 0)[0],
                          chained.update(g, chained.init(w), w, 0)[0])


def test_chain_rejects_a_proximal_link_before_the_end():
    prox = tx.proximal_l1(lambda v, s: v, 0.1)
    with pytest.raises(ValueError, match="last link"):
        chain(prox, tx.scale_by_learning_rate(0.1))
    with pytest.raises(ValueError):
        chain()


@pytest.mark.parametrize("name", NAMES)
def test_make_optimizer_builds_every_name(name, problem):
    opt = make_optimizer(name, learning_rate=0.1, objective=problem)
    assert isinstance(opt, GradientTransformation)
    assert opt.proximal == (name in {"proximal", "fista"})
    path = run(opt, problem, np.zeros(3), 3)
    assert all(np.all(np.isfinite(w)) for w in path)
    assert problem.value(path[-1]) < problem.value(path[0])


def test_optimizers_table_lists_exactly_the_valid_names():
    assert list(OPTIMIZERS) == NAMES
    assert all(isinstance(text, str) and text for text in OPTIMIZERS.values())
    assert optimizer_options("adam") == {"b1": 0.9, "b2": 0.999, "eps": 1e-8}


def test_make_optimizer_errors_are_clear(problem):
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamw'.*valid: gd, sgd"):
        make_optimizer("adamw", learning_rate=0.1)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['beta1'\].*valid: b1, b2, eps"):
        make_optimizer("adam", learning_rate=0.1, beta1=0.9)
    with pytest.raises(ValueError, match="b1 must be in"):
        make_optimizer("adam", learning_rate=0.1, b1=1.5)
    with pytest.raises(ValueError, match="learning_rate must be a positive"):
        make_optimizer("gd", learning_rate=-1.0)
    with pytest.raises(ValueError, match="needs objective"):
        make_optimizer("newton", learning_rate=1.0)
    with pytest.raises(ValueError, match="needs objective"):
        make_optimizer("fista", learning_rate=1.0)


def test_proximal_without_l1_is_plain_gradient_descent(problem):
    w0 = np.array([1.0, 2.0, -1.0])
    prox = run(make_optimizer("proximal", learning_rate=0.2, objective=problem), problem, w0, 5)
    np.testing.assert_allclose(prox[-1], run(gd(0.2), problem, w0, 5)[-1], rtol=1e-14)
