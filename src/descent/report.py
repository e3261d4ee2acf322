"""The review report: ``summary.csv``, a self-contained ``report.html`` and ``report.md``.

Reads what the workflow left in ``results/`` (per dataset: ``validation.json``,
``reference.json``, ``fits/{v}.json``, ``fits/{v}.trace.npz``, the PNG figures, or
``error.json`` for a dataset that failed) and renders it with Jinja2 (autoescape on: every name,
title and message that came from a dataset is escaped). Images are embedded in the HTML as
base64 data URIs so one file can be mailed to a reviewer; the Markdown links them relatively.
NumPy and Jinja2 only: the figures themselves are made by :mod:`descent.plots`.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import os
import platform
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from markupsafe import Markup

from descent.files import atomic_path

__all__ = [
    "DATASET_IMAGES",
    "GAP_TARGET",
    "HEATMAP_IMAGE",
    "SUMMARY_COLUMNS",
    "build_report",
    "discover_datasets",
    "load_dataset",
    "steps_to_gap",
    "summary_rows",
    "threshold_matrix",
]

GAP_TARGET = 1e-6
SUMMARY_COLUMNS = (
    "dataset",
    "variant",
    "status",
    "iterations",
    "loss",
    "optimal_loss",
    "gap",
    "seconds",
    "distance",
    "passes",
    "optimizer",
    "schedule",
    "penalty",
    "learning_rate",
    "lr_unstable",
    "diverged_at",
)
# file name in results/{ds}/ -> caption; shown in this order when present
DATASET_IMAGES = {
    "cost_curves.png": "Relative loss gap to the exact optimum against iterations and data "
    "passes (log scales; × marks a divergence; dotted line: 1e-6).",
    "fit.png": "Data and fitted models (exact optimum: thick dashed black line).",
    "lr_schedules.png": "Learning rate per step for each variant.",
    "contours.png": "Loss contours in standardized coordinates with each optimizer's path.",
}
RESTARTS_CAPTION = (
    "Non-convex peak model: loss over peak position μ and width s (a and c "
    "solved exactly at each point) with the end point of every random start; "
    "starts in different basins end in different local optima."
)
HEATMAP_IMAGE = "heatmap.png"
TEMPLATES = Path(__file__).with_name("templates")


# --------------------------------------------------------------------------- loading


def _read_json(path: Path) -> Any:
    """Parsed JSON of ``path`` or None when the file does not exist."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def discover_datasets(results_dir: str | os.PathLike) -> list[str]:
    """Sorted names of the dataset folders in ``results_dir`` (those with results or errors)."""
    root = Path(results_dir)
    marks = ("validation.json", "reference.json", "error.json", "errors", "fits")
    return sorted(
        d.name for d in root.iterdir() if d.is_dir() and any((d / m).exists() for m in marks)
    )


def load_dataset(ds_dir: str | os.PathLike) -> dict[str, Any]:
    """Everything in ``results/{ds}``: validation, reference, error, fits and traces by variant."""
    d = Path(ds_dir)
    fits, traces = {}, {}
    for path in sorted((d / "fits").glob("*.json")):
        fit = json.loads(path.read_text(encoding="utf-8"))
        variant = str(fit.get("variant", path.stem))
        fits[variant] = fit
        npz = path.with_name(f"{path.stem}.trace.npz")
        if npz.is_file():
            with np.load(npz, allow_pickle=False) as z:
                traces[variant] = {k: z[k] for k in z.files}
    errors = [_read_json(p) for p in [d / "error.json", *sorted(d.glob("errors/*.json"))]]
    validation = _read_json(d / "validation.json") or {}
    return {
        "name": d.name,
        "dir": d,
        "validation": validation | _spec_text(validation),
        "reference": _read_json(d / "reference.json") or {},
        "errors": [e for e in errors if e],
        "fits": fits,
        "traces": traces,
    }


def _spec_text(validation: Mapping) -> dict[str, str]:
    """Title and source from the dataset spec named in validation.json, when they are missing
    there and the spec file is readable (the report then still says where the data came from)."""
    spec_path = validation.get("spec")
    if (
        (validation.get("title") and validation.get("source"))
        or not spec_path
        or not Path(spec_path).is_file()
    ):
        return {}
    import yaml

    spec = yaml.safe_load(Path(spec_path).read_text(encoding="utf-8")) or {}
    return {
        k: str(spec[k])
        for k in ("title", "source")
        if isinstance(spec, Mapping) and spec.get(k) and not validation.get(k)
    }


def _ordered_variants(loaded: Iterable[Mapping], preferred: Sequence[str] | None) -> list[str]:
    """The config's variants in its order; without one, every variant by first appearance."""
    if preferred is not None:
        return list(preferred)
    out: list[str] = []
    for ds in loaded:
        out += [v for v in ds["fits"] if v not in out]
    return out


def steps_to_gap(
    trace: Mapping[str, np.ndarray], threshold: float = GAP_TARGET, x: str = "iterations"
) -> float:
    """First traced step (or data passes) at which the gap is ≤ threshold; NaN if never.

    Traces are thinned, so this is the first *recorded* step: an upper bound within the
    thinning interval.
    """
    if "gap" not in trace:
        return math.nan
    gap = np.asarray(trace["gap"], float)
    hit = np.flatnonzero(np.isfinite(gap) & (gap <= threshold))
    if hit.size == 0:
        return math.nan
    key = "step" if x == "iterations" else "passes"
    return float(np.asarray(trace.get(key, trace["step"]), float)[hit[0]])


def threshold_matrix(
    results_dir: str | os.PathLike,
    *,
    threshold: float = GAP_TARGET,
    x: str = "iterations",
    variants: Sequence[str] | None = None,
) -> tuple[np.ndarray, list[str], list[str]]:
    """(matrix, datasets, variants): effort to reach a gap ≤ threshold, NaN = never or not run.

    Only datasets with fits are rows; a diverged or failed run counts as never.
    """
    loaded = [load_dataset(Path(results_dir) / n) for n in discover_datasets(results_dir)]
    return _matrix([d for d in loaded if d["fits"]], threshold, x, variants)


def _matrix(
    loaded: Sequence[Mapping], threshold: float, x: str, variants: Sequence[str] | None
) -> tuple[np.ndarray, list[str], list[str]]:
    """threshold_matrix over already loaded datasets."""
    cols = _ordered_variants(loaded, variants)
    m = np.full((len(loaded), len(cols)), np.nan)
    for i, ds in enumerate(loaded):
        for j, v in enumerate(cols):
            fit = ds["fits"].get(v)
            if (
                fit is not None
                and fit.get("status") not in ("diverged", "failed")
                and v in ds["traces"]
            ):
                m[i, j] = steps_to_gap(ds["traces"][v], threshold, x)
    return m, [d["name"] for d in loaded], cols


# --------------------------------------------------------------------------- formatting


def _isnum(x: Any) -> bool:
    """True for a real number (not bool, not None)."""
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool)


def fmt_gap(x: Any) -> str:
    """A loss gap or distance: 1.2e-09, 0, inf, — for missing."""
    if not _isnum(x):
        return "—"
    x = float(x)
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    return f"{x:.1e}"


def fmt_num(x: Any, digits: int = 6) -> str:
    """A coefficient or loss with ``digits`` significant digits, — for missing."""
    return f"{float(x):.{digits}g}" if _isnum(x) else "—"


def fmt_int(x: Any) -> str:
    """An iteration count with thousands separators."""
    return f"{int(x):,}" if _isnum(x) and math.isfinite(float(x)) else "—"


def fmt_seconds(x: Any) -> str:
    """A duration: 850 µs, 12.3 ms, 1.25 s."""
    if not _isnum(x):
        return "—"
    x = float(x)
    if x < 1e-3:
        return f"{x * 1e6:.0f} µs"
    return f"{x * 1e3:.3g} ms" if x < 1 else f"{x:.3g} s"


def describe(obj: Any, default: str = "—") -> str:
    """Compact text of a config value: ``name(k=v, ...)`` for a dict with a name."""
    if obj is None or obj == {}:
        return default
    if isinstance(obj, Mapping):
        name = obj.get("name") or obj.get("type") or obj.get("kind")
        args = ", ".join(
            f"{k}={describe(v)}"
            for k, v in obj.items()
            if k not in ("name", "type", "kind") and v is not None
        )
        return f"{name}({args})" if name else args
    if isinstance(obj, list | tuple):
        return "[" + ", ".join(describe(v) for v in obj) + "]"
    return fmt_num(obj, 6) if _isnum(obj) else str(obj)


def _config(fit: Mapping) -> Mapping:
    """The variant config carried by a fit (empty if absent)."""
    cfg = fit.get("config")
    return cfg if isinstance(cfg, Mapping) else {}


def optimizer_name(fit: Mapping) -> str:
    """Optimizer of a fit from its config, with the batch size for stochastic variants."""
    cfg = _config(fit)
    name = str(cfg.get("optimizer") or cfg.get("method") or cfg.get("name") or fit.get("variant"))
    batch = cfg.get("batch_size")
    return f"{name} (batch {batch})" if batch else name


def schedule_name(fit: Mapping) -> str:
    """Learning-rate schedule of a fit; a plain number is a constant rate."""
    cfg = _config(fit)
    sched = cfg.get("schedule")
    if sched is None and isinstance(cfg.get("learning_rate"), Mapping):
        sched = cfg["learning_rate"]
    return describe(sched, default="constant")


def penalty_name(fit: Mapping) -> str:
    """Penalty of a fit: ``none``, or the penalty config in compact form."""
    cfg = _config(fit)
    if cfg.get("penalty") is not None:
        return describe(cfg["penalty"], default="none")
    keys = {k: cfg[k] for k in ("alpha", "l1_ratio") if cfg.get(k) is not None}
    return describe(keys, default="none") if keys.get("alpha") else "none"


# --------------------------------------------------------------------------- summary.csv


def _csv_value(x: Any) -> str:
    """Cell text: repr for floats (round-trips exactly), lower-case booleans, '' for None."""
    if x is None:
        return ""
    if isinstance(x, bool | np.bool_):
        return "true" if x else "false"
    if isinstance(x, float | np.floating):
        return repr(float(x))
    return str(x)


def summary_rows(
    loaded: Sequence[Mapping], variants: Sequence[str] | None = None, failed: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """One row per (dataset, variant); a failed dataset gets a ``failed`` row per variant, a
    dataset without a model (``model: none``) none."""
    cols = _ordered_variants(loaded, variants)
    failed = set(failed)
    rows = []
    for ds in loaded:
        if ds["fits"]:
            names = [v for v in cols if v in ds["fits"]]
        else:
            names = cols if ds["errors"] or ds["name"] in failed else []
        for v in names:
            fit = ds["fits"].get(v)
            rows.append(_summary_row(ds["name"], v, fit))
    return rows


def _summary_row(dataset: str, variant: str, fit: Mapping | None) -> dict[str, Any]:
    """The summary.csv row of one fit (or of a variant that never ran: status failed)."""
    if fit is None:
        return {c: None for c in SUMMARY_COLUMNS} | {
            "dataset": dataset,
            "variant": variant,
            "status": "failed",
        }
    row = {c: fit.get(c) for c in SUMMARY_COLUMNS}
    row |= {
        "dataset": dataset,
        "variant": variant,
        "optimizer": optimizer_name(fit),
        "schedule": schedule_name(fit),
        "penalty": penalty_name(fit),
    }
    return row


def _write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write text to a temporary file in the same directory, then rename it over ``path``."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def _summary_csv(rows: Sequence[Mapping]) -> str:
    """The CSV text of the summary rows (header = SUMMARY_COLUMNS, LF line ends)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
    for row in rows:
        writer.writerow([_csv_value(row.get(c)) for c in SUMMARY_COLUMNS])
    return buf.getvalue()


# --------------------------------------------------------------------------- report context


def _best(fits: Mapping[str, Mapping]) -> Mapping | None:
    """Converged fit with the smallest gap (negative rounding noise counts as 0), then fewest
    iterations; None when nothing converged."""
    ok = [f for f in fits.values() if f.get("status") == "converged" and _isnum(f.get("gap"))]
    if not ok:
        return None
    return min(ok, key=lambda f: (max(float(f["gap"]), 0.0), f.get("iterations") or 0))


def _formula(ds: Mapping) -> str:
    """Model formula from the terms: ``target ~ 1 + x + x^2`` (``0 +`` without intercept)."""
    if ds["reference"].get("formula"):
        return str(ds["reference"]["formula"])
    terms = ds["reference"].get("terms") or next(iter(ds["fits"].values()), {}).get("terms", [])
    model = ds["validation"].get("model") or {}
    target = (
        (model.get("target") if isinstance(model, Mapping) else None)
        or ds["reference"].get("target")
        or "y"
    )
    rhs = ["1" if t == "intercept" else str(t) for t in terms]
    if "intercept" not in terms:
        rhs.insert(0, "0")
    return f"{target} ~ {' + '.join(rhs)}"


def _get(mapping: Mapping, *paths: str) -> Any:
    """First present value among dotted key paths (``rows.read``, ``rows_read``, ...)."""
    for path in paths:
        cur: Any = mapping
        for key in path.split("."):
            cur = cur.get(key) if isinstance(cur, Mapping) else None
        if cur is not None:
            return cur
    return None


def _provenance(ds: Mapping) -> list[tuple[str, str]]:
    """(label, text) rows of where the data came from and what validation found."""
    v = ds["validation"]
    rows = [
        ("title", _get(v, "title")),
        ("source", _get(v, "source")),
        ("file", _get(v, "file", "path")),
        ("sha256", _get(v, "sha256", "file_sha256")),
        ("rows read", _get(v, "rows.read", "rows_read", "n_read")),
        ("rows kept", _get(v, "rows.kept", "rows_kept", "n_kept", "rows.valid")),
        ("rows rejected", _get(v, "rows.rejected", "rows_rejected", "n_rejected")),
        ("rows with failures", _get(v, "rows.with_failures")),
        *_check_counts(v.get("checks")),
        ("validation status", _get(v, "status")),
    ]
    return [(k, describe(x) if not isinstance(x, str) else x) for k, x in rows if x is not None]


def _check_counts(checks: Any) -> list[tuple[str, Any]]:
    """(label, count) of checks passed and failed: from a list of per-check records
    ({column, check, passed, failed}: a check fails when any row fails it) or from counts."""
    if isinstance(checks, list):
        bad = [c for c in checks if isinstance(c, Mapping) and c.get("failed")]
        failed = [f"{c.get('column')}: {c.get('check')} ({c.get('failed')} rows)" for c in bad]
        return [
            ("checks passed", len(checks) - len(bad)),
            ("checks failed", len(bad)),
            *([("failed checks", "; ".join(failed))] if failed else []),
        ]
    if isinstance(checks, Mapping):
        return [("checks passed", checks.get("passed")), ("checks failed", checks.get("failed"))]
    return []


def _conditioning(ds: Mapping) -> dict[str, str] | None:
    """L, mu, kappa and the stability limit 2/L, formatted; None if the reference lacks L."""
    ref = ds["reference"]
    L = ref.get("L")
    if not _isnum(L):
        return None
    limit = ref.get("unstable_lr") or (2.0 / L if L > 0 else math.inf)
    return {
        "L": fmt_num(L, 4),
        "mu": fmt_num(ref.get("mu"), 4),
        "kappa": fmt_num(ref.get("kappa"), 4),
        "limit": fmt_num(limit, 4),
        "kappa_raw": fmt_num(ref.get("kappa_unstandardized"), 4),
    }


def dataset_warnings(ds: Mapping) -> list[str]:
    """Dataset-level warnings: rank deficiency, non-convex reference, the reference's own."""
    ref, out = ds["reference"], []
    rank, p = ref.get("rank"), ref.get("p") or len(ref.get("terms") or [])
    said = " ".join(str(w) for w in ref.get("warnings") or []).lower()
    if _isnum(rank) and p and rank < p and "rank" not in said:
        out.append(
            f"Rank-deficient design: rank {rank} < {p} terms. The optimum is not unique; "
            "the minimum-norm solution is the reference and coefficients are not "
            "identifiable."
        )
    for fit in ds["fits"].values():
        if fit.get("model") not in (None, "linear"):
            out.append(
                f"Variant {fit.get('variant')} fits a non-convex {fit.get('model')} model: "
                f"its reference is the {fit.get('reference_method') or 'best of restarts'}"
                ". Every other variant is compared with the exact least-squares optimum."
            )
    out += [str(w) for w in ref.get("warnings") or []]
    return out


def fit_notes(fit: Mapping, limit: float | None) -> list[str]:
    """Per-run notes: divergence step, instability flag, failure message, the fit's warnings."""
    notes = []
    if fit.get("status") == "diverged":
        notes.append(f"diverged at step {fit.get('diverged_at', '?')}")
    if fit.get("lr_unstable"):
        lim = f" ≥ 2/L = {limit:.4g}" if limit else " ≥ 2/L"
        notes.append(
            f"learning rate {fmt_num(fit.get('learning_rate'), 4)}{lim}: "
            "flagged unstable before it ran"
        )
    if fit.get("status") == "failed" and fit.get("message"):
        notes.append(str(fit["message"]))
    if (fit.get("status") == "max_iter" or fit.get("standardized") is False) and fit.get("message"):
        notes.append(str(fit["message"]))
    notes += restart_notes(fit)
    notes += [str(w) for w in fit.get("warnings") or []]
    return notes


def restart_notes(fit: Mapping) -> list[str]:
    """Where the starts of a multi-start run ended: distinct final losses and how many each."""
    losses = [x for x in (_get(fit, "restarts.losses") or []) if _isnum(x)]
    if len(losses) < 2:
        return []
    groups: list[list[float]] = []
    for loss in sorted(losses):  # losses within 1e-6 relative are the same optimum
        if groups and abs(loss - groups[-1][0]) <= 1e-6 * max(abs(groups[-1][0]), 1e-300):
            groups[-1].append(loss)
        else:
            groups.append([loss])
    ends = ", ".join(f"{fmt_num(g[0], 4)} ×{len(g)}" for g in groups)
    what = f"{len(groups)} different optima" if len(groups) > 1 else "one optimum"
    return [f"{len(losses)} starts ended at {what} (final loss {ends}); the best is reported"]


def _run_row(fit: Mapping, limit: float | None) -> dict[str, Any]:
    """Formatted cells of one run in the per-dataset table."""
    return {
        "variant": str(fit.get("variant")),
        "optimizer": optimizer_name(fit),
        "schedule": schedule_name(fit),
        "penalty": penalty_name(fit),
        "lr": fmt_num(fit.get("learning_rate"), 4),
        "unstable": bool(fit.get("lr_unstable")),
        "status": str(fit.get("status", "—")),
        "iterations": fmt_int(fit.get("iterations")),
        "passes": fmt_num(fit.get("passes"), 4),
        "seconds": fmt_seconds(fit.get("seconds")),
        "gap": fmt_gap(fit.get("gap")),
        "distance": fmt_gap(fit.get("distance")),
        "notes": fit_notes(fit, limit),
    }


def _coef_table(ds: Mapping, variants: Sequence[str]) -> tuple[list[str], list[dict]]:
    """(column variants, rows of term / optimum / per-variant coefficients) in original units."""
    ref = ds["reference"]
    terms = list(ref.get("terms") or next(iter(ds["fits"].values()), {}).get("terms", []))
    opt = ref.get("coef") or next(iter(ds["fits"].values()), {}).get("optimal_coef") or []
    cols = [v for v in variants if v in ds["fits"]]
    rows = []
    for i, term in enumerate(terms):
        vals = []
        for v in cols:
            coef = ds["fits"][v].get("coef") or []
            vals.append(fmt_num(coef[i]) if i < len(coef) else "—")
        rows.append(
            {"term": str(term), "optimum": fmt_num(opt[i]) if i < len(opt) else "—", "values": vals}
        )
    return cols, rows


def _image(path: Path, rel_to: Path, caption: str) -> dict[str, str]:
    """An image for both outputs: base64 data URI (HTML) and relative path (Markdown)."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return {
        "uri": f"data:image/png;base64,{data}",
        "caption": caption,
        "rel": Path(os.path.relpath(path, rel_to)).as_posix(),
        "alt": path.stem,
    }


def _dataset_context(ds: Mapping, variants: Sequence[str], md_dir: Path) -> dict[str, Any]:
    """Everything the templates show for one fitted dataset, already formatted."""
    ref = ds["reference"]
    L = ref.get("L")
    limit = float(ref.get("unstable_lr") or 2.0 / L) if _isnum(L) and L > 0 else None
    order = [v for v in variants if v in ds["fits"]]
    cols, coef_rows = _coef_table(ds, order)
    runs = [_run_row(ds["fits"][v], limit) for v in order]
    return {
        "name": ds["name"],
        "title": str(ds["validation"].get("title") or ds["name"]),
        "provenance": _provenance(ds),
        "formula": _formula(ds),
        "method": str(
            ref.get("method") or next(iter(ds["fits"].values()), {}).get("reference_method") or "—"
        ),
        "optimal_loss": fmt_num(ref.get("loss")),
        "n": ref.get("n"),
        "p": ref.get("p"),
        "conditioning": _conditioning(ds),
        "warnings": dataset_warnings(ds),
        "unstable": [r["variant"] for r in runs if r["unstable"]],
        "coef_columns": cols,
        "coef_rows": coef_rows,
        "runs": runs,
        "images": [
            _image(ds["dir"] / f, md_dir, cap)
            for f, cap in DATASET_IMAGES.items()
            if (ds["dir"] / f).is_file()
        ]
        + [
            _image(path, md_dir, RESTARTS_CAPTION)
            for path in sorted(ds["dir"].glob("restarts_*.png"))
        ],
    }


def _overview_row(
    ds: Mapping, error: Mapping | None, unfitted: Mapping[str, str]
) -> dict[str, Any]:
    """Table 1 row: final cost (optimal loss) and the best converged variant of a dataset."""
    fits = ds["fits"]
    no_model = ds["name"] in unfitted and not error
    best = _best(fits)
    loss = ds["reference"].get("loss")
    if loss is None and fits:
        loss = next(iter(fits.values())).get("optimal_loss")
    return {
        "name": ds["name"],
        "title": str(ds["validation"].get("title") or "—"),
        "optimal_loss": fmt_num(loss),
        "best": best.get("variant") if best else None,
        "best_gap": fmt_gap(best.get("gap")) if best else "—",
        "best_iterations": fmt_int(best.get("iterations")) if best else "—",
        "converged": sum(f.get("status") == "converged" for f in fits.values()),
        "total": len(fits),
        "failed": None if fits or no_model else (error or {}).get("stage") or "fit",
        "no_model": unfitted.get(ds["name"]) if no_model else None,
    }


def _failures(loaded: Sequence[Mapping], meta: Mapping) -> list[dict[str, str]]:
    """Failed datasets from error.json files and meta['failures'], one row per (dataset, stage);
    distinct messages for the same stage are joined."""
    merged: dict[tuple[str, str], list[str]] = {}
    items = [e for d in loaded for e in d["errors"]] + _meta_failures(meta)
    for item in items:
        key = (str(item.get("dataset") or "?"), str(item.get("stage") or "?"))
        msg = str(item.get("message") or "")
        msgs = merged.setdefault(key, [])
        if msg and msg not in msgs:
            msgs.append(msg)
    unfitted = meta.get("unfitted") or {}
    for d in loaded:  # a folder with neither fits nor an error: say so rather than skip it
        if not d["fits"] and d["name"] not in unfitted and all(k[0] != d["name"] for k in merged):
            merged[d["name"], "fit"] = ["no fit results found"]
    return [
        {"dataset": ds, "stage": stage, "message": "; ".join(msgs) or "—"}
        for (ds, stage), msgs in sorted(merged.items())
    ]


def _footer(meta: Mapping, loaded: Sequence[Mapping]) -> dict[str, Any]:
    """Reproducibility footer: versions, config hash, and the sha256 of every input."""
    from descent import __version__

    inputs = meta.get("inputs")
    if isinstance(inputs, Mapping):
        pairs = sorted((str(k), str(v)) for k, v in inputs.items())
    elif inputs:
        pairs = [(str(i.get("path") or i.get("file")), str(i.get("sha256"))) for i in inputs]
    else:
        pairs = sorted(
            (
                str(_get(d["validation"], "file", "path")),
                str(_get(d["validation"], "sha256", "file_sha256")),
            )
            for d in loaded
            if _get(d["validation"], "sha256", "file_sha256")
        )
    known = {
        "version",
        "config_hash",
        "inputs",
        "python",
        "numpy",
        "failures",
        "variants",
        "title",
        "datasets",
        "gap_target",
    }
    extra = [(str(k), describe(v)) for k, v in sorted(meta.items()) if k not in known]
    return {
        "version": str(meta.get("version") or __version__),
        "config_hash": str(meta.get("config_hash") or "—"),
        "python": str(meta.get("python") or platform.python_version()),
        "numpy": str(meta.get("numpy") or np.__version__),
        "inputs": pairs,
        "extra": extra,
    }


def _target_text(target: float) -> str:
    """1e-06 -> "1e-6"; other values in short form."""
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", f"{target:.2g}")


def _heatmap_context(
    loaded: Sequence[Mapping], variants: Sequence[str], results: Path, md_dir: Path, target: float
) -> dict[str, Any] | None:
    """The iterations-to-target matrix as a table, plus the heatmap figure if it was drawn."""
    fitted = [d for d in loaded if d["fits"]]
    if not fitted:
        return None
    m, names, cols = _matrix(fitted, target, "iterations", variants)
    rows = [
        {"dataset": n, "cells": [fmt_int(x) if math.isfinite(x) else "—" for x in m[i]]}
        for i, n in enumerate(names)
    ]
    img = results / HEATMAP_IMAGE
    caption = (
        f"Iterations to reach a relative gap ≤ {_target_text(target)} "
        "(first recorded step; — = never)."
    )
    return {
        "variants": cols,
        "rows": rows,
        "caption": caption,
        "image": _image(img, md_dir, caption) if img.is_file() else None,
    }


def _empty(results: Path, name: str) -> dict[str, Any]:
    """A dataset that left nothing in results/ (its failure comes from meta)."""
    return {
        "name": name,
        "dir": results / name,
        "validation": {},
        "reference": {},
        "errors": [],
        "fits": {},
        "traces": {},
    }


def _meta_failures(meta: Mapping) -> list[Mapping]:
    """``meta['failures']`` of the workflow's datasets only: an error marker left in results/ by
    a dataset since removed from data/ (or from the config's ``datasets:``) is stale."""
    wanted = meta.get("datasets")
    return [
        f
        for f in meta.get("failures") or []
        if (wanted is None or str(f.get("dataset", "")) in set(map(str, wanted)))
        and _current_stage(str(f.get("stage", "")), meta)
    ]


def _current_stage(stage: str, meta: Mapping) -> bool:
    """Whether a failed stage belongs to the current config: ``fit_{v}`` (and the plots of
    ``v``) of a variant removed from the config is stale, like the variant's old fits."""
    variants = meta.get("variants")
    for prefix in ("fit_", "plot_restarts_"):
        if variants is not None and stage.startswith(prefix):
            return stage[len(prefix) :] in set(map(str, variants))
    return True


def _only_configured(ds: dict[str, Any], meta: Mapping) -> dict[str, Any]:
    """Keep the fits, traces and errors of the config's variants (old files of a removed
    variant stay in results/ until deleted, but are not part of this run)."""
    variants = meta.get("variants")
    if variants is not None:
        keep = set(map(str, variants))
        ds["fits"] = {v: f for v, f in ds["fits"].items() if v in keep}
        ds["traces"] = {v: t for v, t in ds["traces"].items() if v in keep}
    ds["errors"] = [e for e in ds["errors"] if _current_stage(str(e.get("stage", "")), meta)]
    return ds


def _load_all(results: Path, meta: Mapping) -> list[dict[str, Any]]:
    """Every dataset folder, plus an empty entry for a dataset named in meta (``datasets`` or
    ``failures``) that left no folder."""
    wanted = meta.get("datasets")  # the workflow's datasets: stale folders are not reported
    names = [n for n in discover_datasets(results) if wanted is None or n in wanted]
    loaded = [_only_configured(load_dataset(results / n), meta) for n in names]
    have = {d["name"] for d in loaded}
    named = [str(i.get("dataset", "")) for i in _meta_failures(meta)]
    for name in [*named, *map(str, meta.get("datasets") or [])]:
        if name and name not in have:
            have.add(name)
            loaded.append(_empty(results, name))
    return sorted(loaded, key=lambda d: d["name"])


def report_context(
    loaded: Sequence[Mapping],
    variants: Sequence[str],
    results_dir: Path,
    md_dir: Path,
    meta: Mapping,
) -> dict[str, Any]:
    """The full, formatted template context of the report."""
    failures = _failures(loaded, meta)
    errors: dict[str, dict] = {}
    for f in failures:
        errors.setdefault(f["dataset"], f)
    target = float(meta.get("gap_target") or GAP_TARGET)
    return {
        "title": str(meta.get("title") or "descent: gradient descent against the exact optimum"),
        "overview": [
            _overview_row(d, errors.get(d["name"]), meta.get("unfitted") or {}) for d in loaded
        ],
        "failures": failures,
        "variants": list(variants),
        "datasets": [_dataset_context(d, variants, md_dir) for d in loaded if d["fits"]],
        "heatmap": _heatmap_context(loaded, variants, results_dir, md_dir, target),
        "footer": _footer(meta, loaded),
        "gap_target": _target_text(target),
    }


# --------------------------------------------------------------------------- rendering


def md_escape(value: Any) -> Markup:
    """Text safe in a Markdown table cell: HTML-escaped, one line, Markdown syntax escaped."""
    text = re.sub(r"\s*[\r\n]+\s*", " ", str(value))
    text = html.escape(text, quote=False)
    return Markup(re.sub(r"([\\`*_\[\]|#~])", r"\\\1", text))


def environment() -> jinja2.Environment:
    """The Jinja2 environment of the report templates (autoescape on, strict undefined)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    return env


def build_report(
    results_dir: str | os.PathLike,
    out_html: str | os.PathLike,
    out_md: str | os.PathLike,
    out_csv: str | os.PathLike,
    *,
    meta: Mapping[str, Any],
) -> None:
    """Write summary.csv, the self-contained report.html and report.md from ``results_dir``.

    ``meta`` may hold ``version``, ``config_hash``, ``inputs`` ({path: sha256}), ``python``,
    ``numpy``, ``variants`` (config order), ``failures`` ([{dataset, stage, message}]) and
    ``title``; other keys are listed in the footer.
    """
    results = Path(results_dir)
    loaded = _load_all(results, meta)
    variants = _ordered_variants(loaded, meta.get("variants"))
    ctx = report_context(loaded, variants, results, Path(out_md).parent, meta)
    failed = [str(f.get("dataset")) for f in _meta_failures(meta)]
    _write_atomic(out_csv, _summary_csv(summary_rows(loaded, variants, failed)))
    env = environment()
    _write_atomic(out_html, env.get_template("report.html.j2").render(**ctx))
    _write_atomic(out_md, env.get_template("report.md.j2").render(**ctx))
