"""Types of the optimizer core: a gradient transformation is a pair of pure functions.

An optimizer is ``init(params) -> state`` and ``update(u, state, params, step) -> (delta, state)``;
the solver applies ``params <- params + delta``. Transformations compose with :func:`chain`,
each link transforming the previous link's output ``u`` (the raw gradient for the first link).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

Params = np.ndarray
Updates = np.ndarray
State = Any
Schedule = Callable[[int], float]
LearningRate = float | Schedule
InitFn = Callable[[Params], State]
UpdateFn = Callable[[Updates, State, Params, int], tuple[Updates, State]]


class EmptyState(NamedTuple):
    """State of a stateless transformation."""


class GradientTransformation(NamedTuple):
    """A pair of pure functions ``init`` / ``update``, plus two facts the solver needs.

    Attributes:
      init: ``params -> state``.
      update: ``(u, state, params, step) -> (delta, state)``; ``step`` counts from 0.
      proximal: the last link is a proximal step that handles the L1 term itself, so the
        solver must feed the gradient of the smooth part only (not the L1 subgradient).
      learning_rate: the float or schedule the transformation scales by (``None`` if none);
        the solver records ``lr(step)`` in the trace and finds a plateau schedule here.
    """

    init: InitFn
    update: UpdateFn
    proximal: bool = False
    learning_rate: LearningRate | None = None


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Compose transformations left to right: ``u_{i+1}, s_i' = T_i.update(u_i, s_i, w, t)``.

    Args:
      *transforms: the links, applied in order; a proximal link must be the last one.

    Returns:
      A GradientTransformation whose state is the tuple of the links' states; it is proximal
      if its last link is, and its learning rate is the first link's that has one.
    """
    if not transforms:
        raise ValueError("chain() needs at least one transformation")
    if any(t.proximal for t in transforms[:-1]):
        raise ValueError("a proximal transformation must be the last link of a chain")
    links = tuple(transforms)
    lr = next((t.learning_rate for t in links if t.learning_rate is not None), None)

    def init_fn(params: Params) -> tuple:
        return tuple(t.init(params) for t in links)

    def update_fn(updates: Updates, state: tuple, params: Params, step: int):
        new_state = []
        for link, link_state in zip(links, state, strict=True):
            updates, link_state = link.update(updates, link_state, params, step)
            new_state.append(link_state)
        return updates, tuple(new_state)

    return GradientTransformation(init_fn, update_fn, links[-1].proximal, lr)


def as_schedule(learning_rate: LearningRate) -> Schedule:
    """A ``step -> lr`` function from a positive float or a schedule (validated)."""
    if callable(learning_rate):
        return learning_rate
    value = check_positive(learning_rate, "learning_rate")
    return lambda step: value


def check_positive(value: Any, name: str) -> float:
    """``float(value)`` if it is a finite number > 0, else a ValueError naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not np.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return number
