"""Learning-rate schedules: plain ``step -> lr`` callables, ``step`` counting from 0.

:class:`PlateauSchedule` is the one stateful schedule: the solver feeds it the loss through
:meth:`PlateauSchedule.observe` (every step for full batch, every epoch for mini-batches).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from descent.optim.base import Schedule, check_positive


def _check_factor(value: float, name: str) -> float:
    """``value`` in (0, 1], else ValueError."""
    value = float(value)
    if not 0 < value <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return value


def _check_nonnegative(value: float, name: str) -> float:
    """``value`` finite and ≥ 0, else ValueError."""
    value = float(value)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def constant(lr0: float) -> Schedule:
    """``η_t = η_0``.

    Args:
      lr0: the learning rate.

    Returns:
      A schedule.
    """
    lr0 = check_positive(lr0, "lr0")
    return lambda step: lr0


def step_decay(lr0: float, every: int, factor: float = 0.5) -> Schedule:
    """``η_t = η_0 · factor^⌊t / every⌋``.

    Args:
      lr0: initial learning rate.
      every: number of steps between drops (≥ 1).
      factor: multiplier per drop, in (0, 1].

    Returns:
      A schedule.
    """
    lr0 = check_positive(lr0, "lr0")
    factor = _check_factor(factor, "factor")
    if int(every) != every or every < 1:
        raise ValueError(f"every must be an integer >= 1, got {every!r}")
    every = int(every)
    return lambda step: lr0 * factor ** (step // every)


def exponential_decay(lr0: float, rate: float) -> Schedule:
    """``η_t = η_0 · exp(-rate · t)`` (rate per step, ≥ 0).

    Args:
      lr0: initial learning rate.
      rate: continuous decay rate per step.

    Returns:
      A schedule.
    """
    lr0 = check_positive(lr0, "lr0")
    rate = _check_nonnegative(rate, "rate")
    return lambda step: lr0 * math.exp(-rate * step)


def inverse_time(lr0: float, decay: float) -> Schedule:
    """``η_t = η_0 / (1 + decay · t)``.

    Args:
      lr0: initial learning rate.
      decay: decay rate per step (≥ 0).

    Returns:
      A schedule.
    """
    lr0 = check_positive(lr0, "lr0")
    decay = _check_nonnegative(decay, "decay")
    return lambda step: lr0 / (1.0 + decay * step)


def cosine_annealing(
    lr0: float,
    period: int,
    min_lr: float = 0.0,
    *,
    restarts: bool = False,
    period_mult: float = 1.0,
) -> Schedule:
    """SGDR: ``η_t = η_min + ½(η_0 - η_min)(1 + cos(π t_cur / T_i))`` (Loshchilov & Hutter 2017).

    ``T_0 = period`` and ``T_{i+1} = period_mult · T_i``; ``t_cur`` counts steps since the
    last restart. Without ``restarts`` the rate follows one half cosine to ``η_min`` over
    ``period`` steps and stays there.

    Args:
      lr0: the peak learning rate η_0.
      period: length of the first cycle in steps (> 0).
      min_lr: η_min in [0, lr0].
      restarts: restart the cosine at the end of each cycle (warm restarts).
      period_mult: cycle-length multiplier (≥ 1).

    Returns:
      A schedule.
    """
    lr0 = check_positive(lr0, "lr0")
    period = check_positive(period, "period")
    min_lr = _check_nonnegative(min_lr, "min_lr")
    if min_lr > lr0:
        raise ValueError(f"min_lr={min_lr} must not exceed lr0={lr0}")
    period_mult = float(period_mult)
    if not (math.isfinite(period_mult) and period_mult >= 1):
        raise ValueError(f"period_mult must be >= 1, got {period_mult!r}")
    span = lr0 - min_lr

    def cycle_position(step: int) -> tuple[float, float]:
        if not restarts:
            return min(float(step), period), period
        if period_mult == 1.0:
            return step % period, period
        i = math.floor(math.log1p(step * (period_mult - 1.0) / period) / math.log(period_mult))
        start = period * (period_mult**i - 1.0) / (period_mult - 1.0)
        length = period * period_mult**i
        if step - start >= length:  # rounding at a cycle boundary
            start, length = start + length, length * period_mult
        return max(step - start, 0.0), length

    def schedule(step: int) -> float:
        t_cur, length = cycle_position(step)
        return min_lr + 0.5 * span * (1.0 + math.cos(math.pi * t_cur / length))

    return schedule


class PlateauSchedule:
    """Reduce on plateau: ``η ← max(factor · η, η_min)`` after ``patience`` bad observations.

    An observation is *bad* unless ``loss < best · (1 - threshold)`` (relative improvement);
    ``best`` is the lowest loss observed. Call :meth:`observe` with the loss (the solver does,
    every step for full batch and every epoch for mini-batches); :meth:`reset` restores ``η_0``.

    Args:
      lr0: initial learning rate.
      factor: multiplier per reduction, in (0, 1).
      patience: bad observations tolerated before a reduction (≥ 0).
      threshold: relative improvement that counts as progress (≥ 0).
      min_lr: lower bound η_min (≥ 0).
    """

    def __init__(
        self,
        lr0: float,
        factor: float = 0.5,
        patience: int = 10,
        threshold: float = 1e-4,
        min_lr: float = 0.0,
    ) -> None:
        self.lr0 = check_positive(lr0, "lr0")
        self.factor = _check_factor(factor, "factor")
        if self.factor == 1.0:
            raise ValueError("factor must be < 1 for a plateau schedule")
        if int(patience) != patience or patience < 0:
            raise ValueError(f"patience must be an integer >= 0, got {patience!r}")
        self.patience = int(patience)
        self.threshold = _check_nonnegative(threshold, "threshold")
        self.min_lr = _check_nonnegative(min_lr, "min_lr")
        self.reset()

    def reset(self) -> None:
        """Back to ``η_0`` with no observations."""
        self.lr = self.lr0
        self.best = math.inf
        self.bad = 0
        self.reductions = 0

    def __call__(self, step: int) -> float:
        """The current learning rate (``step`` is ignored: the rate depends on the losses)."""
        return self.lr

    def observe(self, loss: float) -> bool:
        """Record one loss; return whether the learning rate was reduced."""
        if loss < self.best * (1.0 - self.threshold) or self.best == math.inf:
            self.best = min(loss, self.best)
            self.bad = 0
            return False
        self.bad += 1
        if self.bad <= self.patience:
            return False
        self.bad = 0
        reduced = max(self.lr * self.factor, self.min_lr)
        changed = reduced < self.lr
        self.lr = reduced
        self.reductions += changed
        return changed

    def __repr__(self) -> str:
        return (
            f"PlateauSchedule(lr0={self.lr0}, factor={self.factor}, patience={self.patience}, "
            f"threshold={self.threshold}, min_lr={self.min_lr}; lr={self.lr})"
        )


SCHEDULES: dict[str, Callable[..., Any]] = {
    "constant": constant,
    "step_decay": step_decay,
    "exponential_decay": exponential_decay,
    "inverse_time": inverse_time,
    "cosine_annealing": cosine_annealing,
    "reduce_on_plateau": PlateauSchedule,
}


def make_schedule(name: str, lr0: float, **options: Any) -> Schedule:
    """The schedule called ``name`` (a key of :data:`SCHEDULES`) starting at ``lr0``."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; valid: {', '.join(SCHEDULES)}")
    try:
        return SCHEDULES[name](lr0, **options)
    except TypeError as err:
        raise ValueError(f"bad option for schedule {name!r}: {err}") from None
