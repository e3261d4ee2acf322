"""A scikit-learn estimator over :func:`descent.fitting.fit_variant`.

:class:`GDRegressor` is what a user calls from Python: its constructor parameters are the keys
of a variant in ``config/config.yaml`` (``seed`` is ``random_state``, ``penalty`` is ``alpha``
and ``l1_ratio``), ``fit`` builds a :class:`~descent.features.Design` from the arrays and hands
it to :func:`~descent.fitting.fit_variant`, the one place that turns a variant into a fit. No
optimizer is implemented here.

This module needs scikit-learn (``pip install descent[test]`` or ``scikit-learn>=1.4``); the rest
of descent does not, so ``import descent`` never imports it (``descent.GDRegressor`` is loaded
on first use).
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from descent import fitting
from descent.features import INTERCEPT, Design, _center_scale

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - scikit-learn 1.4 and 1.5

    def _validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)


__all__ = ["GDRegressor"]


class GDRegressor(RegressorMixin, BaseEstimator):
    """Linear regression fitted by a gradient-descent variant, measured against the exact optimum.

    Minimizes ``0.5·mean((y − Xw − b)²) + alpha·(l1_ratio·‖w‖₁ + 0.5·(1 − l1_ratio)·‖w‖²)``,
    scikit-learn's ElasticNet objective: ``alpha`` with ``l1_ratio=1`` is ``Lasso(alpha)``, with
    ``l1_ratio=0`` it is ``Ridge(alpha=n·alpha)``. The problem is solved in standardized
    coordinates (unless ``standardize=False``) and reported in the data's units. Every fit also
    computes the exact optimum (SVD, ridge closed form, or coordinate descent for L1), so
    ``gap_`` says how far the optimizer got.

    Requires scikit-learn (the rest of descent does not).

    Args:
      optimizer: a name of :data:`descent.optim.OPTIMIZERS` ("gd", "sgd", "minibatch",
        "momentum", "nesterov", "adagrad", "rmsprop", "adam", "newton", "proximal", "fista").
        Use "proximal" or "fista" when ``l1_ratio > 0``, and give "newton"
        ``learning_rate=1.0`` (its step is already scaled by the inverse Hessian).
      learning_rate: a positive float (in standardized coordinates when ``standardize``), or
        "auto" for ``lr_factor / L`` with L the Lipschitz constant of the problem (of single
        rows for mini-batches, so the default is safe for every batch).
      lr_factor: multiplier of ``1/L`` when ``learning_rate="auto"``; GD diverges beyond 2.
      schedule: None (constant), a schedule name ("reduce_on_plateau", "constant") or a dict
        ``{"name": "step_decay", "every": 100, "factor": 0.5}`` of
        :func:`descent.optim.make_schedule`.
      alpha: penalty strength ≥ 0 (0: ordinary least squares).
      l1_ratio: share of L1 in the penalty, in [0, 1].
      batch_size: None for full batch; b rows per step otherwise ("sgd" defaults to 1).
      max_iter: maximum number of updates.
      max_passes: optional budget of data passes (full-batch step = 1, mini-batch = b/n).
      tol: stop when the relative loss change is ≤ tol (and the gradient is small).
      gtol: stop when the gradient norm is ≤ ``gtol·max(1, ‖g₀‖)``.
      restarts: number of starts (zero, then seeded normal draws); the best is kept.
      options: the optimizer's own keywords, e.g. ``{"momentum": 0.9}`` or ``{"b1": 0.9}``.
      fit_intercept: fit an unpenalized intercept.
      standardize: solve in standardized coordinates (an exact reparametrisation).
      random_state: seed of mini-batch sampling and restarts (int, None or a RandomState).

    Attributes:
      coef_: coefficients of the features, in the data's units.
      intercept_: the intercept (0.0 without ``fit_intercept``).
      n_iter_: number of updates of the best run.
      loss_curve_: the objective per traced step, in the data's units (the solver thins the
        trace to at most 2000 points, always keeping the first and the last).
      status_: "converged", "max_iter" or "diverged".
      gap_: relative gap ``(loss − loss*)/loss*`` of the reported coefficients to the exact
        optimum.
      optimal_coef_, optimal_intercept_: the exact optimum of the same objective.
      n_features_in_: number of features seen in ``fit``.
      record_: the full record of :func:`descent.fitting.fit_variant` (loss, distance, lr, ...).

    Example:
      >>> from descent.estimator import GDRegressor
      >>> model = GDRegressor(optimizer="adam", learning_rate=0.05).fit(X, y)  # doctest: +SKIP
      >>> model.status_, model.gap_                                             # doctest: +SKIP
    """

    def __init__(
        self,
        optimizer: str = "gd",
        learning_rate: float | str = "auto",
        lr_factor: float = 1.0,
        schedule: dict | str | None = None,
        alpha: float = 0.0,
        l1_ratio: float = 0.0,
        batch_size: int | None = None,
        max_iter: int = 5000,
        max_passes: float | None = None,
        tol: float = 1e-12,
        gtol: float = 1e-9,
        restarts: int = 1,
        options: dict | None = None,
        fit_intercept: bool = True,
        standardize: bool = True,
        random_state: Any = 0,
    ) -> None:
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.lr_factor = lr_factor
        self.schedule = schedule
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.max_passes = max_passes
        self.tol = tol
        self.gtol = gtol
        self.restarts = restarts
        self.options = options
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.random_state = random_state

    # --- the variant ------------------------------------------------------------------------

    def _variant(self) -> dict[str, Any]:
        """The constructor parameters as a variant of ``config/config.yaml``."""
        alpha, l1_ratio = float(self.alpha), float(self.l1_ratio)
        if not (np.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha must be a finite number >= 0, got {self.alpha!r}")
        if not 0.0 <= l1_ratio <= 1.0:
            raise ValueError(f"l1_ratio must be in [0, 1], got {self.l1_ratio!r}")
        schedule = self.schedule
        if isinstance(schedule, str):
            schedule = {"name": schedule}
        elif schedule is not None and not isinstance(schedule, dict):
            raise ValueError(f"schedule must be None, a name or a dict, got {schedule!r}")
        return {
            "optimizer": self.optimizer,
            "learning_rate": self.learning_rate,
            "lr_factor": self.lr_factor,
            "schedule": schedule,
            "penalty": {"alpha": alpha, "l1_ratio": l1_ratio} if alpha > 0 else None,
            "batch_size": self.batch_size,
            "max_iter": self.max_iter,
            "max_passes": self.max_passes,
            "tol": self.tol,
            "gtol": self.gtol,
            "seed": _seed(self.random_state),
            "restarts": self.restarts,
            "standardize": bool(self.standardize),
            "options": dict(self.options or {}),
        }

    # --- scikit-learn API -------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> GDRegressor:
        """Fit the variant to ``(X, y)``; warns (ConvergenceWarning) unless it converged.

        Args:
          X: (n_samples, n_features) array-like.
          y: (n_samples,) targets.

        Returns:
          self.
        """
        X, y = _validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        variant = self._variant()
        design = design_from_arrays(X, y, fit_intercept=self.fit_intercept)
        frame = fitting.coordinates(design, self.standardize)
        record, trace = fitting.fit_design(design, type(self).__name__, variant)
        coef, optimal = np.asarray(record["coef"]), np.asarray(record["optimal_coef"])
        k = 1 if self.fit_intercept else 0
        self.coef_, self.optimal_coef_ = coef[k:], optimal[k:]
        self.intercept_ = float(coef[0]) if k else 0.0
        self.optimal_intercept_ = float(optimal[0]) if k else 0.0
        self.n_iter_ = int(record["iterations"])
        self.status_ = str(record["status"])
        self.gap_ = float(record["gap"])
        self.loss_curve_ = np.asarray(trace["loss"], dtype=float) * frame.y_scale**2
        self.record_ = record
        if self.status_ != "converged":
            warnings.warn(_convergence_message(record), ConvergenceWarning, stacklevel=2)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """``X @ coef_ + intercept_``."""
        check_is_fitted(self)
        X = _validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_ + self.intercept_


def design_from_arrays(X: np.ndarray, y: np.ndarray, *, fit_intercept: bool = True) -> Design:
    """The :class:`Design` of plain arrays: terms "intercept" (first), "x0", "x1", ...

    Center and scale are those :func:`descent.features.build_design` computes.
    """
    X = np.asarray(X, dtype=np.float64)
    terms = [f"x{j}" for j in range(X.shape[1])]
    if fit_intercept:
        X = np.column_stack([np.ones(X.shape[0]), X])
        terms = [INTERCEPT, *terms]
    center, scale = _center_scale(X, fit_intercept)
    y = np.asarray(y, dtype=np.float64)
    return Design(X, y, terms, "y", center, scale, fit_intercept)


def _seed(random_state: Any) -> int:
    """An int seed: the int itself (the same run as ``seed:`` in the config), else drawn."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _convergence_message(record: dict[str, Any]) -> str:
    """What a ConvergenceWarning says: the status, the solver's message and the gap."""
    head = {
        "diverged": "GDRegressor diverged (returning the last finite coefficients)",
        "max_iter": "GDRegressor did not converge",
    }.get(record["status"], f"GDRegressor: {record['status']}")
    hint = ""
    if record["status"] == "diverged" or record.get("lr_unstable"):
        hint = "; lower learning_rate or lr_factor"
    elif record["status"] == "max_iter":
        hint = "; increase max_iter, or try optimizer='newton' / a larger learning rate"
    return f"{head}: {record['message']}; relative gap {record['gap']:.3g}{hint}"
