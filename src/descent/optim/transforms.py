"""Gradient transformations: each ``scale_by_x`` factory follows its state type (optax style).

Every factory returns a :class:`~descent.optim.base.GradientTransformation` whose ``update``
maps the incoming direction ``u`` (the gradient, for the first link of a chain) to a new one.
Only :func:`scale_by_learning_rate`, :func:`proximal_l1` and :func:`fista` produce the final
parameter change ``delta`` (negative sign included).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from descent.optim.base import (
    EmptyState,
    GradientTransformation,
    LearningRate,
    Params,
    Updates,
    as_schedule,
    check_positive,
)

ProxFn = Callable[[np.ndarray, float], np.ndarray]
HessianFn = Callable[[np.ndarray], np.ndarray]


def _check_unit(value: float, name: str, *, closed: bool = True) -> float:
    """``value`` in [0, 1) (or (0, 1) when not ``closed``), else ValueError."""
    value = float(value)
    low_ok = value >= 0 if closed else value > 0
    if not (low_ok and value < 1):
        raise ValueError(f"{name} must be in {'[0' if closed else '(0'}, 1), got {value!r}")
    return value


def scale_by_learning_rate(learning_rate: LearningRate) -> GradientTransformation:
    """Final step of a gradient method: ``delta = -lr(t) * u``.

    Args:
      learning_rate: a positive float or a schedule ``step -> lr``.

    Returns:
      A stateless GradientTransformation carrying ``learning_rate`` for the solver's trace.
    """
    if callable(learning_rate):
        schedule = learning_rate

        def update_fn(updates: Updates, state: EmptyState, params: Params, step: int):
            return -schedule(step) * updates, state
    else:
        negative = -check_positive(learning_rate, "learning_rate")

        def update_fn(updates: Updates, state: EmptyState, params: Params, step: int):
            return negative * updates, state

    return GradientTransformation(lambda params: EmptyState(), update_fn, False, learning_rate)


class TraceState(NamedTuple):
    """Momentum buffer ``m``."""

    trace: np.ndarray


def trace(decay: float = 0.9, *, nesterov: bool = False) -> GradientTransformation:
    """Momentum: ``m_t = g_t + β m_{t-1}``; output ``m_t``, or ``g_t + β m_t`` if Nesterov.

    Followed by ``scale_by_learning_rate(η)`` this is heavy ball
    ``w_{t+1} = w_t - η g_t + β (w_t - w_{t-1})`` (Polyak 1964), or with ``nesterov=True``
    Nesterov's accelerated gradient in the form of Sutskever et al. (2013), the parameters
    being the look-ahead point ``w + β v`` (Nesterov 1983).

    Args:
      decay: momentum coefficient β in [0, 1).
      nesterov: use the Nesterov look-ahead output.

    Returns:
      A GradientTransformation with state :class:`TraceState`.
    """
    beta = _check_unit(decay, "momentum decay")

    def init_fn(params: Params) -> TraceState:
        return TraceState(np.zeros_like(params, dtype=float))

    def update_fn(updates: Updates, state: TraceState, params: Params, step: int):
        m = updates + beta * state.trace
        out = updates + beta * m if nesterov else m
        return out, TraceState(m)

    return GradientTransformation(init_fn, update_fn)


class ScaleByRssState(NamedTuple):
    """Running sum of squared gradients ``G``."""

    sum_of_squares: np.ndarray


def scale_by_rss(
    *, initial_accumulator_value: float = 0.0, eps: float = 1e-10
) -> GradientTransformation:
    """Adagrad: ``G_t = G_{t-1} + g_t²``, ``u_t = g_t / (√G_t + ε)`` (Duchi et al. 2011).

    Args:
      initial_accumulator_value: starting value of ``G`` (≥ 0).
      eps: added to ``√G`` to avoid dividing by zero.

    Returns:
      A GradientTransformation with state :class:`ScaleByRssState`.
    """
    if initial_accumulator_value < 0:
        raise ValueError("initial_accumulator_value must be >= 0")
    eps = check_positive(eps, "eps")

    def init_fn(params: Params) -> ScaleByRssState:
        return ScaleByRssState(np.full_like(params, initial_accumulator_value, dtype=float))

    def update_fn(updates: Updates, state: ScaleByRssState, params: Params, step: int):
        total = state.sum_of_squares + updates * updates
        return updates / (np.sqrt(total) + eps), ScaleByRssState(total)

    return GradientTransformation(init_fn, update_fn)


class ScaleByRmsState(NamedTuple):
    """Exponential moving average of squared gradients ``v``."""

    nu: np.ndarray


def scale_by_rms(decay: float = 0.9, *, eps: float = 1e-8) -> GradientTransformation:
    """RMSprop: ``v_t = ρ v_{t-1} + (1-ρ) g_t²``, ``u_t = g_t / (√v_t + ε)``.

    Tieleman & Hinton (2012), COURSERA: Neural Networks for Machine Learning, lecture 6.5.

    Args:
      decay: ρ in [0, 1).
      eps: added to ``√v`` to avoid dividing by zero.

    Returns:
      A GradientTransformation with state :class:`ScaleByRmsState`.
    """
    rho = _check_unit(decay, "decay")
    eps = check_positive(eps, "eps")

    def init_fn(params: Params) -> ScaleByRmsState:
        return ScaleByRmsState(np.zeros_like(params, dtype=float))

    def update_fn(updates: Updates, state: ScaleByRmsState, params: Params, step: int):
        nu = rho * state.nu + (1.0 - rho) * (updates * updates)
        return updates / (np.sqrt(nu) + eps), ScaleByRmsState(nu)

    return GradientTransformation(init_fn, update_fn)


class ScaleByAdamState(NamedTuple):
    """Step count and the first and second moment estimates ``m``, ``v``."""

    count: int
    mu: np.ndarray
    nu: np.ndarray


def scale_by_adam(
    b1: float = 0.9, b2: float = 0.999, *, eps: float = 1e-8
) -> GradientTransformation:
    """Adam: ``u_t = m̂_t / (√v̂_t + ε)`` with bias-corrected moments (Kingma & Ba 2015).

    ``m_t = β1 m_{t-1} + (1-β1) g_t``, ``v_t = β2 v_{t-1} + (1-β2) g_t²``,
    ``m̂_t = m_t / (1-β1^t)``, ``v̂_t = v_t / (1-β2^t)``, ``t = 1, 2, ...``.

    Args:
      b1: β1 in [0, 1).
      b2: β2 in [0, 1).
      eps: added to ``√v̂``.

    Returns:
      A GradientTransformation with state :class:`ScaleByAdamState`.
    """
    b1 = _check_unit(b1, "b1")
    b2 = _check_unit(b2, "b2")
    eps = check_positive(eps, "eps")

    def init_fn(params: Params) -> ScaleByAdamState:
        zeros = np.zeros_like(params, dtype=float)
        return ScaleByAdamState(0, zeros, zeros.copy())

    def update_fn(updates: Updates, state: ScaleByAdamState, params: Params, step: int):
        count = state.count + 1
        mu = b1 * state.mu + (1.0 - b1) * updates
        nu = b2 * state.nu + (1.0 - b2) * (updates * updates)
        mu_hat = mu / (1.0 - b1**count)
        scale = math.sqrt(1.0 - b2**count)
        return mu_hat / (np.sqrt(nu) / scale + eps), ScaleByAdamState(count, mu, nu)

    return GradientTransformation(init_fn, update_fn)


def newton_direction(hessian: np.ndarray, grad: np.ndarray, damping: float = 0.0) -> np.ndarray:
    """Solve ``(H + λI) d = g``; min-norm least squares when ``H + λI`` is numerically singular."""
    matrix = np.asarray(hessian, dtype=float)
    if damping:
        matrix = matrix + damping * np.eye(matrix.shape[0])
    cutoff = 1.0 / (np.finfo(float).eps * matrix.shape[0])  # numpy.linalg.lstsq's rcond
    singular = not np.all(np.isfinite(matrix)) or not np.linalg.cond(matrix) < cutoff
    if not singular:
        try:
            direction = np.linalg.solve(matrix, grad)
        except np.linalg.LinAlgError:
            singular = True
        else:
            singular = not np.all(np.isfinite(direction))
    if singular:
        direction = np.linalg.lstsq(matrix, grad, rcond=None)[0]
    return direction


def scale_by_newton(hessian_fn: HessianFn, damping: float = 0.0) -> GradientTransformation:
    """Newton direction: ``u = (H(w) + λI)⁻¹ g`` (Levenberg damping λ ≥ 0).

    Solved with ``np.linalg.solve``; falls back to the min-norm ``np.linalg.lstsq`` solution
    when the damped Hessian is singular to working precision (rank-deficient designs).
    Followed by ``scale_by_learning_rate(1.0)`` it is the pure Newton step, exact in one
    step on a quadratic.

    Args:
      hessian_fn: ``params -> H`` (p × p).
      damping: λ ≥ 0 added to the diagonal.

    Returns:
      A stateless GradientTransformation.
    """
    if damping < 0 or not np.isfinite(damping):
        raise ValueError(f"damping must be a finite number >= 0, got {damping!r}")
    damping = float(damping)

    def update_fn(updates: Updates, state: EmptyState, params: Params, step: int):
        return newton_direction(hessian_fn(params), updates, damping), state

    return GradientTransformation(lambda params: EmptyState(), update_fn)


def proximal_l1(prox_fn: ProxFn, learning_rate: LearningRate) -> GradientTransformation:
    """Proximal step, the last link: ``delta = prox_{η(t)}(w + u) - w`` (ISTA when ``u = -η g``).

    With ``u = -η ∇f(w)`` from :func:`scale_by_learning_rate` this is the proximal gradient
    (forward-backward) step ``w⁺ = prox_{η λ|·|₁}(w - η ∇f(w))`` (Beck & Teboulle 2009).

    Args:
      prox_fn: ``(v, η) -> argmin_x λ|x|₁ + |x - v|²/(2η)`` (soft-thresholding).
      learning_rate: the float or schedule η used by the preceding link.

    Returns:
      A stateless, proximal GradientTransformation.
    """
    schedule = as_schedule(learning_rate)

    def update_fn(updates: Updates, state: EmptyState, params: Params, step: int):
        return prox_fn(params + updates, schedule(step)) - params, state

    return GradientTransformation(lambda params: EmptyState(), update_fn, True, learning_rate)


class FistaState(NamedTuple):
    """Last proximal point ``x_k`` and the momentum sequence ``t_k``."""

    x: np.ndarray
    t: float


def fista(prox_fn: ProxFn, learning_rate: LearningRate) -> GradientTransformation:
    """FISTA, the last link (Beck & Teboulle 2009); the solver's params are the point ``y_k``.

    ``x_{k+1} = prox_η(y_k + u)`` with ``u = -η ∇f(y_k)``,
    ``t_{k+1} = (1 + √(1 + 4 t_k²)) / 2``,
    ``y_{k+1} = x_{k+1} + ((t_k - 1)/t_{k+1}) (x_{k+1} - x_k)``, ``delta = y_{k+1} - y_k``;
    ``x_0 = y_0``, ``t_0 = 1``.

    Args:
      prox_fn: ``(v, η) -> prox`` of the L1 term (identity without one: Nesterov 1983).
      learning_rate: the float or schedule η used by the preceding link.

    Returns:
      A proximal GradientTransformation with state :class:`FistaState`.
    """
    schedule = as_schedule(learning_rate)

    def init_fn(params: Params) -> FistaState:
        return FistaState(np.array(params, dtype=float, copy=True), 1.0)

    def update_fn(updates: Updates, state: FistaState, params: Params, step: int):
        x_new = prox_fn(params + updates, schedule(step))
        t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * state.t * state.t))
        y_new = x_new + ((state.t - 1.0) / t_new) * (x_new - state.x)
        return y_new - params, FistaState(x_new, t_new)

    return GradientTransformation(init_fn, update_fn, True, learning_rate)
