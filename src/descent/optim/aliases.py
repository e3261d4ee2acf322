"""Named optimizers: each one is a docstring around a single :func:`chain` call (optax style).

:func:`make_optimizer` builds one by name for the configuration and the command line;
:data:`OPTIMIZERS` describes every name in one line.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from descent.optim import transforms as tx
from descent.optim.base import GradientTransformation, LearningRate, chain


def gd(learning_rate: LearningRate) -> GradientTransformation:
    """Gradient descent: ``w_{t+1} = w_t - η_t ∇f(w_t)`` (Cauchy 1847).

    Args:
      learning_rate: η, a float or a schedule.

    Returns:
      The optimizer. Example: ``solve(objective, gd(0.1), w0)``.
    """
    return chain(tx.scale_by_learning_rate(learning_rate))


def momentum(learning_rate: LearningRate, momentum: float = 0.9) -> GradientTransformation:
    """Heavy ball: ``w_{t+1} = w_t - η g_t + β (w_t - w_{t-1})`` (Polyak 1964).

    Args:
      learning_rate: η, a float or a schedule.
      momentum: β in [0, 1).

    Returns:
      The optimizer.
    """
    return chain(tx.trace(momentum), tx.scale_by_learning_rate(learning_rate))


def nesterov(learning_rate: LearningRate, momentum: float = 0.9) -> GradientTransformation:
    """Nesterov momentum: ``m_t = g_t + β m_{t-1}``, ``w_{t+1} = w_t - η (g_t + β m_t)``.

    Nesterov (1983) in the form of Sutskever et al. (2013); the parameters are the look-ahead
    point at which the gradient is taken.

    Args:
      learning_rate: η, a float or a schedule.
      momentum: β in [0, 1).

    Returns:
      The optimizer.
    """
    return chain(tx.trace(momentum, nesterov=True), tx.scale_by_learning_rate(learning_rate))


def adagrad(
    learning_rate: LearningRate, eps: float = 1e-10, initial_accumulator_value: float = 0.0
) -> GradientTransformation:
    """Adagrad: ``w_{t+1} = w_t - η g_t / (√(Σ_s g_s²) + ε)`` (Duchi et al. 2011).

    Args:
      learning_rate: η, a float or a schedule.
      eps: ε.
      initial_accumulator_value: starting value of the sum of squares.

    Returns:
      The optimizer.
    """
    return chain(
        tx.scale_by_rss(initial_accumulator_value=initial_accumulator_value, eps=eps),
        tx.scale_by_learning_rate(learning_rate),
    )


def rmsprop(
    learning_rate: LearningRate, decay: float = 0.9, eps: float = 1e-8
) -> GradientTransformation:
    """RMSprop: ``v_t = ρ v_{t-1} + (1-ρ) g_t²``, ``w_{t+1} = w_t - η g_t / (√v_t + ε)``.

    Tieleman & Hinton (2012), lecture 6.5 of Neural Networks for Machine Learning.

    Args:
      learning_rate: η, a float or a schedule.
      decay: ρ in [0, 1).
      eps: ε.

    Returns:
      The optimizer.
    """
    return chain(tx.scale_by_rms(decay, eps=eps), tx.scale_by_learning_rate(learning_rate))


def adam(
    learning_rate: LearningRate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> GradientTransformation:
    """Adam: ``w_{t+1} = w_t - η m̂_t / (√v̂_t + ε)``, bias-corrected moments (Kingma & Ba 2015).

    Args:
      learning_rate: η, a float or a schedule.
      b1: β1, decay of the first moment.
      b2: β2, decay of the second moment.
      eps: ε.

    Returns:
      The optimizer.
    """
    return chain(tx.scale_by_adam(b1, b2, eps=eps), tx.scale_by_learning_rate(learning_rate))


def newton(
    hessian_fn: tx.HessianFn, learning_rate: LearningRate = 1.0, damping: float = 0.0
) -> GradientTransformation:
    """Damped Newton: ``w_{t+1} = w_t - η (H(w_t) + λI)⁻¹ ∇f(w_t)``; one step on a quadratic.

    Args:
      hessian_fn: ``params -> H``.
      learning_rate: η (1 is the pure Newton step).
      damping: λ ≥ 0 (Levenberg–Marquardt regularisation).

    Returns:
      The optimizer.
    """
    return chain(tx.scale_by_newton(hessian_fn, damping), tx.scale_by_learning_rate(learning_rate))


def proximal_gradient(learning_rate: LearningRate, prox_fn: tx.ProxFn) -> GradientTransformation:
    """ISTA: ``w_{t+1} = prox_{η λ|·|₁}(w_t - η ∇f(w_t))`` (Beck & Teboulle 2009).

    Args:
      learning_rate: η ≤ 1/L for the O(1/t) guarantee; a float or a schedule.
      prox_fn: ``(v, η) -> prox`` of the L1 term, e.g. ``objective.prox_l1``.

    Returns:
      The (proximal) optimizer; the solver feeds it the smooth gradient only.
    """
    return chain(tx.scale_by_learning_rate(learning_rate), tx.proximal_l1(prox_fn, learning_rate))


def fista(learning_rate: LearningRate, prox_fn: tx.ProxFn) -> GradientTransformation:
    """FISTA: ISTA at the extrapolated point ``y_k``, O(1/t²) (Beck & Teboulle 2009).

    Args:
      learning_rate: η ≤ 1/L; a float or a schedule.
      prox_fn: ``(v, η) -> prox`` of the L1 term, e.g. ``objective.prox_l1``.

    Returns:
      The (proximal) optimizer; its parameters are the extrapolated points ``y_k``.
    """
    return chain(tx.scale_by_learning_rate(learning_rate), tx.fista(prox_fn, learning_rate))


def _identity_prox(v: np.ndarray, step: float) -> np.ndarray:
    """The prox of the zero function."""
    return v


def _prox_of(objective: Any, name: str) -> tx.ProxFn:
    """``objective.prox_l1`` (identity for an objective without an L1 term)."""
    if objective is None:
        raise ValueError(f"optimizer {name!r} needs objective= (for its prox_l1)")
    if not getattr(objective, "has_l1", False) or not hasattr(objective, "prox_l1"):
        return _identity_prox
    return objective.prox_l1


def _hessian_of(objective: Any, name: str) -> tx.HessianFn:
    """``objective.hessian`` or a clear error."""
    if objective is None or not hasattr(objective, "hessian"):
        raise ValueError(f"optimizer {name!r} needs objective= with a hessian(w) method")
    return objective.hessian


_BUILDERS: dict[str, tuple[Callable[..., GradientTransformation], str | None, str]] = {
    # name: (alias, what it takes from the objective, one-line description)
    "gd": (gd, None, "gradient descent, full batch"),
    "sgd": (gd, None, "stochastic gradient descent: gd on one sample per step"),
    "minibatch": (gd, None, "mini-batch gradient descent: gd on batch_size rows per step"),
    "momentum": (momentum, None, "heavy-ball momentum (Polyak 1964)"),
    "nesterov": (nesterov, None, "Nesterov accelerated gradient (Nesterov 1983; Sutskever 2013)"),
    "adagrad": (adagrad, None, "Adagrad, per-coordinate steps from summed g² (Duchi 2011)"),
    "rmsprop": (rmsprop, None, "RMSprop, steps from a moving average of g² (Tieleman 2012)"),
    "adam": (adam, None, "Adam, bias-corrected moment estimates (Kingma & Ba 2015)"),
    "newton": (newton, "hessian", "damped Newton's method with the exact Hessian"),
    "proximal": (proximal_gradient, "prox", "proximal gradient / ISTA for L1 (Beck 2009)"),
    "fista": (fista, "prox", "FISTA, accelerated proximal gradient (Beck & Teboulle 2009)"),
}

#: Every name :func:`make_optimizer` accepts, with a one-line description.
OPTIMIZERS: dict[str, str] = {name: entry[2] for name, entry in _BUILDERS.items()}


def optimizer_options(name: str) -> dict[str, Any]:
    """The keyword options of optimizer ``name`` with their defaults."""
    alias = _builder(name)[0]
    skip = {"learning_rate", "hessian_fn", "prox_fn"}
    return {
        key: param.default
        for key, param in inspect.signature(alias).parameters.items()
        if key not in skip
    }


def _builder(name: str) -> tuple[Callable[..., GradientTransformation], str | None, str]:
    if name not in _BUILDERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(_BUILDERS)}")
    return _BUILDERS[name]


def make_optimizer(
    name: str, *, learning_rate: LearningRate, objective: Any = None, **options: Any
) -> GradientTransformation:
    """The optimizer called ``name`` (a key of :data:`OPTIMIZERS`).

    Args:
      name: e.g. ``"adam"``; "gd", "sgd" and "minibatch" are the same transformation (the
        sampling is the solver's ``batch_size``).
      learning_rate: a positive float or a schedule ``step -> lr``.
      objective: needed by "newton" (``objective.hessian``) and by "proximal" / "fista"
        (``objective.prox_l1``; the identity when the objective has no L1 term).
      **options: the alias's own keywords, e.g. ``momentum=0.9`` or ``b1=0.9, b2=0.999``.

    Returns:
      The GradientTransformation.

    Raises:
      ValueError: unknown name, unknown option, or an option value out of range.
    """
    alias, needs, _ = _builder(name)
    valid = optimizer_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        listed = ", ".join(valid) or "none"
        raise ValueError(f"unknown option(s) {unknown} for optimizer {name!r}; valid: {listed}")
    args: tuple = ()
    if needs == "hessian":
        args = (_hessian_of(objective, name),)
    try:
        if needs == "prox":
            return alias(learning_rate, _prox_of(objective, name), **options)
        return alias(*args, learning_rate=learning_rate, **options)
    except (TypeError, ValueError) as err:
        raise ValueError(f"bad option for optimizer {name!r}: {err}") from None
