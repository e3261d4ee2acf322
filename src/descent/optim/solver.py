"""The one solver loop that drives every optimizer: full batch, mini-batch and per-sample.

Iteration ``k`` evaluates the full objective at ``w_k`` (the Gram form makes this cheap),
checks divergence and convergence, records the trace, then applies one update
``w_{k+1} = w_k + delta_k`` with ``delta_k, state = optimizer.update(g_k, state, w_k, k)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from descent.optim.base import GradientTransformation
from descent.optim.schedules import PlateauSchedule

TINY = float(np.finfo(float).tiny)
FLAT_GRADIENT_SLACK = 10.0
TRACE_KEYS = ("step", "loss", "grad_norm", "lr", "passes")


@dataclass
class SolveResult:
    """What :func:`solve` returns.

    ``trace`` holds ``step``, ``loss``, ``grad_norm`` (the prox-gradient mapping norm for L1
    problems), ``lr`` (used at that step) and ``passes`` (data passes consumed to reach that
    step), thinned to at most ``max_trace`` points, always keeping the first and last. ``path``
    holds the parameters at the traced steps when ``record_path`` was set. ``loss`` is the
    objective at ``params`` (the last finite parameters when the run diverged).
    """

    params: np.ndarray
    status: str
    iterations: int
    diverged_at: int | None
    message: str
    trace: dict[str, np.ndarray]
    path: np.ndarray | None
    seconds: float
    loss: float = field(default=math.nan)


class _Recorder:
    """Every step's loss, norm, lr and passes (and params), in arrays grown by doubling."""

    def __init__(self, p: int, capacity: int, record_path: bool) -> None:
        self.size = 0
        self.capacity = capacity
        self.loss, self.norm, self.lr, self.passes = (np.empty(capacity) for _ in range(4))
        self.path = np.empty((capacity, p)) if record_path else None

    def add(self, loss: float, norm: float, lr: float, passes: float, w: np.ndarray) -> None:
        k = self.size
        if k == self.capacity:
            self._grow()
        self.loss[k] = loss
        self.norm[k] = norm
        self.lr[k] = lr
        self.passes[k] = passes
        if self.path is not None:
            self.path[k] = w
        self.size = k + 1

    def _grow(self) -> None:
        self.capacity *= 2
        for name in ("loss", "norm", "lr", "passes", "path"):
            old = getattr(self, name)
            if old is not None:
                new = np.empty((self.capacity, *old.shape[1:]))
                new[: len(old)] = old
                setattr(self, name, new)

    def thinned(self, max_trace: int) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        idx = thin_indices(self.size, max_trace)
        trace = {
            "step": idx.astype(np.int64),
            "loss": self.loss[idx],
            "grad_norm": self.norm[idx],
            "lr": self.lr[idx],
            "passes": self.passes[idx],
        }
        return trace, None if self.path is None else self.path[idx]


def thin_indices(m: int, max_trace: int) -> np.ndarray:
    """At most ``max_trace`` sorted indices of ``range(m)``: ``0`` and ``m - 1`` always, then a
    geometric grid (detail early on, for log axes) united with a uniform grid in between."""
    if m <= max_trace:
        return np.arange(m)
    inner = max_trace - 2
    n_geom = inner // 2
    parts = [np.array([0, m - 1])]
    if n_geom:
        parts.append(np.geomspace(1, m - 2, num=n_geom).astype(np.int64))
    if inner - n_geom:
        parts.append(np.linspace(1, m - 2, num=inner - n_geom).round().astype(np.int64))
    return np.unique(np.concatenate(parts))


Oracle = Callable[[np.ndarray], tuple[float, np.ndarray, float]]


def _prox_step(objective: Any) -> float:
    """Step ``1/L`` of the prox-gradient mapping used as the stationarity measure."""
    try:
        lipschitz = float(objective.lipschitz())
    except (AttributeError, TypeError, ValueError, np.linalg.LinAlgError):
        return 1.0
    return 1.0 / lipschitz if math.isfinite(lipschitz) and lipschitz > 0 else 1.0


def _full_oracle(objective: Any, proximal: bool) -> Oracle:
    """``w -> (loss, gradient fed to the optimizer, stationarity norm)`` on the full data.

    Without L1: the gradient and its norm. With L1: the smooth gradient for a proximal
    optimizer (the L1 subgradient added otherwise) and the prox-gradient mapping norm
    ``|w - prox_t(w - t∇f(w))| / t`` with ``t = 1/L``, which is zero exactly at the optimum.
    """
    if not getattr(objective, "has_l1", False):
        value_and_grad = objective.value_and_grad

        def smooth_oracle(w: np.ndarray) -> tuple[float, np.ndarray, float]:
            loss, grad = value_and_grad(w)
            return float(loss), grad, math.sqrt(grad @ grad)

        return smooth_oracle
    l1 = np.asarray(objective.l1_weights, dtype=float)
    smooth, prox, t = objective.smooth_value_and_grad, objective.prox_l1, _prox_step(objective)

    def l1_oracle(w: np.ndarray) -> tuple[float, np.ndarray, float]:
        value, grad = smooth(w)
        mapping = w - prox(w - t * grad, t)
        fed = grad if proximal else grad + l1 * np.sign(w)
        return float(value) + float(l1 @ np.abs(w)), fed, math.sqrt(mapping @ mapping) / t

    return l1_oracle


def _batch_gradient(objective: Any, proximal: bool) -> Callable[[np.ndarray, np.ndarray], Any]:
    """``(w, rows) -> gradient`` on ``X[rows]``, without the L1 subgradient if proximal."""
    batch_grad = objective.batch_grad
    if not (proximal and getattr(objective, "has_l1", False)):
        return batch_grad
    l1 = np.asarray(objective.l1_weights, dtype=float)
    return lambda w, rows: batch_grad(w, rows) - l1 * np.sign(w)


class _Sampler:
    """Mini-batches of rows from a fresh permutation each epoch (``default_rng(seed)``)."""

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        self.n, self.batch_size = n, batch_size
        self.rng = np.random.default_rng(seed)
        self.perm = self.rng.permutation(n)
        self.pos = 0

    def next(self) -> tuple[np.ndarray, bool]:
        """The next rows and whether they end an epoch."""
        if self.pos >= self.n:
            self.perm = self.rng.permutation(self.n)
            self.pos = 0
        rows = self.perm[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return rows, self.pos >= self.n


def _learning_rate_fn(optimizer: GradientTransformation) -> Callable[[int], float]:
    """``step -> lr`` for the trace (NaN when the optimizer has no learning rate)."""
    lr = optimizer.learning_rate
    if lr is None:
        return lambda step: math.nan
    if callable(lr):
        return lr
    value = float(lr)
    return lambda step: value


def _check_arguments(
    w0: Any,
    batch_size: int | None,
    max_iter: int,
    max_trace: int,
    divergence_factor: float,
    max_passes: float | None,
    tol: float,
    gtol: float,
) -> np.ndarray:
    """The start as a finite float vector; ValueError on any bad argument."""
    w = np.array(w0, dtype=float, copy=True)
    if w.ndim != 1 or not np.all(np.isfinite(w)):
        raise ValueError(f"w0 must be a finite 1-D vector, got shape {w.shape}")
    if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
        raise ValueError(f"batch_size must be None or an integer >= 1, got {batch_size!r}")
    if int(max_iter) != max_iter or max_iter < 0:
        raise ValueError(f"max_iter must be an integer >= 0, got {max_iter!r}")
    if max_trace < 2:
        raise ValueError(f"max_trace must be >= 2 (first and last step), got {max_trace!r}")
    if not divergence_factor > 1:
        raise ValueError(f"divergence_factor must be > 1, got {divergence_factor!r}")
    if max_passes is not None and not max_passes > 0:
        raise ValueError(f"max_passes must be None or > 0, got {max_passes!r}")
    if not (tol >= 0 and gtol >= 0):
        raise ValueError(f"tol and gtol must be >= 0, got tol={tol!r}, gtol={gtol!r}")
    return w


@dataclass
class _Outcome:
    """How the loop ended."""

    params: np.ndarray
    loss: float
    iterations: int
    status: str
    message: str
    diverged_at: int | None = None


def _loop(
    objective: Any,
    optimizer: GradientTransformation,
    w: np.ndarray,
    rec: _Recorder,
    sampler: _Sampler | None,
    plateau: Any,
    opts: dict[str, Any],
) -> _Outcome:
    """Run updates until convergence, divergence, ``max_iter`` or the data-pass budget.

    One function on purpose: this is the hot loop, and every call saved is per-step time.
    """
    oracle = _full_oracle(objective, optimizer.proximal)
    batch = None if sampler is None else _batch_gradient(objective, optimizer.proximal)
    lr_fn, update = _learning_rate_fn(optimizer), optimizer.update
    tol, max_iter, max_passes = opts["tol"], opts["max_iter"], opts["max_passes"]
    state = optimizer.init(w)
    loss, grad, norm = oracle(w)
    g_stop = opts["gtol"] * max(1.0, norm) if math.isfinite(norm) else 0.0
    # A flat loss alone is no proof: tiny steps on an ill-conditioned problem also change the
    # loss by less than tol. It counts only when the gradient is within 10x of gtol too (room
    # for a floating-point floor, not for a stall).
    g_flat = FLAT_GRADIENT_SLACK * g_stop
    limit = opts["divergence_factor"] * max(loss, TINY) if math.isfinite(loss) else -math.inf
    k, passes, prev, w_prev, epoch_end = 0, 0.0, loss, w, True
    per_row = 0.0 if sampler is None else 1.0 / sampler.n
    while True:
        if not (loss <= limit and math.isfinite(norm)):
            if k == 0:
                rec.add(loss, norm, lr_fn(0), passes, w)
            return _diverged(w_prev, rec, k, loss, limit, opts["divergence_factor"])
        if plateau is not None and epoch_end:
            plateau.observe(loss)
        rec.add(loss, norm, lr_fn(k), passes, w)
        checked = k > 0 and epoch_end and tol > 0
        if norm <= g_stop:
            return _Outcome(
                w,
                loss,
                k,
                "converged",
                f"converged: gradient norm {norm:.3g} <= {g_stop:.3g} at iteration {k}",
            )
        if checked and abs(loss - prev) <= tol * max(abs(prev), TINY) and norm <= g_flat:
            change = abs(loss - prev) / max(abs(prev), TINY)
            what = "per epoch " if sampler is not None else ""
            return _Outcome(
                w,
                loss,
                k,
                "converged",
                f"converged: relative loss change "
                f"{what}{change:.3g} <= tol {tol:.3g} at iteration {k}",
            )
        if k >= max_iter:
            return _Outcome(
                w,
                loss,
                k,
                "max_iter",
                f"max_iter: stopped after {k} iterations "
                f"(loss {loss:.6g}, gradient norm {norm:.3g})",
            )
        if max_passes is not None and passes >= max_passes * (1 - 1e-12):
            return _Outcome(
                w,
                loss,
                k,
                "max_iter",
                f"max_passes: data-pass budget of "
                f"{max_passes:g} passes used after {k} iterations (loss {loss:.6g})",
            )
        if checked:
            prev = loss
        if sampler is None:
            passes += 1.0
            epoch_end = True
        else:
            rows, epoch_end = sampler.next()
            grad = batch(w, rows)
            passes += len(rows) * per_row
        delta, state = update(grad, state, w, k)
        w_prev, w, k = w, w + delta, k + 1
        loss, grad, norm = oracle(w)


def _diverged(
    w_prev: np.ndarray, rec: _Recorder, k: int, loss: float, limit: float, factor: float
) -> _Outcome:
    """Outcome of a divergence detected at step ``k``: the last finite parameters."""
    if not math.isfinite(loss):
        why = f"non-finite loss ({loss})"
    elif loss > limit:
        why = f"loss {loss:.3g} exceeds {factor:g} x the initial loss"
    else:
        why = "non-finite gradient"
    last = float(rec.loss[rec.size - 1]) if k > 0 else loss
    return _Outcome(
        w_prev,
        last,
        k,
        "diverged",
        f"diverged at iteration {k}: {why}; returning the parameters of iteration {max(k - 1, 0)}",
        diverged_at=k,
    )


def _find_plateau(optimizer: GradientTransformation, plateau: Any) -> Any:
    """The plateau schedule to feed losses to: the argument, or the optimizer's own."""
    if plateau is None and isinstance(optimizer.learning_rate, PlateauSchedule):
        plateau = optimizer.learning_rate
    if plateau is not None and not hasattr(plateau, "observe"):
        raise ValueError(f"plateau must have an observe(loss) method, got {plateau!r}")
    return plateau


def solve(
    objective: Any,
    optimizer: GradientTransformation,
    w0: Any,
    *,
    batch_size: int | None = None,
    max_iter: int = 10_000,
    tol: float = 1e-10,
    gtol: float = 1e-8,
    seed: int = 0,
    max_trace: int = 2000,
    record_path: bool = False,
    plateau: PlateauSchedule | None = None,
    divergence_factor: float = 1e8,
    max_passes: float | None = None,
) -> SolveResult:
    """Minimize ``objective`` from ``w0`` with ``optimizer``; never raises on divergence.

    Args:
      objective: has ``value_and_grad``, ``n_samples`` and, as needed, ``batch_grad(w, rows)``
        (mini-batches), ``smooth_value_and_grad``, ``prox_l1``, ``l1_weights``, ``lipschitz``
        (when ``has_l1``).
      optimizer: a GradientTransformation; when ``optimizer.proximal`` it gets the smooth
        gradient only (its prox handles the L1 term).
      w0: starting parameters (p,).
      batch_size: None (or ≥ n) for full batch; ``b < n`` for mini-batches of ``b`` rows from
        a per-epoch permutation drawn with ``np.random.default_rng(seed)`` (1 = SGD).
      max_iter: maximum number of updates.
      tol: stop when the relative loss change (between epochs for mini-batches) is ≤ tol
        and the gradient norm is already ≤ ``10 · gtol · max(1, norm at w0)`` (a flat loss
        with a larger gradient is slow progress, not convergence); 0 disables this test.
      gtol: stop when the full gradient norm (prox-gradient mapping norm with L1) is
        ≤ ``gtol · max(1, norm at w0)``.
      seed: seed of the mini-batch sampling.
      max_trace: at most this many traced points (≥ 2).
      record_path: also keep the parameters at the traced steps.
      plateau: a schedule with ``observe(loss)`` to feed (each step; each epoch for
        mini-batches); found automatically when it is the optimizer's learning rate. It is
        reset at the start so that runs are repeatable.
      divergence_factor: the loss exploding above ``factor · max(loss_0, tiny)`` is divergence.
      max_passes: optional budget of data passes (full-batch step = 1 pass, batch = b/n).

    Returns:
      A :class:`SolveResult`; status "converged", "max_iter" (also for an exhausted
      ``max_passes`` budget, said in ``message``) or "diverged".
    """
    started = time.perf_counter()
    w = _check_arguments(
        w0, batch_size, max_iter, max_trace, divergence_factor, max_passes, tol, gtol
    )
    plateau = _find_plateau(optimizer, plateau)
    if plateau is not None and hasattr(plateau, "reset"):
        plateau.reset()
    n = int(objective.n_samples)
    sampler = None if batch_size is None or batch_size >= n else _Sampler(n, batch_size, seed)
    rec = _Recorder(w.size, min(int(max_iter) + 1, 4096), record_path)
    opts = {
        "tol": tol,
        "gtol": gtol,
        "max_iter": int(max_iter),
        "max_passes": max_passes,
        "divergence_factor": divergence_factor,
    }
    with np.errstate(all="ignore"):
        out = _loop(objective, optimizer, w, rec, sampler, plateau, opts)
    trace, path = rec.thinned(max_trace)
    return SolveResult(
        params=np.array(out.params, dtype=float, copy=True),
        status=out.status,
        iterations=out.iterations,
        diverged_at=out.diverged_at,
        message=out.message,
        trace=trace,
        path=path,
        seconds=time.perf_counter() - started,
        loss=float(out.loss),
    )


def multistart(
    objective: Any,
    make_optimizer: Callable[[], GradientTransformation] | GradientTransformation,
    starts: np.ndarray,
    **solve_kwargs: Any,
) -> tuple[SolveResult, list[SolveResult]]:
    """:func:`solve` from every row of ``starts``; the best is the lowest final loss.

    Args:
      objective: as for :func:`solve`.
      make_optimizer: a GradientTransformation (pure, so reusable) or a zero-argument factory
        called once per start.
      starts: (k, p) starting points (a single (p,) vector is one start).
      **solve_kwargs: passed to :func:`solve`.

    Returns:
      ``(best, results)``: best = lowest final loss among the non-diverged runs (among all
      runs if every one diverged), results in the order of ``starts``.
    """
    starts = np.atleast_2d(np.asarray(starts, dtype=float))
    if starts.shape[0] == 0:
        raise ValueError("multistart needs at least one start")
    results = []
    for w0 in starts:
        optimizer = (
            make_optimizer
            if isinstance(make_optimizer, GradientTransformation)
            else make_optimizer()
        )
        results.append(solve(objective, optimizer, w0, **solve_kwargs))
    pool = [r for r in results if r.status != "diverged"] or results
    best = min(pool, key=lambda r: r.loss if math.isfinite(r.loss) else math.inf)
    return best, results
