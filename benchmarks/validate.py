"""Read+validate cost against a bare `pandas.read_parquet`, time and peak memory.

    python benchmarks/validate.py [--rows N] [--repeat 3]

Writes an N-row x 5-column float64 parquet (and its spec) to a temp dir, then times, each in a
fresh subprocess so peak RSS is per measurement:
  pandas   pandas.read_parquet(path)
  read     descent.ingest.read_table(path) alone (column-wise pyarrow read, for reference)
  descent  descent.ingest.ingest_and_validate(spec): read, type-check, pandera validate
           (lazy, inplace, 5 columns x (ge, le, finite, not-null)), profile, sha256 of the file
Both get the same warm-up call on a 10-row file first (one-time costs are not per row).
Prints the median time of `--repeat` runs, the ratio (target <= 2x), and the peak RSS growth
over the process's RSS just before reading, relative to the frame's bytes (target <= 2x).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLUMNS = [f"x{i}" for i in range(5)]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _measure(which: str, folder: Path) -> None:
    """Run one measurement in this (fresh) process; print JSON seconds, peak growth, frame bytes."""
    import pandas as pd
    import pyarrow.parquet  # noqa: F401 - imported lazily by both paths; keep it out of the timing

    from descent.ingest import ingest_and_validate, read_table

    # Warm-up on a 10-row copy: one-time costs (lazy imports, pandera's first-call setup) are
    # paid by any process once, not per row; both paths get the same warm-up.
    pd.read_parquet(folder / "warm" / "bench.parquet")
    ingest_and_validate(folder / "warm" / "bench.yaml")
    base = _rss_bytes()
    start = time.perf_counter()
    if which == "pandas":
        frame = pd.read_parquet(folder / "bench.parquet")
    elif which == "read":
        frame = read_table(folder / "bench.parquet").frame
    else:
        outcome = ingest_and_validate(folder / "bench.yaml")
        assert outcome.report["status"] == "passed", outcome.report["status"]
        frame = outcome.kept
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    nbytes = int(frame.memory_usage(index=True, deep=False).sum())
    print(json.dumps({"seconds": seconds, "peak_growth": peak - base, "frame_bytes": nbytes}))


def _write_inputs(folder: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    table = pa.table({c: rng.random(rows) for c in COLUMNS})
    pq.write_table(table, folder / "bench.parquet")
    cols = "\n".join(f"  - {{name: {c}, type: float, checks: {{ge: 0, le: 1}}}}" for c in COLUMNS)
    (folder / "bench.yaml").write_text(
        f"title: benchmark\nsource: benchmarks/validate.py (uniform random, seed 0)\n"
        f"columns:\n{cols}\nmodel:\n  target: x4\n  features: [x0, x1, x2, x3]\n",
        encoding="utf-8")


def _run(which: str, folder: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--measure", which, str(folder)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        _measure(args.measure[0], Path(args.measure[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _write_inputs(folder, args.rows)
        (folder / "warm").mkdir()
        _write_inputs(folder / "warm", 10)
        runs: dict[str, list[dict]] = {"pandas": [], "read": [], "descent": []}
        for _ in range(args.repeat):  # interleaved, so machine noise hits both alike
            for which, results in runs.items():
                results.append(_run(which, folder))
    nbytes = runs["pandas"][0]["frame_bytes"]
    print(f"rows={args.rows:,} cols={len(COLUMNS)} frame={nbytes / 2**20:,.0f} MiB "
          f"(median of {args.repeat}, each run in a fresh process)")
    med = {}
    for which, rs in runs.items():
        med[which] = statistics.median(r["seconds"] for r in rs)
        fastest = min(r["seconds"] for r in rs)
        peak = max(r["peak_growth"] for r in rs)
        print(f"  {which:8s} median {med[which]:6.3f} s (min {fastest:6.3f})   peak RSS growth "
              f"{peak / 2**20:7,.0f} MiB = {peak / nbytes:.2f}x frame (max of runs)")
    ratio = med["descent"] / med["pandas"]
    print(f"time ratio descent/pandas = {ratio:.2f}x (target <= 2x): "
          f"{'OK' if ratio <= 2 else 'OVER'}; validation over our own read alone = "
          f"{med['descent'] / med['read']:.2f}x")


if __name__ == "__main__":
    main()
