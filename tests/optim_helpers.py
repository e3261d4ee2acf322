"""A small self-contained least-squares objective with the interface of descent.objective.

``f(w) = 0.5 * mean((y - Xw)^2) + sum(l1 * |w|) + 0.5 * sum(l2 * w^2)``, in Gram form anchored
at the minimizer of the smooth part, so the optimizer tests do not depend on the real module.
"""

from __future__ import annotations

import numpy as np


class TinyLeastSquares:
    """Least squares with optional per-coordinate L1/L2 weights (test double)."""

    def __init__(self, X: np.ndarray, y: np.ndarray, *, l1_weights=None, l2_weights=None):
        self.X = np.asarray(X, dtype=float)
        self.y = np.asarray(y, dtype=float)
        self.n_samples, self.n_features = self.X.shape
        p = self.n_features
        self.l1_weights = np.zeros(p) if l1_weights is None else np.asarray(l1_weights, float)
        self.l2_weights = np.zeros(p) if l2_weights is None else np.asarray(l2_weights, float)
        self.has_l1 = bool(np.any(self.l1_weights > 0))
        self.H = self.X.T @ self.X / self.n_samples + np.diag(self.l2_weights)
        xty = self.X.T @ self.y / self.n_samples
        self.w_smooth = np.linalg.lstsq(self.H, xty, rcond=None)[0]
        r = self.y - self.X @ self.w_smooth
        self.f_smooth = 0.5 * np.mean(r**2) + 0.5 * np.sum(self.l2_weights * self.w_smooth**2)

    def smooth_value_and_grad(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        """Smooth part (data + L2) and its gradient, O(p^2)."""
        d = w - self.w_smooth
        hd = self.H @ d
        return self.f_smooth + 0.5 * float(d @ hd), hd

    def value(self, w: np.ndarray) -> float:
        """Full objective including the L1 term."""
        return self.smooth_value_and_grad(w)[0] + float(self.l1_weights @ np.abs(w))

    def value_and_grad(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        """Full value and smooth gradient plus the L1 subgradient."""
        f, g = self.smooth_value_and_grad(w)
        if not self.has_l1:
            return f, g
        return f + float(self.l1_weights @ np.abs(w)), g + self.l1_weights * np.sign(w)

    def batch_grad(self, w: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Mean gradient of the smooth part over ``X[rows]`` plus the L1 subgradient."""
        Xr = self.X[rows]
        g = Xr.T @ (Xr @ w - self.y[rows]) / len(rows) + self.l2_weights * w
        return g + self.l1_weights * np.sign(w)

    def hessian(self, w: np.ndarray | None = None) -> np.ndarray:
        """Constant Hessian of the smooth part."""
        return self.H

    def lipschitz(self) -> float:
        """Largest eigenvalue of the Hessian."""
        return float(np.linalg.eigvalsh(self.H)[-1])

    def strong_convexity(self) -> float:
        """Smallest eigenvalue of the Hessian."""
        return float(np.linalg.eigvalsh(self.H)[0])

    def prox_l1(self, w: np.ndarray, step: float) -> np.ndarray:
        """Soft-thresholding with ``step * l1_weights``."""
        return np.sign(w) * np.maximum(np.abs(w) - step * self.l1_weights, 0.0)


def random_problem(seed: int, n: int = 60, p: int = 4, noise: float = 0.3,
                   **weights) -> TinyLeastSquares:
    """A well-conditioned random regression problem with an intercept column."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    w_true = rng.normal(scale=2.0, size=p)
    y = X @ w_true + noise * rng.normal(size=n)
    return TinyLeastSquares(X, y, **weights)


def lasso_reference(problem: TinyLeastSquares, sweeps: int = 20_000) -> np.ndarray:
    """Cyclic coordinate descent on the Gram form, to high precision (reference lasso)."""
    H, l1 = problem.H, problem.l1_weights
    b = H @ problem.w_smooth  # = X^T y / n (the smooth gradient is H w - b)
    w = np.zeros(problem.n_features)
    for _ in range(sweeps):
        old = w.copy()
        for j in range(len(w)):
            rho = b[j] - H[j] @ w + H[j, j] * w[j]
            w[j] = np.sign(rho) * max(abs(rho) - l1[j], 0.0) / H[j, j]
        if np.max(np.abs(w - old)) < 1e-15:
            break
    return w
