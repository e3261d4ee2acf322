"""A non-convex model family: one Gaussian peak on a baseline.

``m(x; w) = a · exp(−(x − μ)² / (2 s²)) + c`` with ``w = [a, μ, s, c]`` and the objective
``f(w) = 0.5 · mean((y − m(x; w))²)``. Different starts can end in different local minima, so
the reference for this family is the best of many restarts, each polished by
:func:`polish_newton` — a certificate of nothing, which the report must say.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GaussianPeak", "polish_newton"]

PARAM_NAMES = ("a", "mu", "s", "c")


class GaussianPeak:
    """``0.5·mean((y − a·exp(−(x−μ)²/(2s²)) − c)²)`` with analytic gradient and Hessian.

    Args:
        x: n inputs (1-D).
        y: n targets.

    Interface mirrors :class:`descent.objective.LeastSquares` where meaningful
    (``value``, ``value_and_grad``, ``smooth_value_and_grad``, ``batch_grad``, ``hessian``,
    ``lipschitz``, ``strong_convexity``, ``prox_l1``, ``n_samples``, ``n_features``, ``has_l1``).
    Values at ``s = 0`` or after overflow are ``inf`` (never NaN) so a solver sees divergence.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.terms = list(PARAM_NAMES)
        self.x = np.asarray(x, dtype=np.float64).ravel()
        self.y = np.asarray(y, dtype=np.float64).ravel()
        if self.x.shape != self.y.shape or self.x.size == 0:
            raise ValueError("x and y must be non-empty and of the same length")
        self.n_samples = int(self.x.size)
        self.n_features = 4
        self.has_l1 = False
        self.l1_weights = np.zeros(4)
        self.l2_weights = np.zeros(4)

    # -- pieces ----------------------------------------------------------------------------

    def _parts(self, w: np.ndarray, rows=None):
        """Residual ``r = m − y``, the Jacobian ``J`` (n×4) and the pieces used by the Hessian."""
        x = self.x if rows is None else self.x[rows]
        y = self.y if rows is None else self.y[rows]
        a, mu, s, c = (float(v) for v in w)
        u = x - mu
        e = np.exp(-(u * u) / (2.0 * s * s))
        r = a * e + c - y
        jac = np.column_stack([e, a * e * u / s**2, a * e * u * u / s**3, np.ones_like(x)])
        return r, jac, u, e

    @staticmethod
    def _finite(value: float) -> float:
        """Non-finite values become ``inf``."""
        return value if np.isfinite(value) else float("inf")

    # -- objective interface ---------------------------------------------------------------

    def value(self, w: np.ndarray) -> float:
        """``0.5 · mean(r²)``."""
        with np.errstate(all="ignore"):
            r, _, _, _ = self._parts(w)
            return self._finite(0.5 * float(np.mean(r * r)))

    def value_and_grad(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        """Value and analytic gradient ``J^T r / n``."""
        with np.errstate(all="ignore"):
            r, jac, _, _ = self._parts(w)
            value = self._finite(0.5 * float(np.mean(r * r)))
            return value, jac.T @ r / self.n_samples

    smooth_value_and_grad = value_and_grad

    def batch_grad(self, w: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Gradient on the rows ``rows`` (mean over them)."""
        rows = np.asarray(rows)
        with np.errstate(all="ignore"):
            r, jac, _, _ = self._parts(w, rows)
            return jac.T @ r / max(rows.size, 1)

    def hessian(self, w: np.ndarray) -> np.ndarray:
        """Analytic Hessian ``(J^T J + Σ_i r_i ∇²m_i) / n``.

        With ``u = x − μ``: ``m_aμ = e u/s²``, ``m_as = e u²/s³``,
        ``m_μμ = a e (u²/s⁴ − 1/s²)``, ``m_μs = a e (u³/s⁵ − 2u/s³)``,
        ``m_ss = a e (u⁴/s⁶ − 3u²/s⁴)``; all derivatives involving ``a`` twice or ``c`` vanish.
        """
        a, _, s = float(w[0]), float(w[1]), float(w[2])
        with np.errstate(all="ignore"):
            r, jac, u, e = self._parts(w)
            second = np.zeros((4, 4))
            second[0, 1] = second[1, 0] = np.sum(r * e * u) / s**2
            second[0, 2] = second[2, 0] = np.sum(r * e * u**2) / s**3
            second[1, 1] = a * np.sum(r * e * (u**2 / s**4 - 1.0 / s**2))
            second[1, 2] = second[2, 1] = a * np.sum(r * e * (u**3 / s**5 - 2.0 * u / s**3))
            second[2, 2] = a * np.sum(r * e * (u**4 / s**6 - 3.0 * u**2 / s**4))
            return (jac.T @ jac + second) / self.n_samples

    def lipschitz(self, w: np.ndarray | None = None) -> float:
        """Local smoothness estimate: largest |eigenvalue| of the Hessian at ``w``.

        Default point: :meth:`default_start`. Only local — the model is not globally smooth.
        """
        point = self.default_start() if w is None else np.asarray(w, dtype=np.float64)
        eig = np.linalg.eigvalsh(self.hessian(point))
        return float(np.max(np.abs(eig)))

    def strong_convexity(self, w: np.ndarray | None = None) -> float:
        """Smallest Hessian eigenvalue at ``w`` (may be negative: the problem is non-convex)."""
        point = self.default_start() if w is None else np.asarray(w, dtype=np.float64)
        return float(np.linalg.eigvalsh(self.hessian(point))[0])

    def prox_l1(self, w: np.ndarray, step: float) -> np.ndarray:
        """No L1 term: the identity (kept for interface symmetry)."""
        return np.array(w, dtype=np.float64)

    # -- starts ----------------------------------------------------------------------------

    def default_start(self) -> np.ndarray:
        """Data-driven start: peak at the largest y, width = std(x), baseline = min(y)."""
        spread = float(np.std(self.x)) or 1.0
        top = int(np.argmax(self.y))
        return np.array(
            [np.ptp(self.y), self.x[top], spread, float(np.min(self.y))], dtype=np.float64
        )

    def initial_points(self, k: int, rng: np.random.Generator) -> np.ndarray:
        """``k`` random starts (k×4) spread over the data range.

        ``a ~ U(−1, 1)·2·ptp(y)``, ``μ ~ U(min x, max x)``, ``s`` log-uniform in
        ``[ptp(x)/20, 2·ptp(x)]``, ``c ~ U(min y, max y)``.
        """
        x_lo, x_hi = float(np.min(self.x)), float(np.max(self.x))
        y_lo, y_hi = float(np.min(self.y)), float(np.max(self.y))
        x_span = max(x_hi - x_lo, 1e-12)
        y_span = max(y_hi - y_lo, 1e-12)
        a = rng.uniform(-1.0, 1.0, k) * 2.0 * y_span
        mu = rng.uniform(x_lo, x_hi, k)
        s = np.exp(rng.uniform(np.log(x_span / 20.0), np.log(2.0 * x_span), k))
        c = rng.uniform(y_lo, y_hi, k)
        return np.column_stack([a, mu, s, c])


def _lm_step(hess: np.ndarray, grad: np.ndarray, damping: float) -> np.ndarray:
    """Damped Newton step ``−(H + λ I)^-1 g`` with λ raised so that ``H + λ I`` is positive."""
    eig, vec = np.linalg.eigh(hess)
    floor = 1e-12 * max(float(np.max(np.abs(eig))), 1e-300)
    shift = max(damping, floor - float(eig[0]))
    return -vec @ ((vec.T @ grad) / (eig + shift))


def _lm_iteration(model, w, value, grad, damping, max_rejections):
    """One accepted damped-Newton step (raising λ after each rejection), or the same point."""
    hess = model.hessian(w)
    for _ in range(max_rejections):
        trial = w + _lm_step(hess, grad, damping)
        trial_value, trial_grad = model.value_and_grad(trial)
        if trial_value < value or (
            trial_value == value and np.linalg.norm(trial_grad) < np.linalg.norm(grad)
        ):
            return trial, trial_value, trial_grad, max(damping / 4.0, 1e-300), True
        damping *= 4.0
        if damping > 1e300 or np.array_equal(trial, w):
            break
    return w, value, grad, damping, False


def polish_newton(model, w: np.ndarray, *, gtol: float = 1e-10, max_iter: int = 500) -> np.ndarray:
    """Polish a point to a tight gradient norm by damped Newton (Levenberg–Marquardt style).

    Step ``d = −(H + λI)^-1 ∇f`` with the shift λ kept large enough for ``H + λI ≻ 0``; a step is
    accepted when it lowers ``f`` (then λ ← λ/4), otherwise λ ← 4λ (Levenberg 1944,
    Marquardt 1963; Nocedal & Wright 2006, ch. 4). Once ``||∇f|| ≤ gtol·max(1, |f|)`` it keeps
    taking (nearly undamped) Newton steps while they still lower ``f`` — quadratic convergence
    makes that one or two steps — and stops at the first one that does not; it also stops
    when no step can lower ``f`` or after ``max_iter`` steps.

    Args:
        model: anything with ``value``, ``value_and_grad`` and ``hessian(w)``.
        w: starting point.

    Returns:
        The polished parameters (a local minimum when the start is in its basin).
    """
    w = np.array(w, dtype=np.float64)
    value, grad = model.value_and_grad(w)
    damping = 1e-3 * max(float(np.max(np.abs(np.linalg.eigvalsh(model.hessian(w))))), 1e-12)
    for _ in range(max_iter):
        if not np.isfinite(value):
            break
        converged = np.linalg.norm(grad) <= gtol * max(1.0, abs(value))
        w, value, grad, damping, accepted = _lm_iteration(
            model, w, value, grad, damping, max_rejections=1 if converged else 1100
        )
        if not accepted:
            break
    return w
