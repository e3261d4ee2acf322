"""A 10-million-row table through the same pipeline, against numpy.linalg.lstsq on the same matrix.

    python benchmarks/scale.py [--rows 10000000] [--features 10] [--cores 4]

On a temporary copy of the project: a cold run on the built-in data, then a synthetic table
(``descent make-synthetic``) is dropped into ``data/`` and the incremental run that fits it with
every default variant is timed. In the same process, ``numpy.linalg.lstsq`` is timed on the
same matrix. Printed against the targets:

- incremental run ≤ 30 × lstsq;
- fastest variant to a 1e-6 gap (Gram statistics from the memory-mapped design + its solve)
  ≤ 0.5 × lstsq;
- peak memory (max RSS, from Snakemake's per-job benchmark files) of the largest job ≤ 4 × the
  table's bytes (rows × (features + 1) × 8).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from pipeline import copy_project, run  # benchmarks/ is on sys.path when run as a script


def time_lstsq(parquet: Path, repeat: int) -> tuple[float, np.ndarray]:
    """Median seconds of lstsq on [1 | X] (the matrix the pipeline fits), and its solution."""
    import pyarrow.parquet as pq

    table = pq.read_table(parquet)
    names = [n for n in table.column_names if n != "y"]
    X = np.ones((table.num_rows, len(names) + 1))
    for j, name in enumerate(names, start=1):
        X[:, j] = table.column(name).to_numpy()
    y = table.column("y").to_numpy().astype(float)
    del table
    times, solution = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        solution = np.linalg.lstsq(X, y, rcond=None)[0]
        times.append(time.perf_counter() - started)
    return float(np.median(times)), solution


def fastest_to_target(results: Path, gap_target: float) -> tuple[str, float, float]:
    """(variant, seconds, gap): Gram statistics timed here on the memory-mapped design plus the
    best variant's own solve time (from its fit record)."""
    from descent import fitting
    from descent import objective as obj

    design, _ = fitting.load_design_arrays(str(results / "design.npz"))
    X_std = np.load(results / "design.std.npy", mmap_mode="r")
    frame = fitting.coordinates(design)
    started = time.perf_counter()
    obj.gram_stats(X_std, frame.target(design.y))
    gram_seconds = time.perf_counter() - started
    fits = [json.loads(p.read_text()) for p in (results / "fits").glob("*.json")]
    # the same problem as lstsq: linear, no penalty
    same = [f for f in fits if f.get("model") == "linear" and not f["config"].get("penalty")]
    reached = [f for f in same if f["gap"] is not None and f["gap"] <= gap_target]
    best = min(reached, key=lambda f: f["seconds"])
    return best["variant"], gram_seconds + best["seconds"], best["gap"]


def job_peaks(results: Path) -> list[tuple[str, float, float]]:
    """(job, max RSS in MiB, seconds) from Snakemake's benchmark files."""
    peaks = []
    for path in sorted((results / "jobs").glob("*.tsv")):
        with open(path) as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        rss = float(row["max_rss"]) if row["max_rss"] not in ("", "NA", "-") else float("nan")
        peaks.append((path.stem, rss, float(row["s"])))
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--cores", type=int, default=4)
    parser.add_argument("--lstsq-repeat", type=int, default=3)
    args = parser.parse_args()
    from descent.synthetic import make_synthetic

    with tempfile.TemporaryDirectory() as tmp:
        project = copy_project(Path(tmp))
        cold = run(project, args.cores)
        started = time.perf_counter()
        make_synthetic(
            project / "data" / "big.parquet", rows=args.rows, features=args.features, seed=0
        )
        synth = time.perf_counter() - started
        incremental = run(project, args.cores)
        results = project / "results" / "big"
        lstsq_seconds, _ = time_lstsq(project / "data" / "big.parquet", args.lstsq_repeat)
        variant, fastest, gap = fastest_to_target(results, 1e-6)
        peaks = job_peaks(results)
        n_fits = len(list((results / "fits").glob("*.json")))
    table_mib = args.rows * (args.features + 1) * 8 / 2**20
    largest = max(peaks, key=lambda p: p[1])
    print(
        f"{args.rows:,} rows x {args.features} features ({table_mib:,.0f} MiB as float64), "
        f"{n_fits} variants, snakemake --cores {args.cores}, {os.cpu_count()} CPUs"
    )
    print(f"cold run of the built-in data: {cold:.1f} s; writing the table: {synth:.1f} s")
    print(f"numpy.linalg.lstsq on [1|X]: {lstsq_seconds:.2f} s (median of {args.lstsq_repeat})")
    rows = [
        ("incremental run (big table)", incremental, incremental / lstsq_seconds, 30.0, "x lstsq"),
        (
            f"fastest to 1e-6 gap ({variant}, gap {gap:.1e})",
            fastest,
            fastest / lstsq_seconds,
            0.5,
            "x lstsq",
        ),
        (
            f"peak job memory ({largest[0]}, MiB)",
            largest[1],
            largest[1] / table_mib,
            4.0,
            "x table",
        ),
    ]
    print(f"{'measure':<48}{'value':>10}{'ratio':>10}{'target':>9}")
    for name, value, ratio, target, unit in rows:
        verdict = "meets" if ratio <= target else "MISSES"
        print(f"{name:<48}{value:>10.2f}{ratio:>10.2f}{target:>7.1f} {unit}  {verdict}")
    print("\nper job: max RSS (MiB), seconds")
    for name, rss, seconds in peaks:
        print(f"  {name:<28}{rss:>10.0f}{seconds:>8.1f}")


if __name__ == "__main__":
    main()
