"""Synthetic regression tables with known coefficients, written to parquet in row chunks.

``y = b0 + Σ_j b_j x_j + σ ε`` with ``x_j, ε ~ N(0, 1)`` drawn from ``default_rng(seed)``. The
table is written chunk by chunk with :class:`pyarrow.parquet.ParquetWriter`, so 10⁷ rows never
hold more than one chunk of floats in memory; the dataset spec goes beside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from descent.spec import dump_spec_yaml, validate_dataset_name

__all__ = ["make_synthetic", "synthetic_spec", "true_coefficients"]

CHUNK_ROWS = 1 << 18  # 262,144 rows: 20 MiB of float64 for 10 features


def true_coefficients(features: int, seed: int) -> dict[str, float]:
    """The coefficients of a synthetic table: intercept, x1..xD (rounded to 2 decimals).

    They come from a generator of their own (``default_rng([seed, 1])``), so they do not depend
    on the number of rows or the chunk size.
    """
    rng = np.random.default_rng([seed, 1])
    values = np.round(rng.uniform(-5.0, 5.0, size=features + 1), 2)
    return {"intercept": float(values[0])} | {
        f"x{j}": float(values[j]) for j in range(1, features + 1)
    }


def synthetic_spec(name: str, features: int, rows: int, seed: int, noise: float) -> dict:
    """The dataset spec of a synthetic table (model: y ~ x1 + ... + xD)."""
    names = [f"x{j}" for j in range(1, features + 1)]
    return {
        "title": f"Synthetic regression {name}",
        "source": (
            f"descent make-synthetic --rows {rows} --features {features} --seed {seed} "
            f"--noise {noise:g}"
        ),
        "file": f"{name}.parquet",
        "description": (
            "y = intercept + sum(b_j x_j) + noise * N(0, 1), x_j ~ N(0, 1); true "
            "coefficients: "
            + ", ".join(f"{k} = {v:g}" for k, v in true_coefficients(features, seed).items())
        ),
        "columns": [{"name": n, "type": "float"} for n in [*names, "y"]],
        "model": {"target": "y", "features": names},
    }


def make_synthetic(
    out: str | Path,
    rows: int,
    features: int,
    seed: int = 0,
    noise: float = 1.0,
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, float]:
    """Write ``out`` (a parquet table x1..xD, y) and its spec ``out`` with suffix ``.yaml``.

    Args:
      out: the parquet file; its stem is the dataset name (``[a-z0-9][a-z0-9_-]*``).
      rows: number of rows (≥ 1).
      features: number of features D (≥ 1).
      seed: seed of the coefficients and of the rows.
      noise: σ ≥ 0, the standard deviation of the noise.
      chunk_rows: rows generated and written at a time (the memory bound).

    Returns:
      The true coefficients ``{"intercept": b0, "x1": b1, ...}``.

    Raises:
      ValueError: bad arguments or a file name that is not a valid dataset name.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    if out.suffix != ".parquet":
        raise ValueError(f"{out}: the table must be a .parquet file")
    validate_dataset_name(out.stem, out)
    if int(rows) != rows or rows < 1 or int(features) != features or features < 1:
        raise ValueError(f"need rows >= 1 and features >= 1, got {rows} and {features}")
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise}")
    coef = true_coefficients(features, seed)
    b = np.array(list(coef.values()))
    names = [f"x{j}" for j in range(1, features + 1)]
    schema = pa.schema([(n, pa.float64()) for n in [*names, "y"]])
    rng = np.random.default_rng([seed, 2])
    out.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(out, schema) as writer:
        for start in range(0, rows, chunk_rows):
            m = min(chunk_rows, rows - start)
            X = rng.standard_normal((features, m))  # one contiguous row per column: zero-copy
            y = b[0] + b[1:] @ X + noise * rng.standard_normal(m)
            arrays = [pa.array(X[j]) for j in range(features)] + [pa.array(y)]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            del X, y, arrays
    dump_spec_yaml(synthetic_spec(out.stem, features, rows, seed, noise), out.with_suffix(".yaml"))
    return coef
