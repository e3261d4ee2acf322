"""Figures for the report: cost curves, fits, learning-rate schedules, contours, heatmap.

The only module of descent that imports matplotlib (Agg backend, no display). Every function
takes plain data (dicts and arrays as loaded from ``results/``) and an output path, writes one
PNG atomically (temporary file in the same directory, then ``os.replace``), and closes its
figure. Output is deterministic: fixed sizes, dpi, fonts, seeds, and no timestamp metadata.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from descent.files import atomic_path

__all__ = [
    "GAP_FLOOR",
    "GAP_TARGET",
    "contours",
    "cost_curves",
    "fit_plot",
    "heatmap",
    "lr_schedules",
    "save_figure",
    "variant_styles",
]

P = ParamSpec("P")
R = TypeVar("R")

DPI = 110
GAP_FLOOR = 1e-16
GAP_TARGET = 1e-6
MAX_POINTS = 5000

# Okabe & Ito (2008) colour-blind-safe palette without black (black is the exact optimum).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442")
LINESTYLES = ("-", "--", "-.", ":")
STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "font.family": "DejaVu Sans",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.dpi": DPI,
    "figure.dpi": DPI,
}


def variant_styles(variants: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Colour and line style per variant, stable for a given order (colour first, then dashes)."""
    return {
        v: {
            "color": PALETTE[i % len(PALETTE)],
            "linestyle": LINESTYLES[(i // len(PALETTE)) % len(LINESTYLES)],
        }
        for i, v in enumerate(variants)
    }


def save_figure(fig: Figure, out_path: str | os.PathLike) -> Path:
    """Save ``fig`` as PNG to a temporary file next to ``out_path``, then rename it; close it."""
    try:
        with atomic_path(out_path, suffix=".png") as tmp, open(tmp, "wb") as handle:
            fig.savefig(
                handle, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None}
            )
    finally:
        plt.close(fig)
    return Path(out_path)


def _styled(func: Callable[P, R]) -> Callable[P, R]:
    """Run a plotting function under the house style (rc_context, global state untouched)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with plt.rc_context(STYLE):
            return func(*args, **kwargs)

    return wrapper


def _text(value: object) -> str:
    """Dataset-supplied text made literal for matplotlib: one line, ``$`` not read as mathtext."""
    return " ".join(str(value).split()).replace("$", r"\$")


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, Any]:
    """A new figure of the given size in inches; returns (fig, axes)."""
    fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False)
    return fig, axes[0] if ncols > 1 else axes[0, 0]


def _legend_right(fig: Figure, ax: Any, title: str | None = None) -> None:
    """One legend for the whole figure, outside the axes on the right."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(
            handles,
            labels,
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            frameon=False,
            fontsize=8,
            title=title,
            title_fontsize=8,
        )


# --------------------------------------------------------------------------- cost curves


def _finite_gap(trace: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, passes, gap) of the finite part of a trace, gap floored at GAP_FLOOR."""
    step = np.asarray(trace["step"], dtype=float)
    gap = np.asarray(trace["gap"], dtype=float)
    passes = np.asarray(trace.get("passes", step), dtype=float)
    keep = np.isfinite(gap)
    return step[keep], passes[keep], np.maximum(np.abs(gap[keep]), GAP_FLOOR)


def _divergence_point(
    fit: Mapping, trace: Mapping, step: np.ndarray, passes: np.ndarray, gap: np.ndarray
) -> tuple[float, float, float] | None:
    """(step, passes, gap) where a diverged run is marked, or None for other runs."""
    k = fit.get("diverged_at")
    if fit.get("status") != "diverged" or k is None or step.size == 0:
        return None
    all_step = np.asarray(trace["step"], dtype=float)
    all_passes = np.asarray(trace.get("passes", all_step), dtype=float)
    p = float(np.interp(k, all_step, all_passes)) if all_step.size else float(k)
    return float(k), p, float(gap[-1])


def _label(fit: Mapping) -> str:
    """Legend label of a run: the variant, its divergence step or a non-converged status."""
    name = _text(fit.get("variant", "?"))
    status = fit.get("status")
    if status == "diverged":
        k = fit.get("diverged_at")
        return f"{name} (diverged @ step {k})" if k is not None else f"{name} (diverged)"
    if status in ("max_iter", "failed"):
        return f"{name} ({status})"
    if status == "diverged":
        return f"{name} (diverged)"
    return name


@_styled
def cost_curves(
    fits: Sequence[Mapping],
    traces: Mapping[str, Mapping[str, np.ndarray]],
    out_path: str | os.PathLike,
    *,
    x: str = "both",
    title: str | None = None,
) -> Path:
    """Relative loss gap to the exact optimum, log scale, for every variant.

    ``x`` = "both" (default) draws two panels side by side, against iterations and against data
    passes (gradient evaluations × batch / n); "iterations" or "passes" draws one of them.
    Gaps are floored at 1e-16 so exact zeros show; a dotted line marks the 1e-6 target; a
    diverged run ends with an × at its divergence step.
    """
    axes_x = {
        "both": ("iterations", "passes"),
        "iterations": ("iterations",),
        "passes": ("passes",),
    }[x]
    fig, axes = _figure(5.2 * len(axes_x), 3.6, ncols=len(axes_x))
    axes = np.atleast_1d(axes)
    styles = variant_styles([str(f.get("variant")) for f in fits])
    for ax, kind in zip(axes, axes_x, strict=True):
        _cost_panel(ax, fits, traces, styles, kind)
    for ax in axes[1:]:
        ax.sharey(axes[0])
    fig.suptitle(_text(title or "Gap to the exact optimum"), fontsize=11)
    _legend_right(fig, axes[0], title="variant")
    fig.tight_layout()
    return save_figure(fig, out_path)


def _cost_panel(
    ax: Any, fits: Sequence[Mapping], traces: Mapping, styles: Mapping, kind: str
) -> None:
    """One panel of cost_curves: every traced run against iterations or passes."""
    lows = [GAP_TARGET]
    for fit in fits:
        v = str(fit.get("variant"))
        trace = traces.get(v)
        if trace is None or "gap" not in trace:
            continue
        step, passes, gap = _finite_gap(trace)
        if kind == "iterations":
            xs = np.maximum(step, 0) + 1  # log x: step 0 is plotted at 1
        else:
            keep = passes > 0  # log x: the starting point (0 passes) cannot be shown
            xs, gap = passes[keep], gap[keep]
        ax.plot(xs, gap, label=_label(fit), linewidth=1.4, **styles[v])
        lows.append(float(gap.min()) if gap.size else GAP_TARGET)
        mark = _divergence_point(fit, trace, step, passes, gap)
        if mark is not None:
            mx = mark[0] + 1 if kind == "iterations" else mark[1]
            ax.plot(
                [mx],
                [mark[2]],
                marker="x",
                markersize=9,
                markeredgewidth=2.2,
                color=styles[v]["color"],
                linestyle="none",
            )
    ax.axhline(GAP_TARGET, color="0.35", linestyle=":", linewidth=1.2)
    ax.annotate(
        "1e-6 target",
        xy=(0.0, GAP_TARGET),
        xycoords=("axes fraction", "data"),
        xytext=(3, -3),
        textcoords="offset points",
        ha="left",
        va="top",
        fontsize=7,
        color="0.35",
    )
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_ylim(bottom=max(GAP_FLOOR / 3, min(lows) / 30))
    if kind == "iterations":
        ax.set_xlabel("iteration (parameter updates, step + 1, log scale)")
        ax.set_title("against iterations")
    else:
        ax.set_xlabel("data passes (gradient evaluations × batch / n, log scale)")
        ax.set_title("against data passes")
    ax.set_ylabel("relative loss gap (loss − loss*) / loss*")


# --------------------------------------------------------------------------- fit plot


def _subsample(n: int, max_points: int, seed: int) -> np.ndarray | None:
    """Sorted indices of a seeded subsample of ``max_points`` out of ``n``, or None if n fits."""
    if n <= max_points:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


@_styled
def fit_plot(
    y: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    out_path: str | os.PathLike,
    *,
    x: np.ndarray | None = None,
    grid: np.ndarray | None = None,
    optimum: np.ndarray | None = None,
    feature: str = "x",
    target: str = "y",
    title: str | None = None,
    max_points: int = MAX_POINTS,
    seed: int = 0,
) -> Path:
    """The data and each variant's fitted model.

    One-feature model (``x`` and ``grid`` given): scatter of (x, y) and the fitted curve of each
    variant evaluated on ``grid``, the exact optimum as a thick dashed black line. Otherwise
    (``predictions`` per sample): predicted against actual with the y = x line. More than
    ``max_points`` samples are subsampled with ``seed``, and the title says so.
    """
    y = np.asarray(y, dtype=float)
    idx = _subsample(y.size, max_points, seed)
    note = f" (random {max_points:,} of {y.size:,} points shown)" if idx is not None else ""
    fig, ax = _figure(6.4, 4.2)
    styles = variant_styles(list(predictions))
    if x is not None and grid is not None:
        _curves(
            ax, np.asarray(x, float), y, np.asarray(grid, float), predictions, optimum, styles, idx
        )
        ax.set_xlabel(_text(feature))
        ax.set_ylabel(_text(target))
    else:
        _pred_vs_actual(ax, y, predictions, optimum, styles, idx)
        ax.set_xlabel(f"actual {_text(target)}")
        ax.set_ylabel(f"predicted {_text(target)}")
    ax.set_title(_text(title or "Fitted models") + note)
    _legend_right(fig, ax)
    fig.tight_layout()
    return save_figure(fig, out_path)


def _curves(
    ax: Any,
    x: np.ndarray,
    y: np.ndarray,
    grid: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    optimum: np.ndarray | None,
    styles: Mapping,
    idx: np.ndarray | None,
) -> None:
    """Data points and one fitted curve per variant on a one-feature grid."""
    xs, ys = (x, y) if idx is None else (x[idx], y[idx])
    ax.scatter(
        xs, ys, s=30, color="0.2", zorder=5, label="data", edgecolors="white", linewidths=0.8
    )
    if optimum is not None:
        ax.plot(
            grid,
            np.asarray(optimum, float),
            color="black",
            linestyle="--",
            linewidth=3.2,
            zorder=2,
            label="exact optimum",
        )
    for v, pred in predictions.items():
        ax.plot(
            grid,
            _clip_to_view(np.asarray(pred, float), y),
            linewidth=1.3,
            zorder=3,
            label=_text(v),
            **styles[v],
        )
    _limit_to_data(ax, y)


def _clip_to_view(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Predictions with non-finite values masked (a diverged fit must not blow up the axes)."""
    return np.where(np.isfinite(pred), pred, np.nan)


def _limit_to_data(ax: Any, y: np.ndarray, axis: str = "y") -> None:
    """Keep the view around the data (with a margin) so a wild fit does not squash it."""
    lo, hi = float(np.nanmin(y)), float(np.nanmax(y))
    pad = 0.25 * (hi - lo) if hi > lo else max(1.0, abs(hi)) * 0.25
    (ax.set_ylim if axis == "y" else ax.set_xlim)(lo - pad, hi + pad)


def _pred_vs_actual(
    ax: Any,
    y: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    optimum: np.ndarray | None,
    styles: Mapping,
    idx: np.ndarray | None,
) -> None:
    """Predicted against actual for every variant, with the y = x line."""
    sel = slice(None) if idx is None else idx
    ys = y[sel]
    lo, hi = float(np.min(ys)), float(np.max(ys))
    ax.plot([lo, hi], [lo, hi], color="0.3", linewidth=1.0, linestyle=":", label="y = x")
    if optimum is not None:
        ax.scatter(
            ys,
            np.asarray(optimum, float)[sel],
            s=70,
            facecolors="none",
            edgecolors="black",
            linewidths=1.6,
            label="exact optimum",
            zorder=2,
        )
    markers = "os^Dv<>P*Xh"
    for i, (v, pred) in enumerate(predictions.items()):
        ax.scatter(
            ys,
            _clip_to_view(np.asarray(pred, float)[sel], ys),
            s=14,
            alpha=0.8,
            marker=markers[i % len(markers)],
            color=styles[v]["color"],
            label=_text(v),
            zorder=3,
        )
    _limit_to_data(ax, ys, "y")
    _limit_to_data(ax, ys, "x")


# --------------------------------------------------------------------------- schedules


@_styled
def lr_schedules(
    traces: Mapping[str, Mapping[str, np.ndarray]],
    out_path: str | os.PathLike,
    *,
    title: str | None = None,
) -> Path:
    """Learning rate per step for each variant (log y; non-positive rates are not drawn)."""
    fig, ax = _figure(6.4, 3.6)
    styles = variant_styles(list(traces))
    for v, trace in traces.items():
        if "lr" not in trace:
            continue
        step = np.asarray(trace["step"], float)
        lr = np.asarray(trace["lr"], float)
        keep = np.isfinite(lr) & (lr > 0)
        if keep.any():
            ax.plot(
                np.maximum(step[keep], 0) + 1,
                lr[keep],
                linewidth=1.4,
                label=_text(v),
                drawstyle="steps-post",
                **styles[v],
            )
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_xlabel("iteration (parameter updates, step + 1, log scale)")
    ax.set_ylabel("learning rate (standardized units, log scale)")
    ax.set_title(_text(title or "Learning-rate schedules"))
    _legend_right(fig, ax, title="variant")
    fig.tight_layout()
    return save_figure(fig, out_path)


# --------------------------------------------------------------------------- contours


def _loss_grid(
    loss: Callable | tuple, points: np.ndarray, n: int = 160
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W0, W1, Z) from a grid tuple, or by evaluating ``loss`` around the given points."""
    if not callable(loss):
        w0, w1, z = (np.asarray(a, float) for a in loss)
        if w0.ndim == 1:
            w0, w1 = np.meshgrid(w0, w1)
        return w0, w1, z
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = np.maximum(0.15 * (hi - lo), 0.5)
    a = np.linspace(lo[0] - pad[0], hi[0] + pad[0], n)
    b = np.linspace(lo[1] - pad[1], hi[1] + pad[1], n)
    W0, W1 = np.meshgrid(a, b)
    Z = np.array([loss(np.array([p, q])) for p, q in zip(W0.ravel(), W1.ravel(), strict=True)])
    return W0, W1, Z.reshape(W0.shape)


@_styled
def contours(
    loss: Callable[[np.ndarray], float] | tuple,
    paths: Mapping[str, np.ndarray],
    optimum: Sequence[float],
    out_path: str | os.PathLike,
    *,
    endpoints: Mapping[str, np.ndarray] | np.ndarray | None = None,
    labels: tuple[str, str] = ("intercept (standardized)", "slope (standardized)"),
    title: str | None = None,
) -> Path:
    """Loss contours of a two-parameter model with each optimizer's path and multi-start ends.

    ``loss`` is a function of a 2-vector or a tuple ``(w0, w1, Z)`` of grid values. Contours are
    drawn at log-spaced levels of the loss excess over its grid minimum.
    """
    opt = np.asarray(optimum, float)
    finite_paths = {v: _finite_rows(p) for v, p in paths.items()}
    pts = [opt[None, :], *[p for p in finite_paths.values() if p.size]]
    W0, W1, Z = _loss_grid(loss, _trim_outliers(np.vstack(pts), opt))
    excess = np.maximum(Z - np.nanmin(Z), 0) + 1e-12 * max(1.0, float(np.nanmax(np.abs(Z))))
    fig, ax = _figure(6.4, 4.8)
    top = float(np.nanmax(excess))
    levels = np.geomspace(max(top * 1e-5, float(np.nanmin(excess)) * 2), top * 0.9, 12)
    cs = ax.contour(
        W0, W1, excess, levels=levels, norm=LogNorm(), cmap="Greys_r", linewidths=0.8, alpha=0.9
    )
    ax.clabel(cs, cs.levels[1::3], fmt="%.1e", fontsize=6)
    styles = variant_styles(list(paths))
    for v, path in finite_paths.items():
        if path.size:
            ax.plot(
                path[:, 0],
                path[:, 1],
                marker=".",
                markersize=3,
                linewidth=1.2,
                label=_text(v),
                **styles[v],
            )
    _endpoints(ax, endpoints, styles)
    ax.plot(
        *opt,
        marker="*",
        markersize=14,
        color="black",
        linestyle="none",
        label="exact optimum",
        zorder=5,
    )
    ax.set_xlim(W0.min(), W0.max())
    ax.set_ylim(W1.min(), W1.max())
    ax.set_xlabel(_text(labels[0]))
    ax.set_ylabel(_text(labels[1]))
    ax.set_title(_text(title or "Loss contours (excess over minimum) and optimizer paths"))
    _legend_right(fig, ax)
    fig.tight_layout()
    return save_figure(fig, out_path)


def _finite_rows(path: np.ndarray) -> np.ndarray:
    """Rows of an m×2 path whose coordinates are finite."""
    p = np.asarray(path, float).reshape(-1, 2)
    return p[np.isfinite(p).all(axis=1)]


def _trim_outliers(pts: np.ndarray, opt: np.ndarray, factor: float = 50.0) -> np.ndarray:
    """Drop points of a diverging path that would zoom the view out until nothing is visible."""
    d = np.linalg.norm(pts - opt, axis=1)
    scale = max(float(np.median(d)), 1e-9)
    return pts[d <= factor * scale]


def _endpoints(
    ax: Any, endpoints: Mapping[str, np.ndarray] | np.ndarray | None, styles: Mapping
) -> None:
    """Multi-start endpoints: hollow markers, per variant when given as a mapping."""
    if endpoints is None:
        return
    items = endpoints.items() if isinstance(endpoints, Mapping) else [("restarts", endpoints)]
    for v, pts in items:
        p = _finite_rows(pts)
        color = styles.get(v, {}).get("color", "0.2")
        ax.scatter(
            p[:, 0],
            p[:, 1],
            s=40,
            facecolors="none",
            edgecolors=color,
            linewidths=1.3,
            marker="o",
            label=f"{_text(v)}: restart endpoints",
            zorder=4,
        )


# --------------------------------------------------------------------------- heatmap


@_styled
def heatmap(
    matrix: np.ndarray,
    datasets: Sequence[str],
    variants: Sequence[str],
    out_path: str | os.PathLike,
    *,
    quantity: str = "iterations",
    threshold: float = GAP_TARGET,
    title: str | None = None,
) -> Path:
    """Datasets × variants grid of the effort to reach a gap ≤ threshold; NaN is shown as "—"."""
    m = np.asarray(matrix, float).reshape(len(datasets), len(variants))
    width = min(2.2 + 0.85 * len(variants), 16.0)
    fig, ax = _figure(width, 1.3 + 0.45 * len(datasets))
    finite = m[np.isfinite(m) & (m > 0)]
    norm = (
        LogNorm(vmin=finite.min(), vmax=max(finite.max(), finite.min() * 10))
        if finite.size
        else None
    )
    shown = np.ma.masked_invalid(np.where(m > 0, m, np.nan))
    cmap = plt.get_cmap("cividis").with_extremes(bad="#f2f2f2")
    im = ax.imshow(shown, cmap=cmap, norm=norm, aspect="auto")
    _annotate_cells(ax, m, im)
    ax.set_xticks(
        range(len(variants)), labels=[_text(v) for v in variants], rotation=35, ha="right"
    )
    ax.set_yticks(range(len(datasets)), labels=[_text(d) for d in datasets])
    ax.grid(False)
    ax.tick_params(length=0)
    if finite.size:
        fig.colorbar(im, ax=ax, label=quantity, fraction=0.04, pad=0.02)
    ax.set_title(
        _text(title or f"{quantity.capitalize()} to reach a gap ≤ {threshold:.0e} (— = never)")
    )
    fig.tight_layout()
    return save_figure(fig, out_path)


def _annotate_cells(ax: Any, m: np.ndarray, im: Any) -> None:
    """Write each cell's value (compact), "—" for never, in a colour readable on its fill."""
    for (i, j), val in np.ndenumerate(m):
        if not np.isfinite(val):
            ax.text(j, i, "—", ha="center", va="center", fontsize=9, color="0.35")
            continue
        rgba = im.cmap(im.norm(val)) if im.norm is not None and val > 0 else (1, 1, 1, 1)
        light = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2] > 0.55
        ax.text(
            j,
            i,
            _compact(val),
            ha="center",
            va="center",
            fontsize=8,
            color="black" if light else "white",
        )


def _compact(val: float) -> str:
    """Short cell text: 812, 12.5k, 3.4M, 0.25."""
    if val >= 1e6:
        return f"{val / 1e6:.3g}M"
    if val >= 1e4:
        return f"{val / 1e3:.3g}k"
    return f"{val:.4g}" if val != int(val) else f"{int(val)}"
