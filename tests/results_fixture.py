"""Write a realistic fake ``results/`` tree for the plot and report tests.

Two fitted datasets (``sleep``: quadratic in one feature; ``phones``: linear, with a hostile
title and a column name holding a newline) × four variants (``gd``, ``momentum``, ``sgd``,
``adam``; momentum diverges on ``sleep``, sgd hits max_iter there), plus one dataset
(``mountains``) that failed validation and left only ``error.json``. Numbers are consistent:
coefficients are real points near the exact least-squares optimum, and loss, gap and distance
are computed from them exactly as the contract defines them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

VARIANTS = ("gd", "momentum", "sgd", "adam")
HOSTILE_TITLE = '<script>alert("x")</script> & "quotes"'
NEWLINE_COLUMN = "Units\nSold (millions)"
FAILED = {"dataset": "mountains", "stage": "validate",
          "message": "data/mountains.md row 4, column 'Height (m)': value 'n/a' is not a float"}

# variant -> (learning rate, residual factor of the final point, iterations, status, batch)
RUNS = {
    "gd": (0.5, 1e-6, 400, "converged", None),
    "momentum": (0.9, 1e-6, 150, "converged", None),
    "sgd": (0.05, 3e-3, 5000, "max_iter", 1),
    "adam": (0.1, 3e-6, 900, "converged", None),
}


@dataclass
class Dataset:
    """One fake dataset: raw data, model description and the exact optimum."""

    name: str
    title: str
    feature: str
    target: str
    x: np.ndarray
    y: np.ndarray
    degree: int
    X: np.ndarray = field(init=False)
    terms: list[str] = field(init=False)

    def __post_init__(self) -> None:
        """Build the design matrix (original units) and term names."""
        self.X = np.column_stack([self.x**d for d in range(self.degree + 1)])
        self.terms = ["intercept"] + [
            self.feature if d == 1 else f"{self.feature}^{d}" for d in range(1, self.degree + 1)]

    def loss(self, w: np.ndarray) -> float:
        """0.5 * mean((y - X w)^2) in original units."""
        return float(0.5 * np.mean((self.y - self.X @ w) ** 2))


def datasets() -> list[Dataset]:
    """The two fitted datasets (the article's sleep and smartphone tables)."""
    return [
        Dataset("sleep", "Sleep duration and performance", "Sleep Duration (hours)",
                "Performance Index", np.arange(4.0, 10.0),
                np.array([55.0, 65, 75, 85, 95, 80]), degree=2),
        Dataset("phones", HOSTILE_TITLE, NEWLINE_COLUMN, "Market Share (%)",
                np.array([290.0, 223, 206, 149, 108, 102]),
                np.array([19.0, 14.5, 13.5, 9.7, 7, 6.7]), degree=1),
    ]


def _std_problem(ds: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_std, w_std*, center, scale) of a dataset."""
    center = np.r_[0.0, ds.X[:, 1:].mean(axis=0)]
    scale = np.r_[1.0, ds.X[:, 1:].std(axis=0)]
    Xs = (ds.X - center) / scale
    Xs[:, 0] = 1.0
    return Xs, np.linalg.lstsq(Xs, ds.y, rcond=None)[0], center, scale


def _to_original(w: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Contract's map from standardized to original coefficients."""
    out = w / scale
    out[0] = w[0] - np.sum(w[1:] * center[1:] / scale[1:])
    return out


def _steps(iterations: int) -> np.ndarray:
    """Thinned traced steps: 0, log-spaced, and the last one."""
    s = np.unique(np.r_[0, np.geomspace(1, iterations, 80).astype(int), iterations])
    return s.astype(np.int64)


def _run(ds: Dataset, variant: str) -> tuple[dict, dict]:
    """(fit JSON dict, trace dict) of one fake run."""
    Xs, w_std, center, scale = _std_problem(ds)
    lr, r, iters, status, batch = RUNS[variant]
    n = ds.y.size
    L = float(np.linalg.eigvalsh(Xs.T @ Xs / n).max())
    diverged = ds.name == "sleep" and variant == "momentum"
    if diverged:
        lr, iters, status = 2.5 / L, 37, "diverged"
    w0 = np.zeros_like(w_std)
    steps = _steps(iters)
    frac = (-1.9) ** steps if diverged else r ** (steps / iters)
    path = w_std + np.outer(frac, w0 - w_std)
    if variant == "momentum" and not diverged:  # a spiral, as heavy-ball paths are
        rot = np.cos(steps / 6.0)[:, None]
        path = w_std + (path - w_std) * rot
    opt = ds.loss(_to_original(w_std, center, scale))
    floor = 1e-12 * 0.5 * float(np.mean(ds.y**2))
    losses = np.array([ds.loss(_to_original(p, center, scale)) for p in path])
    gaps = (losses - opt) / max(opt, floor)
    if diverged:
        losses[-1], gaps[-1] = np.inf, np.inf
    final = path[-2] if diverged else path[-1]
    coef = _to_original(final, center, scale)
    loss = ds.loss(coef)
    passes = steps * (batch / n if batch else 1.0)
    lrs = lr / (1 + 0.01 * steps) if variant == "sgd" else np.full(steps.size, lr)
    trace = {"step": steps, "loss": losses, "grad_norm": np.abs(gaps) ** 0.5,
             "lr": lrs.astype(float), "passes": passes.astype(float), "gap": gaps}
    if ds.degree == 1:
        trace["path"] = path
    opt_coef = _to_original(w_std, center, scale)
    fit = {
        "dataset": ds.name, "variant": variant, "status": status,
        "iterations": int(steps[-1]), "loss": loss, "optimal_loss": opt,
        "gap": (loss - opt) / max(opt, floor),
        "distance": float(np.linalg.norm(coef - opt_coef)),
        "seconds": 0.0125 + 0.001 * len(variant), "passes": float(passes[-1]),
        "diverged_at": int(steps[-1]) if diverged else None,
        "message": "loss exceeded 1e8 × initial loss" if diverged else f"{status}",
        "terms": ds.terms, "coef": coef.tolist(), "optimal_coef": opt_coef.tolist(),
        "reference_method": "lstsq (SVD)", "seed": 0, "learning_rate": float(lr),
        "lr_unstable": bool(lr >= 2 / L),
        "config": {"optimizer": "gd" if variant == "sgd" else variant, "learning_rate": lr,
                   "batch_size": batch,
                   "schedule": {"name": "inverse_time", "decay": 0.01} if variant == "sgd"
                   else None},
        "model": "linear", "restarts": {"k": 1, "losses": [loss], "best": 0},
        "warnings": ["max_iter reached before the tolerance"] if status == "max_iter" else [],
    }
    return fit, trace


def _reference(ds: Dataset) -> dict:
    """reference.json of a dataset, conditioning in standardized coordinates."""
    Xs, w_std, center, scale = _std_problem(ds)
    eig = np.linalg.eigvalsh(Xs.T @ Xs / ds.y.size)
    coef = _to_original(w_std, center, scale)
    formula = f"{ds.target} ~ " + " + ".join("1" if t == "intercept" else t for t in ds.terms)
    return {"terms": ds.terms, "coef": coef.tolist(), "loss": ds.loss(coef), "formula": formula,
            "target": ds.target, "unstable_lr": float(2 / eig.max()),
            "method": "lstsq (SVD)", "rank": len(ds.terms), "n": int(ds.y.size),
            "p": len(ds.terms), "L": float(eig.max()), "mu": float(eig.min()),
            "kappa": float(eig.max() / eig.min()), "warnings": []}


def _validation(ds: Dataset, root: Path) -> dict:
    """validation.json of a dataset. ``sleep`` has the ingest module's real shape (per-check
    records, title and source only in the spec it names); ``phones`` carries them inline."""
    if ds.name == "sleep":
        spec = root / "data" / "sleep.yaml"
        spec.parent.mkdir(parents=True, exist_ok=True)
        spec.write_text(f"title: {ds.title}\nsource: 'article, Table of Sleep'\n")
        checks = [{"column": c, "check": k, "passed": 6 - f, "failed": f}
                  for c, k, f in [("(table)", "columns as in spec", 0), (ds.feature, "ge 0", 0),
                                  (ds.feature, "le 24", 0), (ds.target, "le 100", 1)]]
        return {"dataset": ds.name, "spec": str(spec), "file": "data/sleep.md",
                "sha256": hashlib.sha256(ds.y.tobytes()).hexdigest(), "status": "quarantined",
                "rows": {"read": 7, "kept": 6, "rejected": 1, "with_failures": 1},
                "checks": checks}
    return {"dataset": ds.name, "title": ds.title,
            "source": 'gradient-descent-article.txt, "Table of ..."',
            "file": f"data/{ds.name}.md", "sha256": hashlib.sha256(ds.y.tobytes()).hexdigest(),
            "rows": {"read": int(ds.y.size), "kept": int(ds.y.size), "rejected": 0},
            "checks": {"passed": 12, "failed": 0},
            "columns": [ds.feature, ds.target],
            "model": {"target": ds.target, "features": [ds.feature], "degree": ds.degree}}


def _write_json(path: Path, obj: dict) -> None:
    """Write JSON with sorted keys."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True), encoding="utf-8")


def write_results(root: Path, *, plots: bool = True) -> dict:
    """Write the fake ``results/`` under ``root``; return what the tests check against."""
    results = Path(root) / "results"
    fits: dict[tuple[str, str], dict] = {}
    for ds in datasets():
        d = results / ds.name
        _write_json(d / "validation.json", _validation(ds, Path(root)))
        _write_json(d / "reference.json", _reference(ds))
        traces = {}
        for v in VARIANTS:
            fit, trace = _run(ds, v)
            fits[ds.name, v] = fit
            traces[v] = trace
            _write_json(d / "fits" / f"{v}.json", fit)
            np.savez(d / "fits" / f"{v}.trace.npz", **trace)
        if plots:
            _plot_dataset(ds, d, [fits[ds.name, v] for v in VARIANTS], traces)
    _write_json(results / FAILED["dataset"] / "error.json", FAILED)
    if plots:
        _plot_heatmap(results)
    return {"results": results, "datasets": [ds.name for ds in datasets()],
            "variants": list(VARIANTS), "failed": [FAILED["dataset"]], "fits": fits}


def _plot_dataset(ds: Dataset, d: Path, fits: list[dict], traces: dict) -> None:
    """The per-dataset figures, as the workflow's plot rule makes them."""
    from descent import plots

    plots.cost_curves(fits, traces, d / "cost_curves.png", title=f"{ds.title}: gap to optimum")
    grid = np.linspace(ds.x.min(), ds.x.max(), 200)
    G = np.column_stack([grid**k for k in range(ds.degree + 1)])
    preds = {f["variant"]: G @ np.asarray(f["coef"]) for f in fits if f["status"] != "diverged"}
    plots.fit_plot(ds.y, preds, d / "fit.png", x=ds.x, grid=grid,
                   optimum=G @ np.asarray(fits[0]["optimal_coef"]), feature=ds.feature,
                   target=ds.target, title=ds.title)
    plots.lr_schedules(traces, d / "lr_schedules.png")
    if ds.degree == 1:
        Xs, w_std, _, _ = _std_problem(ds)

        def loss(w: np.ndarray) -> float:
            return float(0.5 * np.mean((ds.y - Xs @ w) ** 2))

        paths = {v: t["path"] for v, t in traces.items()}
        plots.contours(loss, paths, w_std, d / "contours.png")


def _plot_heatmap(results: Path) -> None:
    """Iterations-to-1e-6 heatmap across datasets, from the report's own matrix."""
    from descent import plots, report

    mat, dsn, var = report.threshold_matrix(results, variants=VARIANTS)
    plots.heatmap(mat, dsn, var, results / "heatmap.png")
