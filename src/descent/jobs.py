"""One function per workflow stage, with plain arguments; the Snakemake scripts only call these.

Each stage imports what it needs inside the function, so a fit job loads NumPy and nothing
heavier (pandas and pandera stay in ingest/validate, matplotlib in the plots, Jinja2 in the
report). Every output is written to a temporary file and renamed, so a job killed mid-write
never leaves a file that a rerun would take as done.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from descent.files import atomic_path, clean_json, write_json, write_npz

__all__ = ["atomic_path", "clean_json", "run_stage", "write_json", "write_npz"]


CHUNK_ROWS = 1 << 18  # rows per chunk when streaming a large design (2 MiB per column)


def error_path(results: Path, dataset: str, stage: str) -> Path:
    """Where a failed job records why, for the report (not a Snakemake output: it survives)."""
    return Path(results) / dataset / "errors" / f"{stage}.json"


def say(line: str) -> None:
    """One line to the terminal in one write, so parallel jobs' output never interleaves it."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def run_stage(
    stage: Callable[..., Any],
    *,
    log: str,
    dataset: str | None = None,
    label: str = "",
    results: str | Path = "results",
    **kwargs: Any,
) -> None:
    """Run a stage: details to the log, one clear line to the terminal, non-zero exit on error.

    A failure also leaves ``results/{ds}/errors/{label}.json`` so that a report built with
    ``--keep-going`` lists the failed dataset and why; a later success removes it.
    """
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    marker = error_path(Path(results), dataset, label or stage.__name__) if dataset else None
    with open(log, "w", encoding="utf-8") as log_file:
        if dataset is not None and "dataset" in inspect.signature(stage).parameters:
            kwargs["dataset"] = dataset
        try:
            stage(**kwargs)
        except Exception as error:  # the job's boundary: everything becomes a clear message
            message = str(error) or type(error).__name__
            traceback.print_exc(file=log_file)
            where = f"{dataset}: " if dataset else ""
            say(f"descent: error: {where}{label or stage.__name__}: {message}")
            if marker is not None:
                write_json(
                    marker,
                    {
                        "dataset": dataset,
                        "stage": label or stage.__name__,
                        "message": message,
                        "log": str(log),
                    },
                )
            sys.exit(1)
        if marker is not None and marker.exists():
            marker.unlink()
            with contextlib.suppress(OSError):  # only when no other stage's marker is left
                marker.parent.rmdir()
        log_file.write(f"{label or stage.__name__}: done\n")


# --- stages -----------------------------------------------------------------------------


def read_parquet_lean(path: str):
    """A parquet table as a DataFrame without holding Arrow's copy beside pandas' one."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pandas(split_blocks=True, self_destruct=True)


def write_npy_in_chunks(path: str, rows: Any) -> None:
    """Write ``rows`` (anything sliced by rows, with ``shape``) as a float64 ``.npy``, one
    chunk at a time and atomically: no n×p array in memory, no memory-mapped dirty pages."""
    header = {"descr": "<f8", "fortran_order": False, "shape": tuple(rows.shape)}
    with atomic_path(path, suffix=".npy") as tmp, open(tmp, "wb") as handle:
        np.lib.format.write_array_header_2_0(handle, header)
        for start in range(0, rows.shape[0], CHUNK_ROWS):
            np.ascontiguousarray(rows[start : start + CHUNK_ROWS], dtype="<f8").tofile(handle)


def design_stage(
    parquet: str, spec: str, design_out: str, xstd_out: str, reference_out: str
) -> None:
    """Design matrix, its standardized copy, Gram statistics and the exact optimum.

    The standardized design is written once, in row chunks, as a ``.npy`` that fit jobs
    memory-map: a 10-million-row table is read from disk by each job, never copied whole.
    """
    from descent import fitting
    from descent import objective as obj
    from descent.features import build_design
    from descent.spec import load_spec

    design = build_design(read_parquet_lean(parquet), load_spec(spec))
    frame = fitting.coordinates(design)
    write_npy_in_chunks(xstd_out, fitting.RowsIn(design.X, frame))
    stats = obj.gram_stats(fitting.RowsIn(design.X, frame), frame.target(design.y))
    write_npz(design_out, fitting.design_arrays(design, stats))
    problem, _ = fitting.standardized_problem(design, stats, None, np.load(xstd_out, mmap_mode="r"))
    coef = frame.to_original(obj.lstsq_reference(stats))
    zeros = np.zeros(len(design.terms))
    condition = obj.condition(problem)
    write_json(
        reference_out,
        {
            "terms": list(design.terms),
            "coef": coef,
            "loss": obj.loss_in_original_units(design.X, design.y, coef, zeros, zeros),
            "method": "least squares by SVD of the QR factor (minimum norm)",
            "n": int(design.X.shape[0]),
            "p": int(design.X.shape[1]),
            "target": design.target,
            "formula": fitting.formula(design),
            "warnings": fitting.design_warnings(design, condition),
            "kappa_unstandardized": fitting.raw_condition_number(design, stats),
            **condition,
        },
    )


def fit_stage(
    design: str,
    xstd: str,
    variant_name: str,
    variant: dict,
    fit_out: str,
    trace_out: str,
    dataset: str,
) -> None:
    """One variant on one dataset: ``fits/{v}.json`` and its trace."""
    from descent import fitting

    design_obj, stats = fitting.load_design_arrays(design)
    X_std = np.load(xstd, mmap_mode="r")
    record, trace = fitting.fit_variant(design_obj, stats, variant_name, variant, X_std)
    record["dataset"] = dataset
    write_npz(trace_out, trace)
    write_json(fit_out, record)


def validate_stage(spec: str, parquet_out: str, report_out: str, rejected_out: str) -> None:
    """Parse and validate one table; every failure at once, nothing dropped unless quarantined."""
    from descent.ingest import run_ingest_validate

    run_ingest_validate(spec, parquet_out, report_out, rejected_out)


def load_fits(fit_paths: list[str]) -> tuple[list[dict], dict[str, dict[str, np.ndarray]]]:
    """Fit records and their traces (``fits/{v}.json`` beside ``fits/{v}.trace.npz``)."""
    fits, traces = [], {}
    for path in fit_paths:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
        fits.append(record)
        with np.load(Path(path).with_suffix(".trace.npz"), allow_pickle=False) as data:
            traces[record["variant"]] = {key: data[key] for key in data.files}
    return fits, traces


def plot_dataset_stage(
    design: str,
    xstd: str,
    reference: str,
    fits: list[str],
    outputs: dict[str, str],
    dataset: str = "",
) -> None:
    """Cost curves, fitted lines, schedules and the loss landscape of one dataset."""
    from descent import fitting, plots, views

    design_obj, stats = fitting.load_design_arrays(design)
    X_std = np.load(xstd, mmap_mode="r")
    fit_records, traces = load_fits(fits)
    ref = json.loads(Path(reference).read_text(encoding="utf-8"))
    name = dataset or Path(design).parent.name
    plots.cost_curves(
        fit_records, traces, outputs["cost_curves"], title=f"{name}: gap to the exact optimum"
    )
    fit_data, note = views.fit_plot_data(design_obj, fit_records, ref)
    plots.fit_plot(**fit_data, out_path=outputs["fit"], title=f"{name}: {ref['formula']}{note}")
    plots.lr_schedules(traces, outputs["schedules"], title=f"{name}: learning rate per step")
    landscape = views.landscape(design_obj, stats, fit_records, traces, X_std)
    plots.contours(
        landscape["loss"],
        landscape["paths"],
        landscape["optimum"],
        outputs["contours"],
        labels=landscape["labels"],
        title=f"{name}: {landscape['title']}",
    )


def heatmap_stage(fits: list[str], gap_target: float, heatmap_out: str) -> None:
    """Iterations each variant needed to reach the gap target, datasets × variants."""
    from descent import plots
    from descent.report import steps_to_gap

    by_dataset: dict[str, dict[str, float]] = {}
    variants: list[str] = []
    for path in fits:
        dataset, variant = Path(path).parent.parent.name, Path(path).name[: -len(".json")]
        records, traces = load_fits([path])
        reached = records[0]["status"] not in ("diverged", "failed")
        steps = steps_to_gap(traces[variant], gap_target) if reached else float("nan")
        by_dataset.setdefault(dataset, {})[variant] = steps
        variants += [variant] if variant not in variants else []
    datasets = sorted(by_dataset)
    matrix = np.array([[by_dataset[d].get(v, np.nan) for v in variants] for d in datasets])
    plots.heatmap(matrix, datasets, variants, heatmap_out, threshold=gap_target)


def report_stage(
    datasets: list[str],
    variants: list[str],
    config_hash: str,
    gap_target: float,
    html_out: str,
    md_out: str,
    csv_out: str,
    unfitted: dict[str, str] | None = None,
    results: str = "results",
) -> None:
    """summary.csv, report.html and report.md from everything in ``results/``."""
    import platform

    import descent
    from descent.report import build_report

    failures = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(Path(results).glob("*/errors/*.json"))
    ]
    inputs = {}
    for ds in datasets:
        validation = Path(results) / ds / "validation.json"
        if validation.exists():
            report = json.loads(validation.read_text(encoding="utf-8"))
            inputs[str(report.get("file", ds))] = report.get("sha256", "")
    meta = {
        "version": descent.__version__,
        "config_hash": config_hash,
        "inputs": inputs,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "variants": variants,
        "failures": failures,
        "gap_target": gap_target,
        "datasets": datasets,
        "unfitted": unfitted or {},
    }
    build_report(results, html_out, md_out, csv_out, meta=meta)


def plot_peak_stage(design: str, fit: str, peak_out: str, dataset: str = "") -> None:
    """Where the starts of the non-convex peak model ended, on its exact (μ, s) landscape."""
    from descent import fitting, plots, views

    design_obj, _ = fitting.load_design_arrays(design)
    record = json.loads(Path(fit).read_text(encoding="utf-8"))
    profile = views.peak_profile(design_obj, record)
    title = (
        f"{dataset}: {record['variant']}, {len(profile['endpoints'])} starts (a, c profiled out)"
    )
    plots.contours(
        profile.pop("loss"),
        profile.pop("paths"),
        profile.pop("optimum"),
        peak_out,
        title=title,
        **profile,
    )
