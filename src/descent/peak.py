"""The non-convex family in the pipeline: one Gaussian peak fitted with multi-start.

``y ≈ a·exp(−(x−μ)²/(2s²)) + c`` on the first feature of a one-feature dataset. There is no
certificate of a global optimum: the reference is the best of many random starts, each polished
by damped Newton, and every record says so. Coordinates are standardized (x and y centered and
scaled) while solving and mapped back exactly: ``a = s_y·a'``, ``μ = x̄ + s_x·μ'``,
``s = s_x·|s'|``, ``c = ȳ + s_y·c'``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from descent.features import Design
from descent.models import PARAM_NAMES, GaussianPeak, polish_newton
from descent.optim.aliases import make_optimizer
from descent.optim.solver import multistart

REFERENCE_STARTS = 64
REFERENCE_SEED = 20240601  # fixed: the reference must not depend on a variant's seed
REFERENCE_METHOD = (
    f"best of {REFERENCE_STARTS} random starts polished by damped Newton "
    "(non-convex: no certificate of a global optimum)"
)


def peak_feature_name(design: Design) -> str:
    """The one numeric feature of the model (its powers may be terms too), or a clear error."""
    from descent.views import polynomial_powers

    powers = polynomial_powers(design.terms)
    if powers is None or powers[0] not in design.terms:
        features = [t for t in design.terms if t != "intercept"]
        raise ValueError(
            f"the peak family needs exactly one numeric feature; the model has "
            f"{len(features)} terms: {features}"
        )
    return powers[0]


def peak_feature(design: Design) -> np.ndarray:
    """The raw values of the model's one numeric feature."""
    return np.asarray(design.X[:, design.terms.index(peak_feature_name(design))], dtype=float)


def standardizer(values: np.ndarray) -> tuple[float, float]:
    """Center and spread (1 for a constant)."""
    spread = float(np.std(values))
    return float(np.mean(values)), spread if spread > 0 else 1.0


def to_original(w: np.ndarray, x_stats: tuple[float, float], y_stats: tuple[float, float]):
    """Standardized peak parameters to the data's units."""
    (xc, xs), (yc, ys) = x_stats, y_stats
    a, mu, s, c = (float(v) for v in w)
    return np.array([ys * a, xc + xs * mu, xs * abs(s), yc + ys * c])


def peak_loss(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """``0.5·mean((y − a·exp(−(x−μ)²/2s²) − c)²)`` in the data's units, inf when undefined."""
    with np.errstate(all="ignore"):
        value = GaussianPeak(x, y).value(w)
    return float(value) if np.isfinite(value) else float("inf")


def reference_optimum(model: GaussianPeak) -> np.ndarray:
    """Best of many seeded random starts, each polished by damped Newton."""
    rng = np.random.default_rng(REFERENCE_SEED)
    starts = np.vstack([model.default_start(), model.initial_points(REFERENCE_STARTS - 1, rng)])
    with np.errstate(all="ignore"):
        polished = [polish_newton(model, start) for start in starts]
        values = [model.value(w) for w in polished]
    return polished[int(np.nanargmin(np.where(np.isfinite(values), values, np.nan)))]


def fit_peak(design: Design, name: str, v: dict[str, Any]) -> tuple[dict, dict]:
    """Multi-start fit of the peak model; the record matches the linear one field by field."""
    from descent.fitting import relative_gap, schedule_of

    if v["penalty"]:
        raise ValueError("the peak family has no penalty; remove penalty: from the variant")

    x, y = peak_feature(design), np.asarray(design.y, dtype=float)
    x_stats, y_stats = standardizer(x), standardizer(y)
    if not v["standardize"]:
        x_stats, y_stats = (0.0, 1.0), (0.0, 1.0)
    model = GaussianPeak((x - x_stats[0]) / x_stats[1], (y - y_stats[0]) / y_stats[1])
    w_ref = reference_optimum(model)
    starts = model.initial_points(int(v["restarts"]), np.random.default_rng(v["seed"]))
    lr = v["learning_rate"]
    lr = float(v["lr_factor"]) / model.lipschitz(model.default_start()) if lr == "auto" else lr

    def optimizer():
        return make_optimizer(
            v["optimizer"],
            learning_rate=schedule_of(v["schedule"], float(lr)),
            objective=model,
            **v["options"],
        )

    started = time.perf_counter()
    best, runs = multistart(
        model,
        optimizer,
        starts,
        batch_size=v["batch_size"] if v["batch_size"] and v["batch_size"] < len(y) else None,
        max_iter=v["max_iter"],
        max_passes=v["max_passes"],
        tol=v["tol"],
        gtol=v["gtol"],
        seed=v["seed"],
        record_path=False,
    )
    seconds = time.perf_counter() - started
    coef, optimal_coef = (
        to_original(best.params, x_stats, y_stats),
        to_original(w_ref, x_stats, y_stats),
    )
    loss, optimal_loss = peak_loss(x, y, coef), peak_loss(x, y, optimal_coef)
    endpoints = [to_original(r.params, x_stats, y_stats) for r in runs]
    record = {
        "variant": name,
        "status": best.status,
        "iterations": int(best.iterations),
        "passes": float(best.trace["passes"][-1]),
        "diverged_at": best.diverged_at,
        "message": best.message,
        "loss": loss,
        "optimal_loss": optimal_loss,
        "gap": float(relative_gap(loss, optimal_loss, y)),
        "distance": float(np.linalg.norm(coef - optimal_coef)),
        "distance_std": float(np.linalg.norm(best.params - w_ref)),
        "terms": list(PARAM_NAMES),
        "coef": coef.tolist(),
        "optimal_coef": optimal_coef.tolist(),
        "restarts": {
            "k": len(runs),
            "losses": [peak_loss(x, y, e) for e in endpoints],
            "statuses": [r.status for r in runs],
            "endpoints": [e.tolist() for e in endpoints],
        },
        "seconds": seconds,
        "seed": v["seed"],
        "learning_rate": float(lr),
        "lr_unstable": False,
        "reference_method": REFERENCE_METHOD,
        "config": v,
        "model": "peak",
        "formula": f"{design.target} ~ a·exp(−({peak_feature_name(design)} − μ)²/(2s²)) + c",
        "warnings": [
            "non-convex model: the reference is the best local optimum found, "
            "not a certified global one"
        ],
        "batch_size": None,
    }
    f_star = model.value(w_ref)
    from descent.fitting import trace_arrays

    return record, trace_arrays(best, f_star, y_stats[1], design)
