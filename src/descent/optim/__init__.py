"""The optimizer core, optax style without JAX: pure ``init`` / ``update`` pairs, one solver.

>>> from descent.optim import adam, solve
>>> result = solve(objective, adam(0.1), w0)          # doctest: +SKIP
"""

from descent.optim import schedules, transforms
from descent.optim.aliases import (
    OPTIMIZERS,
    adagrad,
    adam,
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
from descent.optim.base import GradientTransformation, Schedule, chain
from descent.optim.schedules import PlateauSchedule, make_schedule
from descent.optim.solver import SolveResult, multistart, solve

__all__ = [
    "OPTIMIZERS",
    "GradientTransformation",
    "PlateauSchedule",
    "Schedule",
    "SolveResult",
    "adagrad",
    "adam",
    "chain",
    "fista",
    "gd",
    "make_optimizer",
    "make_schedule",
    "momentum",
    "multistart",
    "nesterov",
    "newton",
    "optimizer_options",
    "proximal_gradient",
    "rmsprop",
    "schedules",
    "solve",
    "transforms",
]
