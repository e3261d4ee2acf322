"""What the figures show, computed from a design and its fit records (NumPy only).

Kept apart from :mod:`descent.plots` so that the numbers behind a figure are testable
without drawing it, and apart from :mod:`descent.fitting` which only fits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from descent import objective as obj
from descent.features import Design
from descent.fitting import standardized_problem

GRID_POINTS = 200
MAX_POINTS = 5000  # points drawn in a fit plot; larger tables are subsampled
PROFILE_POINTS = 120  # grid points per axis of the peak model's (μ, s) landscape


def polynomial_powers(terms: Sequence[str]) -> tuple[str, dict[int, int]] | None:
    """``(feature, {term index: power})`` when every term is a power of one feature, else None."""
    features = [t for t in terms if t != "intercept"]
    if not features:
        return None
    base = features[0]
    powers = {}
    for j, term in enumerate(terms):
        if term == "intercept":
            powers[j] = 0
        elif term == base:
            powers[j] = 1
        elif term.startswith(base + "^") and term[len(base) + 1 :].isdigit():
            powers[j] = int(term[len(base) + 1 :])
        else:
            return None
    return base, powers


def peak_curve(coef: Sequence[float], x: np.ndarray) -> np.ndarray:
    """``a·exp(−(x−μ)²/(2s²)) + c``."""
    a, mu, s, c = (float(v) for v in coef)
    with np.errstate(all="ignore"):
        return a * np.exp(-((x - mu) ** 2) / (2.0 * s * s)) + c


def drawable(fits: Sequence[Mapping]) -> list[Mapping]:
    """Fits whose coefficients mean something: a diverged run's are marked in the cost curves
    and would only flatten every other curve here."""
    return [f for f in fits if f.get("status") not in ("diverged", "failed")]


def shown_rows(n: int, max_points: int = MAX_POINTS, seed: int = 0) -> np.ndarray | None:
    """Sorted random rows to draw (fixed seed), or None to draw all ``n``."""
    if n <= max_points:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def fit_plot_data(
    design: Design, fits: Sequence[Mapping], reference: Mapping
) -> tuple[dict[str, Any], str]:
    """Arguments of :func:`descent.plots.fit_plot` and a note for its title.

    Curves on a grid for one-feature models, per-sample predictions otherwise. A large table
    is subsampled (fixed seed) before anything is computed, and the note says so.
    """
    fits = drawable(fits)
    rows = shown_rows(design.X.shape[0])
    X = np.asarray(design.X if rows is None else design.X[rows])
    y = np.asarray(design.y if rows is None else design.y[rows], dtype=float)
    note = "" if rows is None else f" (random {rows.size:,} of {design.X.shape[0]:,} points)"
    one_feature = polynomial_powers(design.terms)
    if one_feature is None:
        linear = [f for f in fits if f.get("model", "linear") == "linear"]
        return {
            "y": y,
            "target": design.target,
            "predictions": {f["variant"]: X @ np.asarray(f["coef"]) for f in linear},
            "optimum": X @ np.asarray(reference["coef"]),
        }, note
    feature, powers = one_feature
    x = X[:, design.terms.index(feature)]
    lo, hi = float(np.min(x)), float(np.max(x))
    grid = np.linspace(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo), GRID_POINTS)
    basis = np.column_stack([grid ** powers[j] for j in range(len(design.terms))])
    curves = {}
    for f in fits:
        if f.get("model") == "peak":
            curves[f["variant"]] = peak_curve(f["coef"], grid)
        else:
            curves[f["variant"]] = basis @ np.asarray(f["coef"])
    return {
        "y": y,
        "x": x,
        "grid": grid,
        "predictions": curves,
        "feature": feature,
        "target": design.target,
        "optimum": basis @ np.asarray(reference["coef"]),
    }, note


def landscape(
    design: Design,
    stats: obj.GramStats,
    fits: Sequence[Mapping],
    traces: Mapping[str, Mapping[str, np.ndarray]],
    X_std: np.ndarray | None = None,
) -> dict[str, Any]:
    """The unpenalized loss on a 2-D slice through the optimum, with each path projected.

    Two coefficients: the plane of both (standardized). More: the plane through the optimum
    spanned by the Hessian's eigenvectors of largest and smallest curvature, where the
    condition number shows as the elongation of the contours.
    """
    fits = drawable(fits)
    problem, _ = standardized_problem(design, stats, None, X_std)
    w_star = np.asarray(stats.w_ls, dtype=float)
    p = w_star.size
    if p == 2:
        basis, origin = np.eye(2), np.zeros(2)
        labels = (f"{design.terms[0]} (standardized)", f"{design.terms[1]} (standardized)")
        title = "loss contours (no penalty) and optimizer paths"
    else:
        eigenvalues, vectors = np.linalg.eigh(problem.hessian())
        basis, origin = vectors[:, [-1, 0]], w_star
        labels = (
            f"along largest curvature (λ={eigenvalues[-1]:.3g})",
            f"along smallest curvature (λ={eigenvalues[0]:.3g})",
        )
        title = "loss on the slice of extreme curvature through the optimum"

    def loss(point: np.ndarray) -> float:
        return float(problem.value(origin + basis @ np.asarray(point, dtype=float)))

    paths = {}
    for f in fits:
        trace = traces.get(f["variant"], {})
        if f.get("model", "linear") == "linear" and "path" in trace:
            paths[f["variant"]] = (np.asarray(trace["path"]) - origin) @ basis
    return {
        "loss": loss,
        "paths": paths,
        "optimum": (w_star - origin) @ basis,
        "labels": labels,
        "title": title,
    }


def peak_profile(design: Design, fit: Mapping) -> dict[str, Any]:
    """The peak model's loss over (μ, s) with a and c profiled out, and where each start ended.

    For fixed μ and s the model ``a·exp(−(x−μ)²/2s²) + c`` is linear in (a, c), so the best
    (a, c) is a 2-column least-squares solve: the contour map is exact, not a slice, and every
    local optimum of the 4-parameter problem is a local optimum of this 2-D surface.
    """
    from descent.peak import peak_feature

    rows = shown_rows(design.X.shape[0])
    x = peak_feature(design) if rows is None else peak_feature(design)[rows]
    y = np.asarray(design.y if rows is None else design.y[rows], dtype=float)

    def loss(point: np.ndarray) -> float:
        mu, s = (float(v) for v in point)
        with np.errstate(all="ignore"):
            basis = np.column_stack([np.exp(-((x - mu) ** 2) / (2.0 * s * s)), np.ones_like(x)])
            if not np.all(np.isfinite(basis)):
                return float("nan")
            coef = np.linalg.lstsq(basis, y, rcond=None)[0]
            return float(0.5 * np.mean((y - basis @ coef) ** 2))

    lo, hi = float(np.min(x)), float(np.max(x))
    span = max(hi - lo, 1e-12)
    mus = np.linspace(lo - 0.6 * span, hi + 0.6 * span, PROFILE_POINTS)
    widths = np.geomspace(span / 40.0, 2.0 * span, PROFILE_POINTS)
    M, S = np.meshgrid(mus, widths)
    Z = np.array([loss(point) for point in zip(M.ravel(), S.ravel(), strict=True)])
    ends = [[e[1], abs(e[2])] for e in fit["restarts"].get("endpoints", [])]
    # a start that ran off (a flat fit: s → ∞, or μ far outside the data) is drawn on the border
    endpoints = np.clip(
        np.array(ends, dtype=float).reshape(-1, 2), [mus[0], widths[0]], [mus[-1], widths[-1]]
    )
    return {
        "loss": (M, S, Z.reshape(M.shape)),
        "paths": {},
        "optimum": [fit["optimal_coef"][1], abs(fit["optimal_coef"][2])],
        "endpoints": endpoints,
        "labels": ("μ, peak position", "s, peak width (end points off the map on its border)"),
    }
