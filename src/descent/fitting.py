"""Turn one variant of the configuration into a fit, measured against the exact optimum.

A variant is plain data (a dict from ``config/config.yaml``); this module is the only place
that maps it onto the objective, the optimizer core and the exact reference. The workflow,
the command line and :class:`descent.GDRegressor` all go through :func:`fit_variant`.

Problems are solved in *standardized* coordinates (centered and scaled features, centered and
scaled target) unless a variant says ``standardize: false``, and always reported in the data's
own units. Standardization is an exact reparametrisation: the penalty is defined on the
original coefficients and transformed with them, so the optimum is the same point and the loss
the same number in either coordinates.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from descent import objective as obj
from descent.features import Design, from_original, mean_std, penalty_weights, to_original
from descent.optim.aliases import make_optimizer
from descent.optim.schedules import make_schedule
from descent.optim.solver import SolveResult, multistart

#: Every key a variant may set, with its default. workflow/schemas/config.schema.yaml mirrors it.
VARIANT_DEFAULTS: dict[str, Any] = {
    "optimizer": "gd",
    "family": "linear",
    "learning_rate": "auto",
    "lr_factor": 1.0,
    "schedule": None,
    "penalty": None,
    "batch_size": None,
    "max_iter": 5000,
    "max_passes": None,
    "tol": 1e-12,
    "gtol": 1e-9,
    "seed": 0,
    "restarts": 1,
    "standardize": True,
    "datasets": None,
    "options": {},
}
MAX_PATH_TERMS = 50  # record optimizer paths (for the contour plot) up to this many coefficients


def resolve_variant(variant: dict[str, Any]) -> dict[str, Any]:
    """Fill in defaults and reject unknown keys, so a typo never silently does nothing."""
    unknown = sorted(set(variant) - set(VARIANT_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown variant key(s) {unknown}; valid: {sorted(VARIANT_DEFAULTS)}")
    merged = {**VARIANT_DEFAULTS, **variant}
    merged["options"] = dict(merged["options"] or {})
    if merged["optimizer"] == "sgd" and merged["batch_size"] is None:
        merged["batch_size"] = 1
    return merged


# --- coordinates --------------------------------------------------------------------------


@dataclass(frozen=True)
class Coordinates:
    """Where a problem is solved: ``(X − x_center)/x_scale`` and ``(y − y_center)/y_scale``.

    The intercept column keeps center 0 and scale 1. ``identity`` coordinates solve the problem
    exactly as the data give it.
    """

    x_center: np.ndarray
    x_scale: np.ndarray
    y_center: float
    y_scale: float
    intercept: bool

    def features(self, X: np.ndarray) -> np.ndarray:
        """The design in these coordinates (a copy)."""
        return (np.asarray(X, dtype=float) - self.x_center) / self.x_scale

    def target(self, y: np.ndarray) -> np.ndarray:
        """The target in these coordinates (a copy)."""
        return (np.asarray(y, dtype=float) - self.y_center) / self.y_scale

    def to_original(self, w: np.ndarray) -> np.ndarray:
        """Coefficients back to the data's units (exact inverse of :meth:`from_original`)."""
        out = self.y_scale * to_original(w, self.x_center, self.x_scale, self.intercept)
        if self.intercept:
            out[0] += self.y_center
        return out

    def from_original(self, w: np.ndarray) -> np.ndarray:
        """Coefficients in the data's units to these coordinates."""
        w = np.array(w, dtype=float, copy=True)
        if self.intercept:
            w[0] -= self.y_center
        return from_original(w / self.y_scale, self.x_center, self.x_scale, self.intercept)

    def penalty(self, l1: np.ndarray, l2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Penalty weights in these coordinates, so that the objective is the same function.

        The loss is divided by ``y_scale²`` and ``w_j = y_scale·v_j/x_scale_j``, so an L1 weight
        becomes ``λ1/(y_scale·x_scale_j)`` and an L2 weight ``λ2/x_scale_j²``.
        """
        # divided one factor at a time: a product of two scales near 1e-300 underflows to 0
        with np.errstate(over="ignore"):
            return l1 / self.y_scale / self.x_scale, l2 / self.x_scale / self.x_scale


class RowsIn:
    """A design's rows in other coordinates, computed when sliced (``view[a:b]``).

    A pass over it (the Gram statistics, a loss) never holds a second copy of a large design;
    only row slices are supported, which is all such passes use.
    """

    def __init__(self, X: np.ndarray, frame: Coordinates) -> None:
        self.X, self.frame = X, frame
        self.shape, self.ndim, self.dtype = X.shape, 2, np.dtype(np.float64)

    def __getitem__(self, rows: slice) -> np.ndarray:
        if not isinstance(rows, slice):
            raise TypeError("RowsIn supports row slices only")
        return self.frame.features(self.X[rows])


def coordinates(design: Design, standardize: bool = True) -> Coordinates:
    """Standardized coordinates of a design (the identity when ``standardize`` is false)."""
    p = len(design.terms)
    if not standardize:
        return Coordinates(np.zeros(p), np.ones(p), 0.0, 1.0, design.intercept)
    mean, std, _ = mean_std(design.y)
    center = mean if design.intercept else 0.0
    # without an intercept nothing absorbs a shift: scale by the root mean square instead
    spread = std if design.intercept else math.hypot(mean, std)
    spread = spread if spread > 0 and math.isfinite(spread) else 1.0
    return Coordinates(
        np.asarray(design.center, dtype=float),
        np.asarray(design.scale, dtype=float),
        center,
        spread,
        design.intercept,
    )


def compute_stats(design: Design, standardize: bool = True) -> obj.GramStats:
    """Gram statistics and the orthogonal factorization in the solving coordinates, one pass."""
    return design_in(design, standardize)[1]


def design_in(design: Design, standardize: bool = True) -> tuple[np.ndarray, obj.GramStats]:
    """The design in its solving coordinates and its Gram statistics (in memory)."""
    frame = coordinates(design, standardize)
    X = frame.features(design.X)
    return X, obj.gram_stats(X, frame.target(design.y))


def penalty_in_original_units(
    design: Design, penalty: dict | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-term L1 and L2 weights of ``alpha·(l1_ratio·‖w‖₁ + 0.5·(1−l1_ratio)·‖w‖²)``.

    scikit-learn's ElasticNet convention with our loss ``0.5·mean(r²)``: ``alpha`` is
    ``Lasso(alpha)`` / ``ElasticNet(alpha, l1_ratio)`` exactly and ``Ridge(alpha=n·alpha)``.
    The intercept is never penalized.
    """
    penalty = penalty or {}
    return penalty_weights(
        design.terms, float(penalty.get("alpha", 0.0)), float(penalty.get("l1_ratio", 0.0))
    )


def problem_in(
    frame: Coordinates,
    design: Design,
    stats: obj.GramStats,
    penalty: dict | None,
    X_in_frame: np.ndarray | None = None,
) -> obj.LeastSquares:
    """The least-squares objective of a design in the given coordinates.

    ``X_in_frame`` is the design already in these coordinates (e.g. the memory-mapped
    standardized design of the workflow), so that a large table is never copied whole.
    """
    l1, l2 = frame.penalty(*penalty_in_original_units(design, penalty))
    return obj.LeastSquares(
        frame.features(design.X) if X_in_frame is None else X_in_frame,
        frame.target(design.y),
        l1_weights=l1,
        l2_weights=l2,
        gram_stats=stats,
    )


def standardized_problem(
    design: Design,
    stats: obj.GramStats,
    penalty: dict | None,
    X_std: np.ndarray | None = None,
) -> tuple[obj.LeastSquares, Coordinates]:
    """The objective in standardized coordinates (``stats`` must be of the same coordinates)."""
    frame = coordinates(design)
    return problem_in(frame, design, stats, penalty, X_std), frame


# --- learning rate --------------------------------------------------------------------------


def learning_rate(variant: dict, problem: Any, batch_size: int | None) -> float:
    """The initial learning rate: a number, or ``lr_factor/L`` with L the Lipschitz constant.

    For sampled gradients L is the largest single-row curvature ``max ‖x_i‖² + λ2``, so the
    default is safe for every mini-batch, not only for the full batch.
    """
    lr = variant["learning_rate"]
    if lr != "auto":
        return float(lr)
    if variant["optimizer"] == "newton":  # a Newton step is already scaled by the curvature
        return float(variant["lr_factor"])
    L = float(problem.lipschitz())
    if batch_size is not None and batch_size < problem.n_samples:
        L = max(L, row_curvature(problem))
    return float(variant["lr_factor"]) / L


def row_curvature(problem: Any, chunk_rows: int = 1 << 18) -> float:
    """Largest single-sample curvature ``max_i ‖x_i‖²`` plus the largest L2 weight (chunked)."""
    X = problem.X
    peak = 0.0
    for start in range(0, X.shape[0], chunk_rows):
        chunk = np.asarray(X[start : start + chunk_rows], dtype=float)
        peak = max(peak, float(np.max(np.einsum("ij,ij->i", chunk, chunk))))
    return peak + float(np.max(problem.l2_weights, initial=0.0))


def schedule_of(spec: dict | None, lr0: float) -> Any:
    """A ``step -> lr`` function from ``{name: step_decay, every: 100, ...}``, or ``lr0``."""
    if not spec:
        return lr0
    options = {k: v for k, v in spec.items() if k != "name"}
    return make_schedule(spec["name"], lr0, **options)


def unstable(optimizer: str, lr: float, L: float, options: dict) -> bool:
    """Whether a step is beyond the stability limit, known before the run.

    GD on an L-smooth quadratic diverges for ``lr ≥ 2/L``; heavy-ball momentum tolerates
    ``lr < 2(1+β)/L`` (Polyak 1964) and Nesterov's look-ahead form ``lr < 2(1+β)/((1+2β)L)``
    (the largest-eigenvalue mode of its recursion). Adaptive and Newton steps have no such
    simple bound.
    """
    if optimizer in {"gd", "sgd", "minibatch", "proximal", "fista"}:
        return lr >= 2.0 / L
    beta = float(options.get("momentum", 0.9))
    if optimizer == "momentum":
        return lr >= 2.0 * (1.0 + beta) / L
    if optimizer == "nesterov":  # the look-ahead form: stable for lr < 2(1+β)/((1+2β)L)
        return lr >= 2.0 * (1.0 + beta) / ((1.0 + 2.0 * beta) * L)
    return False


# --- fitting ---------------------------------------------------------------------------------


def gap_floor(y: np.ndarray, y_scale: float = 1.0) -> float:
    """``s = 1e-12·0.5·mean((y/y_scale)²)``: the gap's denominator for a perfect fit.

    Computed on ``y/y_scale`` so that neither ``y²`` (y ~ 1e300) nor ``y_scale²`` over- or
    underflows.
    """
    with np.errstate(over="ignore", under="ignore"):
        return 1e-12 * 0.5 * float(np.mean(np.square(np.asarray(y, dtype=float) / y_scale)))


def safe_norm(v: np.ndarray) -> float:
    """Euclidean norm without overflow or underflow in the squares (``inf`` if it is inf)."""
    v = np.asarray(v, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        biggest = float(np.max(np.abs(v), initial=0.0))
        if not 0 < biggest < np.inf:
            return biggest
        return biggest * float(np.linalg.norm(v / biggest))


def relative_gap(loss: float, optimal_loss: float, y: np.ndarray) -> float:
    """``(loss − optimal)/max(optimal, s)`` with ``s = 1e-12·0.5·mean(y²)`` (DESIGN.md)."""
    denominator = max(optimal_loss, gap_floor(y), np.finfo(float).tiny)
    with np.errstate(over="ignore", invalid="ignore"):
        return float((loss - optimal_loss) / denominator)


def starting_points(p: int, restarts: int, seed: int) -> np.ndarray:
    """Zero for one start (GD from zero reaches the minimum-norm optimum); else seeded draws."""
    if restarts <= 1:
        return np.zeros((1, p))
    rng = np.random.default_rng(seed)
    return np.vstack([np.zeros(p), rng.normal(size=(restarts - 1, p))])


def fit_variant(
    design: Design,
    stats: obj.GramStats,
    name: str,
    variant: dict[str, Any],
    X_std: np.ndarray | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Fit one variant; return the record of ``fits/{v}.json`` and the arrays of its trace.

    ``stats`` are the Gram statistics in standardized coordinates (the design stage's) and
    ``X_std`` optionally the standardized design itself; a variant with ``standardize: false``
    computes its own statistics.
    """
    v = resolve_variant(variant)
    if v["family"] == "peak":
        from descent.peak import fit_peak  # the non-convex family, kept apart

        return fit_peak(design, name, v)
    frame = coordinates(design, v["standardize"])
    if not v["standardize"]:
        stats, X_std = compute_stats(design, standardize=False), None
    problem = problem_in(frame, design, stats, v["penalty"], X_std)
    w_star, method = obj.exact_optimum(stats, problem.l1_weights, problem.l2_weights)
    batch = v["batch_size"] if v["batch_size"] and v["batch_size"] < problem.n_samples else None
    lr0 = learning_rate(v, problem, batch)
    optimizer = make_optimizer(
        v["optimizer"],
        learning_rate=schedule_of(v["schedule"], lr0),
        objective=problem,
        **v["options"],
    )
    started = time.perf_counter()
    best, runs = multistart(
        problem,
        optimizer,
        starting_points(len(design.terms), v["restarts"], v["seed"]),
        batch_size=batch,
        max_iter=v["max_iter"],
        max_passes=v["max_passes"],
        tol=v["tol"],
        gtol=v["gtol"],
        seed=v["seed"],
        record_path=len(design.terms) <= MAX_PATH_TERMS,
    )
    seconds = time.perf_counter() - started
    weights = penalty_in_original_units(design, v["penalty"])
    record = measured_record(design, frame, problem, best, runs, w_star, weights)
    record.update(
        variant=name,
        seconds=seconds,
        seed=v["seed"],
        learning_rate=lr0,
        lr_unstable=bool(unstable(v["optimizer"], lr0, float(problem.lipschitz()), v["options"])),
        reference_method=method,
        config=v,
        model="linear",
        batch_size=batch,
        standardized=bool(v["standardize"]),
    )
    trace = trace_arrays(best, float(problem.value(w_star)), frame.y_scale, design)
    if best.path is not None and not v["standardize"]:  # paths are drawn in standardized units
        trace["path"] = np.array(
            [coordinates(design).from_original(frame.to_original(w)) for w in best.path]
        )
    return record, trace


def fit_design(
    design: Design, name: str, variant: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """:func:`fit_variant` on a design held in memory (the estimator, the command line).

    The workflow instead computes the statistics once per dataset and memory-maps them.
    """
    v = resolve_variant(variant)
    X_std = stats = None  # a variant that is not standardized computes its own
    if v["standardize"] and v["family"] == "linear":
        frame = coordinates(design)
        sampled = v["batch_size"] is not None and v["batch_size"] < design.X.shape[0]
        # mini-batches gather rows, so they need the array; full batches only pass over it
        X_std = frame.features(design.X) if sampled else RowsIn(design.X, frame)
        stats = obj.gram_stats(X_std, frame.target(design.y))
    return fit_variant(design, stats, name, variant, X_std)


def measured_record(
    design: Design,
    frame: Coordinates,
    problem: obj.LeastSquares,
    best: SolveResult,
    runs: list[SolveResult],
    w_star: np.ndarray,
    weights: tuple[np.ndarray, np.ndarray],
) -> dict[str, Any]:
    """The numbers a reviewer checks, every one computed from the reported coefficients.

    When the loss in the data's units is beyond the floating-point range (a target near
    1e300 squares to 1e600), the gap, which does not depend on units, comes from the
    standardized objective instead, and a warning says so.
    """
    coef, optimal_coef = frame.to_original(best.params), frame.to_original(w_star)
    both = obj.losses_in_original_units(
        design.X, design.y, np.vstack([coef, optimal_coef]), *weights
    )
    loss, optimal_loss = float(both[0]), float(both[1])
    gap, warnings = relative_gap(loss, optimal_loss, design.y), []
    if not (math.isfinite(loss) and math.isfinite(optimal_loss)) and best.status != "diverged":
        f, f_star = float(problem.value(best.params)), float(problem.value(w_star))
        gap = (f - f_star) / max(f_star, gap_floor(design.y, frame.y_scale), np.finfo(float).tiny)
        warnings.append(
            "the loss in the data's units overflows the floating-point range: the "
            "gap is computed in standardized units (it does not depend on units)"
        )
    passes = best.trace["passes"]
    with np.errstate(over="ignore"):
        restart_losses = [
            float(problem.value(r.params)) * frame.y_scale * frame.y_scale for r in runs
        ]
    return {
        "status": best.status,
        "iterations": int(best.iterations),
        "passes": float(passes[-1]) if len(passes) else 0.0,
        "diverged_at": best.diverged_at,
        "message": best.message,
        "loss": float(loss),
        "optimal_loss": float(optimal_loss),
        "gap": float(gap),
        "distance": safe_norm(coef - optimal_coef),
        "distance_std": safe_norm(best.params - w_star),
        "terms": list(design.terms),
        "coef": [float(c) for c in coef],
        "optimal_coef": [float(c) for c in optimal_coef],
        "restarts": {
            "k": len(runs),
            "losses": restart_losses,
            "statuses": [r.status for r in runs],
        },
        "warnings": warnings,
    }


def trace_arrays(
    result: SolveResult, f_star: float, y_scale: float, design: Design
) -> dict[str, np.ndarray]:
    """The solver's trace plus the relative gap per traced step.

    The gap floor is the one of :func:`relative_gap`, converted to the solving coordinates
    (where the loss is divided by ``y_scale²``).
    """
    arrays = {k: np.asarray(v) for k, v in result.trace.items()}
    floor = gap_floor(design.y, y_scale)
    with np.errstate(over="ignore", invalid="ignore"):
        arrays["gap"] = (arrays["loss"] - f_star) / max(f_star, floor, np.finfo(float).tiny)
    if result.path is not None:
        arrays["path"] = np.asarray(result.path)
    return arrays


# --- the design file -----------------------------------------------------------------------


def design_arrays(design: Design, stats: obj.GramStats) -> dict[str, np.ndarray]:
    """Everything a fit job needs, as arrays for one uncompressed ``.npz`` (X memory-mappable)."""
    return {
        "X": np.asarray(design.X, dtype=np.float64),
        "y": np.asarray(design.y, dtype=np.float64),
        "terms": np.array(design.terms, dtype=str),
        "target": np.array(design.target, dtype=str),
        "center": np.asarray(design.center, dtype=np.float64),
        "scale": np.asarray(design.scale, dtype=np.float64),
        "intercept": np.array(bool(design.intercept)),
        **stats.to_npz_dict(prefix="stats_"),
    }


def load_design_arrays(path: str) -> tuple[Design, obj.GramStats]:
    """Inverse of :func:`design_arrays`; X comes back memory-mapped."""
    from descent.features import load_design

    design = load_design(path)
    with np.load(path, allow_pickle=False) as data:
        stats = obj.GramStats.from_npz(data, prefix="stats_")
    return design, stats


def formula(design: Design) -> str:
    """The model as a reviewer reads it: ``target ~ 1 + x + x^2``."""
    terms = ["1" if t == "intercept" else t for t in design.terms]
    return f"{design.target} ~ {' + '.join(terms) if terms else '0'}"


def design_warnings(design: Design, condition: dict[str, Any]) -> list[str]:
    """What a reviewer should know before trusting coefficients: rank, n < p, constants."""
    n, p = design.X.shape
    notes = []
    if n < p:
        notes.append(
            f"fewer rows ({n}) than coefficients ({p}): the optimum is not unique; "
            "the reference is the minimum-norm solution"
        )
    if condition["rank"] < p:
        notes.append(
            f"the design has rank {condition['rank']} < {p} coefficients (collinear or "
            "duplicated features): the reference is the minimum-norm solution in "
            "standardized coordinates"
        )
    spreads = np.ptp(np.asarray(design.X), axis=0) if n else np.zeros(p)
    for term, spread in zip(design.terms, spreads, strict=True):
        if term != "intercept" and spread == 0:
            notes.append(f"feature {term!r} is constant: its coefficient is not identified")
    if n and float(np.ptp(np.asarray(design.y))) == 0.0:
        notes.append("the target is constant: every coefficient but the intercept is 0")
    return notes


def raw_condition_number(design: Design, stats: obj.GramStats) -> float:
    """κ of the problem as the data give it (no standardization), from the standardized Gram.

    ``X = X_s·B`` with ``B = diag(scale)`` plus the centers in the intercept row, so the raw
    Gram is ``Bᵀ G_s B``: no second pass over the rows. Shown next to κ of the standardized
    problem, it says what standardization saves gradient descent.
    """
    B = np.diag(np.asarray(design.scale, dtype=float))
    if design.intercept:
        B[0, :] += np.asarray(design.center, dtype=float)
        B[0, 0] = 1.0
    eigenvalues = np.linalg.eigvalsh(B.T @ stats.gram @ B)
    top, bottom = float(eigenvalues[-1]), float(eigenvalues[0])
    return top / bottom if bottom > top * 1e-15 else float("inf")
