"""Least squares with optional L1/L2/elastic-net penalties, in Gram form, and exact references.

The smooth part is ``f(w) = 0.5 * mean((y - X w)^2)``; the penalty is
``sum(l1_j |w_j|) + 0.5 * sum(l2_j w_j^2)`` (see the contract for the mapping to scikit-learn).

All full-batch quantities come from :class:`GramStats`, computed in one pass over row chunks
(plus one pass for the residuals), so ``X`` may be a :class:`numpy.memmap` larger than memory.
The thin-QR factor ``R`` of ``X`` is accumulated TSQR-style: ``R <- qr([R; R_1; ...; R_k])`` with
``R_i`` the factors of the row blocks of a batch, with the matching update of ``Q^T y`` obtained
by factoring the augmented matrix ``[X | y]``.

Values are anchored at a least-squares solution ``w_ls``:
``f(w) = f_ls + 0.5/n * ||R (w - w_ls)||^2``; this is exact because ``X^T (y - X w_ls) = 0`` and
avoids the cancellation of ``0.5 w^T G w - w^T b + 0.5 y^T y / n`` when the optimum is ~0.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = [
    "GramStats",
    "LeastSquares",
    "ReferenceWarning",
    "condition",
    "exact_optimum",
    "gram_stats",
    "l1_reference",
    "loss_in_original_units",
    "lstsq_reference",
    "ridge_reference",
]

_EPS = np.finfo(np.float64).eps
_MAX_CHUNK_ELEMENTS = 1 << 24  # 128 MiB of float64 per chunk, whatever chunk_rows says
# gram_stats TSQR blocks. Narrow X: keep each block's Householder updates (BLAS-2 dgemv/dger
# on rows×q) under ~8192 elements, where OpenBLAS stays on one thread: threading them costs
# 10-40x on a busy machine and gains nothing idle (measured, p = 10); ~1 MiB of such blocks are
# factored by one batched np.linalg.qr call. Wide X: one block of ~160 rows per column, where the
# blocked (BLAS-3) QR is efficient.
_QR_SINGLE_THREAD_ELEMENTS = 8192
_QR_BATCH_ELEMENTS = 1 << 17
_QR_BLOCK_ROWS_PER_COLUMN = 160
_RESIDUAL_CHUNK_ELEMENTS = 1 << 15
_EXACT_EIG_MAX_P = 200  # lipschitz(): exact (SVD) up to this many features, power iteration above


class ReferenceWarning(UserWarning):
    """A reference solver stopped before reaching its tolerance."""


# --------------------------------------------------------------------------------------------
# Sufficient statistics
# --------------------------------------------------------------------------------------------


@dataclass
class GramStats:
    """Sufficient statistics of a least-squares problem (unnormalised sums over the rows).

    Attributes:
        gram: ``X^T X`` (p×p, symmetric; *not* divided by n).
        xty: ``X^T y`` (p,).
        yty: ``y^T y``.
        n: number of rows.
        r: upper-triangular R factor of the thin QR of X (p×p; zero rows when n < p).
        qty: ``Q^T y`` (p,), consistent with ``r``.
        w_ls: minimum-norm least-squares solution (SVD of ``r``, numpy.lstsq rank tolerance).
        f_ls: ``0.5 * mean((y - X w_ls)^2)`` from the actual residuals.
        rank: numerical rank of X (same tolerance as ``w_ls``).
    """

    gram: np.ndarray
    xty: np.ndarray
    yty: float
    n: int
    r: np.ndarray
    qty: np.ndarray
    w_ls: np.ndarray
    f_ls: float
    rank: int

    @property
    def p(self) -> int:
        """Number of columns of X."""
        return int(self.gram.shape[0])

    def to_npz_dict(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Arrays for ``np.savez`` (keys optionally prefixed, to share a file)."""
        fields = {
            "gram": self.gram,
            "xty": self.xty,
            "yty": np.float64(self.yty),
            "n": np.int64(self.n),
            "r": self.r,
            "qty": self.qty,
            "w_ls": self.w_ls,
            "f_ls": np.float64(self.f_ls),
            "rank": np.int64(self.rank),
        }
        return {prefix + key: np.asarray(value) for key, value in fields.items()}

    @classmethod
    def from_npz(cls, mapping: Mapping[str, np.ndarray], prefix: str = "") -> GramStats:
        """Inverse of :meth:`to_npz_dict` (accepts an ``NpzFile`` or any mapping)."""

        def get(key: str) -> np.ndarray:
            return np.asarray(mapping[prefix + key])

        r = np.array(get("r"), dtype=np.float64)
        n = int(get("n"))
        rank = int(get("rank")) if prefix + "rank" in mapping else _rank(r, n)
        return cls(
            gram=np.array(get("gram"), dtype=np.float64),
            xty=np.array(get("xty"), dtype=np.float64),
            yty=float(get("yty")),
            n=n,
            r=r,
            qty=np.array(get("qty"), dtype=np.float64),
            w_ls=np.array(get("w_ls"), dtype=np.float64),
            f_ls=float(get("f_ls")),
            rank=rank,
        )


def _row_chunks(n: int, p: int, chunk_rows: int) -> list[tuple[int, int]]:
    """Row ranges [start, stop) of at most ``chunk_rows`` rows and ~128 MiB each."""
    step = max(1, min(int(chunk_rows), _MAX_CHUNK_ELEMENTS // max(p, 1)))
    return [(start, min(start + step, n)) for start in range(0, n, step)]


def _as_2d_float(X: np.ndarray) -> np.ndarray:
    """Validate that X is 2-D; does not copy (memmaps stay memmaps)."""
    if np.ndim(X) != 2:
        raise ValueError(f"X must be 2-D, got shape {np.shape(X)}")
    return X


def _qr_blocks(p: int, chunk_rows: int) -> tuple[int, int]:
    """``(rows per QR block, blocks per batch)`` for :func:`gram_stats` (see the constants);
    a batch has at most ``chunk_rows`` rows and ~128 MiB."""
    q = p + 1
    rows = _QR_SINGLE_THREAD_ELEMENTS // q - q
    if rows < 8 * q:  # too few rows per block to amortise the q×q R factors: go BLAS-3
        rows = _QR_BLOCK_ROWS_PER_COLUMN * q
    rows = max(1, min(int(chunk_rows), _MAX_CHUNK_ELEMENTS // q, rows))
    per_batch = max(1, min(_QR_BATCH_ELEMENTS // (rows * q), int(chunk_rows) // rows))
    return rows, per_batch


def _lstsq_tol(s: np.ndarray, n: int) -> float:
    """numpy.linalg.lstsq default cutoff: ``eps * max(n, p) * s_max``."""
    if s.size == 0:
        return 0.0
    return float(_EPS * max(n, s.size) * s[0])


def _rank(r: np.ndarray, n: int) -> int:
    """Numerical rank of X from the singular values of its R factor."""
    s = np.linalg.svd(r, compute_uv=False)
    return int(np.sum(s > _lstsq_tol(s, n))) if s.size and s[0] > 0 else 0


def _min_norm_solve(a: np.ndarray, b: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """Minimum-norm solution of ``min ||a w - b||`` by SVD, truncating like numpy.lstsq."""
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return np.zeros(a.shape[1]), 0
    keep = s > _lstsq_tol(s, n)
    coef = (u[:, keep].T @ b) / s[keep]
    return vt[keep].T @ coef, int(keep.sum())


def _residual_ss(X: np.ndarray, y: np.ndarray, w: np.ndarray, chunks) -> float:
    """``sum((y - X w)^2)`` over row chunks; ``inf`` on overflow (no warnings)."""
    return float(_residual_ss_many(X, y, np.asarray(w, dtype=np.float64)[None, :], chunks)[0])


def gram_stats(X: np.ndarray, y: np.ndarray, chunk_rows: int = 1 << 20) -> GramStats:
    """Compute :class:`GramStats` in one pass over row batches (+ one for a rank-deficient X).

    Each batch of rows of ``[X | y]`` is copied once into a small preallocated buffer (never a
    full copy of X). Its augmented Gram ``[X|y]^T [X|y]`` gives ``X^T X``, ``X^T y``, ``y^T y``
    (summed over batches). R and ``Q^T y`` come from a two-level TSQR of the augmented matrix:
    the batch's row blocks are factored independently (one batched ``np.linalg.qr`` call),
    then ``R_aug <- qr([R_aug; R_block_1; ...; R_block_k])``; the leading p×p block of
    ``R_aug`` is R and its last column ``Q^T y``. Works on ``np.memmap`` (batches are read one
    at a time; a batch has at most ``chunk_rows`` rows and ~128 MiB).
    """
    X = _as_2d_float(X)
    n, p = X.shape
    if np.shape(y) != (n,):
        raise ValueError(f"y must have shape ({n},), got {np.shape(y)}")
    q = p + 1
    rows, per_batch = _qr_blocks(p, chunk_rows)
    rows = max(1, min(rows, n))
    per_batch = max(1, min(per_batch, n // rows))
    step = rows * per_batch
    blocks = np.empty((per_batch, rows, q))  # [X | y] of one batch, reused for every batch
    flat = blocks.reshape(per_batch * rows, q)
    aug_gram = np.zeros((q, q))
    r_aug = np.zeros((q, q))
    for start in range(0, n, step):
        stop = min(start + step, n)
        m = stop - start
        full = m // rows
        used = flat[:m]
        used[:, :p] = X[start:stop]
        used[:, p] = y[start:stop]
        batch_gram = used.T @ used
        # A NaN/inf entry makes its column's sum of squares non-finite; only then look closer
        # (finite values whose squares overflow are not an error, as before).
        if not np.all(np.isfinite(np.diagonal(batch_gram))) and not np.all(np.isfinite(used)):
            raise ValueError(f"non-finite values in rows {start}..{stop - 1} of X or y")
        aug_gram += batch_gram
        factors = [r_aug]
        if full:
            factors.append(np.linalg.qr(blocks[:full], mode="r").reshape(-1, q))
        if m > full * rows:
            factors.append(np.linalg.qr(used[full * rows :], mode="r"))
        r_aug = np.linalg.qr(np.concatenate(factors), mode="r")
    r, qty = r_aug[:p, :p].copy(), r_aug[:p, p].copy()
    w_ls, rank = _min_norm_solve(r, qty, n)
    if rank == p and n > p:
        # full rank: the last diagonal entry of R of [X | y] is the least-squares residual norm
        # (the classic QR identity), so no second pass over X is needed
        with np.errstate(over="ignore"):
            f_ls = 0.5 * float(r_aug[p, p]) ** 2 / n if abs(r_aug[p, p]) < 1e150 else np.inf
    else:
        # rank-deficient: the reflections beyond span(X) make that entry unreliable, so the
        # residuals are summed (small cache-resident chunks, ~2x faster than 64k rows)
        res_rows = min(chunk_rows, max(1024, _RESIDUAL_CHUNK_ELEMENTS // max(p, 1)))
        f_ls = 0.5 * _residual_ss(X, y, w_ls, _row_chunks(n, p, res_rows)) / max(n, 1)
    gram = aug_gram[:p, :p]
    gram = 0.5 * (gram + gram.T)
    xty, yty = aug_gram[:p, p].copy(), float(aug_gram[p, p])
    return GramStats(gram, xty, yty, n, r, qty, w_ls, f_ls, rank)


def _weights(values, p: int, name: str) -> np.ndarray:
    """Per-coordinate penalty weights: None → zeros, scalar → broadcast, checked ≥ 0."""
    if values is None:
        return np.zeros(p)
    arr = np.broadcast_to(np.asarray(values, dtype=np.float64), (p,)).copy()
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must be finite and >= 0")
    return arr


# --------------------------------------------------------------------------------------------
# The objective
# --------------------------------------------------------------------------------------------


class LeastSquares:
    """``0.5*mean((y - Xw)^2) + sum(l1*|w|) + 0.5*sum(l2*w^2)``, Gram form.

    Full-batch values and gradients cost O(p^2) using the anchored identity
    ``f(w) = f_ls + 0.5/n ||R (w - w_ls)||^2`` and ``∇f(w) = R^T R (w - w_ls) / n``
    (equal to ``G (w - w_ls)`` with ``G = X^T X / n``).

    Args:
        X: n×p design (may be a ``np.memmap``; kept for :meth:`batch_grad`).
        y: n targets.
        l1_weights: per-coordinate L1 weights λ1 (None → 0).
        l2_weights: per-coordinate L2 weights λ2 (None → 0).
        gram_stats: precomputed :class:`GramStats` of ``(X, y)``; computed if None.
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        l1_weights=None,
        l2_weights=None,
        gram_stats: GramStats | None = None,
    ) -> None:
        self.X = _as_2d_float(X)
        self.y = y
        self.n_samples, self.n_features = (int(d) for d in X.shape)
        stats = gram_stats if gram_stats is not None else _compute_stats(X, y)
        if stats.n != self.n_samples or stats.p != self.n_features:
            raise ValueError("gram_stats do not match the shape of X")
        self.stats = stats
        self.l1_weights = _weights(l1_weights, self.n_features, "l1_weights")
        self.l2_weights = _weights(l2_weights, self.n_features, "l2_weights")
        self.has_l1 = bool(np.any(self.l1_weights > 0))
        # per-step shortcut: without L2, adding ``0 * w`` changes nothing but the sign of zeros
        self._has_l2 = bool(np.any(self.l2_weights > 0))
        self._eig_cache: dict[str, float] = {}

    def _resid_coef(self, w: np.ndarray) -> np.ndarray:
        """``R (w - w_ls)``: the residual difference in the orthogonal basis."""
        return self.stats.r @ (np.asarray(w, dtype=np.float64) - self.stats.w_ls)

    def penalty(self, w: np.ndarray) -> float:
        """``sum(l1 |w|) + 0.5 * sum(l2 w^2)``."""
        w = np.asarray(w, dtype=np.float64)
        return float(self.l1_weights @ np.abs(w) + 0.5 * (self.l2_weights @ (w * w)))

    def smooth_value_and_grad(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        """Smooth part + L2: ``f_ls + ||R d||^2/(2n) + ½Σλ2 w²`` and ``R^T R d / n + λ2 w``."""
        # The solver's per-step oracle: the same arithmetic as ``_resid_coef`` & co., inlined.
        w = np.asarray(w, dtype=np.float64)
        stats, l2 = self.stats, self.l2_weights
        with np.errstate(over="ignore", invalid="ignore"):
            rd = stats.r @ (w - stats.w_ls)
            value = stats.f_ls + 0.5 * float(rd @ rd) / stats.n
            value += 0.5 * float(l2 @ (w * w))
            grad = stats.r.T @ rd
            grad /= stats.n
            if self._has_l2:
                grad += l2 * w
        return (value if math.isfinite(value) else float("inf")), grad

    def value(self, w: np.ndarray) -> float:
        """Full objective, including the L1 term."""
        return self.value_and_grad(w)[0]

    def value_and_grad(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        """Full value and a subgradient: smooth grad + ``l1 * sign(w)``."""
        w = np.asarray(w, dtype=np.float64)
        value, grad = self.smooth_value_and_grad(w)
        if self.has_l1:
            with np.errstate(over="ignore", invalid="ignore"):
                value += float(self.l1_weights @ np.abs(w))
                grad = grad + self.l1_weights * np.sign(w)
        return (value if np.isfinite(value) else float("inf")), grad

    def batch_grad(self, w: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Gradient on ``X[rows]``: ``X_b^T (X_b w - y_b) / |b| + λ2 w + λ1 sign(w)``."""
        rows = np.sort(np.asarray(rows))  # sorted rows read a memmap sequentially
        w = np.asarray(w, dtype=np.float64)
        # One gather each (np.take: ~2x faster than fancy indexing on random rows), then two
        # GEMVs; the residual and the gradient are updated in place.
        xb = np.asarray(np.take(self.X, rows, axis=0), dtype=np.float64)
        yb = np.asarray(np.take(self.y, rows), dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            resid = xb @ w
            resid -= yb
            grad = xb.T @ resid
            grad /= max(len(rows), 1)
            if self._has_l2:
                grad += self.l2_weights * w
            if self.has_l1:
                grad += self.l1_weights * np.sign(w)
        return grad

    def hessian(self, w: np.ndarray | None = None) -> np.ndarray:
        """``G + diag(λ2)`` with ``G = X^T X / n`` (constant; ``w`` is ignored)."""
        return self.stats.gram / self.stats.n + np.diag(self.l2_weights)

    def _stacked_singular_values(self) -> np.ndarray:
        """Singular values of ``[R; diag(sqrt(n λ2))] / sqrt(n)``; their squares are eig(H)."""
        n = self.stats.n
        stacked = np.vstack([self.stats.r, np.diag(np.sqrt(n * self.l2_weights))])
        return np.linalg.svd(stacked / np.sqrt(n), compute_uv=False)

    def lipschitz(self) -> float:
        """Largest eigenvalue L of the Hessian (cached).

        Exact for p ≤ 200 (square of the top singular value of ``[R; diag(√(nλ2))]/√n``);
        above that, seeded power iteration on ``H v = R^T R v / n + λ2 v`` to relative 1e-10.
        """
        if "L" not in self._eig_cache:
            if self.n_features <= _EXACT_EIG_MAX_P:
                s = self._stacked_singular_values()
                self._eig_cache["L"] = float(s[0] ** 2) if s.size else 0.0
            else:
                self._eig_cache["L"] = self._power_iteration()
        return self._eig_cache["L"]

    def _power_iteration(self, max_iter: int = 5000, rtol: float = 1e-10) -> float:
        """Top eigenvalue of the Hessian by power iteration from a seeded random vector."""
        v = np.random.default_rng(0).standard_normal(self.n_features)
        v /= np.linalg.norm(v)
        estimate = 0.0
        for _ in range(max_iter):
            hv = self.stats.r.T @ (self.stats.r @ v) / self.stats.n + self.l2_weights * v
            new = float(v @ hv)
            norm = np.linalg.norm(hv)
            if norm == 0:
                return 0.0
            v = hv / norm
            if abs(new - estimate) <= rtol * abs(new):
                return new
            estimate = new
        return estimate

    def strong_convexity(self) -> float:
        """Smallest eigenvalue μ of the Hessian (0 when singular to numpy.lstsq tolerance).

        Computed as the squared smallest singular value of ``[R; diag(√(nλ2))]/√n`` (accurate to
        ``eps·L`` in μ^½ rather than in μ, unlike ``eigvalsh`` of the Gram matrix).
        """
        if "mu" not in self._eig_cache:
            s = self._stacked_singular_values()
            tol = _lstsq_tol(s, self.stats.n)
            self._eig_cache["mu"] = float(s[-1] ** 2) if s.size and s[-1] > tol else 0.0
        return self._eig_cache["mu"]

    def prox_l1(self, w: np.ndarray, step: float) -> np.ndarray:
        """Soft threshold: ``sign(w) * max(|w| - step * λ1, 0)``."""
        w = np.asarray(w, dtype=np.float64)
        return np.sign(w) * np.maximum(np.abs(w) - step * self.l1_weights, 0.0)


def _compute_stats(X: np.ndarray, y: np.ndarray) -> GramStats:
    """Module-level alias so the constructor argument ``gram_stats`` can shadow the function."""
    return gram_stats(X, y)


def loss_in_original_units(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, l1=None, l2=None, chunk_rows: int = 1 << 20
) -> float:
    """``0.5 * mean((y - X w)^2) + sum(l1 |w|) + 0.5 * sum(l2 w^2)`` from actual residuals.

    Chunked over rows (works on memmaps); returns ``inf`` instead of warning on overflow.
    ``l1``/``l2`` may be None, scalars or per-coordinate arrays.
    """
    return float(losses_in_original_units(X, y, np.atleast_2d(w), l1, l2, chunk_rows)[0])


def losses_in_original_units(
    X: np.ndarray, y: np.ndarray, W: np.ndarray, l1=None, l2=None, chunk_rows: int = 1 << 20
) -> np.ndarray:
    """:func:`loss_in_original_units` of each row of ``W`` (k×p), in ONE pass over X.

    Reading a 10-million-row design once instead of k times is what makes reporting both a
    fit's loss and the optimum's cheap.
    """
    X = _as_2d_float(X)
    n, p = X.shape
    W = np.asarray(W, dtype=np.float64).reshape(-1, p)
    out = np.full(W.shape[0], np.inf)
    finite = np.all(np.isfinite(W), axis=1)
    if not np.any(finite):
        return out
    # small cache-resident chunks: ~4x faster than one large block with its scratch buffer
    res_rows = min(chunk_rows, max(1024, _RESIDUAL_CHUNK_ELEMENTS // max(p, 1)))
    rss = _residual_ss_many(X, y, W[finite], _row_chunks(n, p, res_rows))
    with np.errstate(over="ignore", invalid="ignore"):
        total = 0.5 * rss / max(n, 1)
        for weights, term in ((l1, np.abs(W[finite])), (l2, 0.5 * W[finite] * W[finite])):
            weights = _weights(weights, p, "penalty")
            used = weights > 0  # 0 · inf must not turn a huge unpenalized coefficient into NaN
            total += term[:, used] @ weights[used]
    out[finite] = np.where(np.isfinite(total), total, np.inf)
    return out


def _residual_ss_many(X: np.ndarray, y: np.ndarray, W: np.ndarray, chunks) -> np.ndarray:
    """``sum((y - X w_i)^2)`` for every row ``w_i`` of W, over row chunks; inf on overflow.

    One preallocated residual buffer for all chunks (no per-chunk temporaries for float64 X).
    """
    total = np.zeros(W.shape[0])
    if not chunks:
        return total
    res = np.empty((max(stop - start for start, stop in chunks), W.shape[0]))
    with np.errstate(over="ignore", invalid="ignore"):
        for start, stop in chunks:
            r = res[: stop - start]
            np.matmul(np.asarray(X[start:stop], dtype=np.float64), W.T, out=r)
            np.subtract(np.asarray(y[start:stop], dtype=np.float64)[:, None], r, out=r)
            total += np.einsum("ij,ij->j", r, r)
    return np.where(np.isfinite(total), total, np.inf)


# --------------------------------------------------------------------------------------------
# Exact reference solvers
# --------------------------------------------------------------------------------------------


def lstsq_reference(stats: GramStats) -> np.ndarray:
    """Minimum-norm least squares ``argmin ||y - X w||`` via the SVD of R (numpy.lstsq cutoff)."""
    return stats.w_ls.copy()


def ridge_reference(stats: GramStats, l2_weights) -> np.ndarray:
    """Ridge in closed form without normal equations.

    ``min 0.5/n ||y - Xw||^2 + 0.5 Σ λ2_j w_j^2 = min ||[Q^T y; 0] - [R; diag(√(nλ2))] w||^2 / 2n``:
    QR of the stacked matrix, then the (minimum-norm, SVD-truncated) triangular solve, so that
    coordinates with λ2 = 0 on a rank-deficient subspace get the minimum-norm solution.
    """
    p, n = stats.p, stats.n
    l2 = _weights(l2_weights, p, "l2_weights")
    stacked = np.vstack([stats.r, np.diag(np.sqrt(n * l2))])
    rhs = np.concatenate([stats.qty, np.zeros(p)])
    q, r2 = np.linalg.qr(stacked)
    w, _ = _min_norm_solve(r2, q.T @ rhs, n)
    return w


def _cd_sweep(w: np.ndarray, gw: np.ndarray, coords, gram, b, l1, denom) -> None:
    """One cyclic coordinate-descent sweep, in place (``gw`` tracks ``G w``).

    ``w_j <- S(b_j - (Gw)_j + G_jj w_j, λ1_j) / (G_jj + λ2_j)`` with S the soft threshold.
    """
    for j in coords:
        if denom[j] <= 0:
            continue
        rho = b[j] - gw[j] + gram[j, j] * w[j]
        new = np.sign(rho) * max(abs(rho) - l1[j], 0.0) / denom[j]
        delta = new - w[j]
        if delta != 0.0:
            w[j] = new
            gw += gram[:, j] * delta


def _active_set_solve(stats: GramStats, l1, l2, active, signs) -> np.ndarray:
    """Exact minimiser on a fixed support/sign pattern (no normal equations).

    Minimises ``||[Q^T y; 0] - M w_A||^2/(2n) + (λ1_A ∘ s)^T w_A`` with
    ``M = [R_A; diag(√(nλ2_A))]``: with ``M = U S V^T``,
    ``w_A = V (S^-1 U^T b - n S^-2 V^T (λ1_A ∘ s))`` (minimum norm on a singular M).
    """
    n, p = stats.n, stats.p
    m = np.vstack([stats.r[:, active], np.diag(np.sqrt(n * l2[active]))])
    rhs = np.concatenate([stats.qty, np.zeros(int(active.sum()))])
    u, s, vt = np.linalg.svd(m, full_matrices=False)
    keep = s > _lstsq_tol(s, n) if s.size and s[0] > 0 else np.zeros(s.size, bool)
    c = l1[active] * signs
    coef = (u[:, keep].T @ rhs) / s[keep] - n * (vt[keep] @ c) / s[keep] ** 2
    w = np.zeros(p)
    w[active] = vt[keep].T @ coef
    return w


def _kkt_violation(obj: LeastSquares, w: np.ndarray) -> float:
    """Relative KKT violation of the L1 problem (0 at the exact optimum)."""
    _, g = obj.smooth_value_and_grad(w)
    l1 = obj.l1_weights
    nz = w != 0
    viol = np.where(nz, np.abs(g + l1 * np.sign(w)), np.maximum(np.abs(g) - l1, 0.0))
    scale = (
        np.linalg.norm(obj.stats.gram, 2) / obj.stats.n * np.max(np.abs(w), initial=0.0)
        + np.max(np.abs(obj.stats.xty), initial=0.0) / obj.stats.n
        + np.max(l1, initial=0.0)
    )
    return float(np.max(viol, initial=0.0) / max(scale, np.finfo(float).tiny))


def _try_polish(obj: LeastSquares, w: np.ndarray, tol: float) -> np.ndarray | None:
    """Solve exactly on the support/signs of ``w``; return it if it satisfies the KKT."""
    active = (w != 0) | (obj.l1_weights == 0)
    signs = np.sign(w[active])
    cand = _active_set_solve(obj.stats, obj.l1_weights, obj.l2_weights, active, signs)
    pen = obj.l1_weights[active] > 0
    if np.any(np.sign(cand[active][pen]) != signs[pen]):
        return None
    if _kkt_violation(obj, cand) > tol or obj.value(cand) > obj.value(w) + tol * abs(obj.value(w)):
        return None
    return cand


def l1_reference(
    stats: GramStats, l1_weights, l2_weights=None, tol: float = 1e-12, max_iter: int = 100_000
) -> np.ndarray:
    """L1 / elastic-net optimum by cyclic coordinate descent on the Gram, polished exactly.

    Coordinate descent (Friedman, Hastie & Tibshirani 2010, "Regularization paths for
    generalized linear models via coordinate descent") with the ``G = X^T X / n`` form,
    alternating full sweeps and sweeps over the active set. Whenever the support/sign pattern
    is stable, the problem restricted to it is solved exactly by an SVD (see
    :func:`_active_set_solve`) and accepted when the KKT conditions hold to ``tol``
    (relative); otherwise descent continues until the relative objective change is ≤ ``tol``
    and the KKT violation is ≤ ``sqrt(tol)``, or ``max_iter`` sweeps (then a
    :class:`ReferenceWarning`).
    """
    obj = _objective_from_stats(stats, l1_weights, l2_weights)
    gram, b = stats.gram / stats.n, stats.xty / stats.n
    denom = np.diag(gram) + obj.l2_weights
    w = np.zeros(stats.p)
    gw = np.zeros(stats.p)
    last_value, last_pattern, tried = obj.value(w), None, set()
    for sweep in range(max_iter):
        active = np.flatnonzero((w != 0) | (obj.l1_weights == 0))
        coords = range(stats.p) if sweep % 2 == 0 else active
        _cd_sweep(w, gw, coords, gram, b, obj.l1_weights, denom)
        gw = gram @ w  # refresh to stop drift in the running product
        pattern = np.sign(w).tobytes()
        if pattern == last_pattern and pattern not in tried:
            tried.add(pattern)
            polished = _try_polish(obj, w, tol)
            if polished is not None:
                return polished
        last_pattern = pattern
        value = obj.value(w)
        small_change = abs(last_value - value) <= tol * max(abs(value), np.finfo(float).tiny)
        if sweep % 2 == 0 and small_change and _kkt_violation(obj, w) <= np.sqrt(tol):
            return w
        last_value = value
    warnings.warn(
        f"l1_reference: no convergence in {max_iter} sweeps "
        f"(KKT violation {_kkt_violation(obj, w):.2e})",
        ReferenceWarning,
        stacklevel=2,
    )
    return w


def _objective_from_stats(stats: GramStats, l1_weights, l2_weights) -> LeastSquares:
    """A LeastSquares view over precomputed stats (no data rows: batch_grad unavailable)."""
    placeholder = np.lib.stride_tricks.as_strided(
        np.zeros(1), shape=(stats.n, stats.p), strides=(0, 0), writeable=False
    )
    return LeastSquares(
        placeholder,
        np.lib.stride_tricks.as_strided(np.zeros(1), shape=(stats.n,), strides=(0,)),
        l1_weights=l1_weights,
        l2_weights=l2_weights,
        gram_stats=stats,
    )


def exact_optimum(stats: GramStats, l1_weights=None, l2_weights=None) -> tuple[np.ndarray, str]:
    """The exact reference optimum and the name of the method used.

    L1 present → coordinate descent ("coordinate descent (Gram, KKT-polished)");
    L2 only → "ridge closed form (QR)"; neither → "lstsq (SVD)".
    """
    l1 = _weights(l1_weights, stats.p, "l1_weights")
    l2 = _weights(l2_weights, stats.p, "l2_weights")
    if np.any(l1 > 0):
        return l1_reference(stats, l1, l2), "coordinate descent (Gram, KKT-polished)"
    if np.any(l2 > 0):
        return ridge_reference(stats, l2), "ridge closed form (QR)"
    return lstsq_reference(stats), "lstsq (SVD)"


def condition(objective: LeastSquares) -> dict:
    """Conditioning: ``{L, mu, kappa = L/mu (inf if mu = 0), rank (of X), unstable_lr = 2/L}``.

    A constant step ``lr > 2/L`` makes gradient descent diverge on this quadratic.
    """
    lip = objective.lipschitz()
    mu = objective.strong_convexity()
    return {
        "L": lip,
        "mu": mu,
        "kappa": lip / mu if mu > 0 else float("inf"),
        "rank": int(objective.stats.rank),
        "unstable_lr": 2.0 / lip if lip > 0 else float("inf"),
    }
