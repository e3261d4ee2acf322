"""Design matrix from a dataset spec: intercept, polynomial terms, encodings, standardization.

The model is defined in ORIGINAL units; standardization is a reparametrisation
``X_std[:, j] = (X[:, j] - center_j) / scale_j`` (intercept column untouched) with the exact
inverse map of coefficients (:func:`to_original`) and of penalty weights
(:func:`std_penalty_weights`), so both coordinates give the same predictions and objective.

Term names: ``"intercept"``; numeric feature ``x`` → ``"x"``, ``"x^2"``, … up to ``degree``;
ordered category → ``"col"`` coded 0..k-1 in the listed order; unordered category (or ``str``)
→ ``"col=level"`` for every level but the first (the baseline); bool → ``"col"`` as 0/1.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas only where a frame is built: fit jobs import NumPy alone
    import pandas as pd

__all__ = [
    "Design",
    "build_design",
    "from_original",
    "load_design",
    "penalty_weights",
    "save_design",
    "standardize",
    "std_penalty_weights",
    "to_original",
]

INTERCEPT = "intercept"
_NUMERIC_TYPES = ("int", "float")
_KNOWN_TYPES = ("int", "float", "str", "category", "bool")


@dataclass
class Design:
    """Design matrix in original units plus what is needed to standardize and report it."""

    X: np.ndarray
    y: np.ndarray
    terms: list[str]
    target: str
    center: np.ndarray
    scale: np.ndarray
    intercept: bool


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------


def _column_specs(spec: dict) -> dict[str, dict]:
    """Map column name → its spec entry; checks every type is known."""
    specs = {}
    for entry in spec.get("columns") or []:
        name = entry.get("name")
        kind = entry.get("type")
        if kind not in _KNOWN_TYPES:
            raise ValueError(
                f"column {name!r}: unknown type {kind!r} "
                f"(expected one of {', '.join(_KNOWN_TYPES)})"
            )
        specs[name] = entry
    return specs


def _model_spec(spec: dict) -> dict:
    """The ``model`` block, with defaults applied and basic checks."""
    model = spec.get("model")
    if model is None or model == "none":
        raise ValueError("dataset spec has no model (model: none): nothing to fit")
    if not isinstance(model, dict) or "target" not in model:
        raise ValueError("dataset spec 'model' must be a mapping with a 'target'")
    degree = model.get("degree", 1)
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise ValueError(f"model.degree must be an integer >= 1, got {degree!r}")
    features = list(model.get("features") or [])
    if model["target"] in features:
        raise ValueError(f"column {model['target']!r} is both the target and a feature")
    return {
        "target": model["target"],
        "features": features,
        "degree": degree,
        "intercept": bool(model.get("intercept", True)),
    }


def _require(df: pd.DataFrame, specs: dict[str, dict], name: str, role: str) -> pd.Series:
    """The column ``name`` from ``df``, checking it is declared and present without nulls."""
    if name not in specs:
        raise ValueError(f"{role} column {name!r} is not declared in the spec's columns")
    if name not in df.columns:
        raise ValueError(f"{role} column {name!r} is missing from the table")
    col = df[name]
    if col.isna().any():
        raise ValueError(f"{role} column {name!r} has missing values; a design needs all of them")
    return col


def _numeric(col: pd.Series, name: str, role: str) -> np.ndarray:
    """Float values of a numeric column, or a clear error."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    if is_bool_dtype(col) or not is_numeric_dtype(col):
        raise ValueError(f"{role} column {name!r} must be numeric, got dtype {col.dtype}")
    values = col.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{role} column {name!r} has non-finite values")
    return values


def _codes(col: pd.Series, levels: list, name: str) -> np.ndarray:
    """Index of each value in ``levels`` (matched by value, then by string form)."""
    lookup = {level: i for i, level in enumerate(levels)}
    by_str = {str(level): i for i, level in enumerate(levels)}
    values = col.astype(object)
    codes = values.map(lookup)  # vectorized: a Python loop costs seconds on 10^7 rows
    unmatched = codes.isna()
    if unmatched.any():
        codes[unmatched] = values[unmatched].astype(str).map(by_str)
        unknown = codes.isna()
        if unknown.any():
            value = values[unknown].iloc[0]
            raise ValueError(f"column {name!r}: value {value!r} is not one of {levels!r}")
    return codes.to_numpy(dtype=np.int64)


def _bool_values(col: pd.Series, name: str) -> np.ndarray:
    """0/1 floats of a boolean column."""
    mapping = {True: 1.0, False: 0.0}  # True == 1 and False == 0: 0/1 ints are accepted too
    values = col.astype(object)
    out = values.map(mapping)
    if out.isna().any():
        value = values[out.isna()].iloc[0]
        raise ValueError(f"bool column {name!r}: value {value!r} is not true/false")
    return out.to_numpy(dtype=np.float64)


def _feature_terms(col: pd.Series, entry: dict, degree: int) -> list[str]:
    """Term names one feature contributes (without computing its columns)."""
    name, kind = entry["name"], entry["type"]
    if kind in _NUMERIC_TYPES:
        return [name if k == 1 else f"{name}^{k}" for k in range(1, degree + 1)]
    if kind == "bool" or (kind == "category" and entry.get("ordered", False)):
        return [name]
    levels = _levels(entry) if kind == "category" else sorted(col.astype(str).unique())
    return [f"{name}={level}" for level in levels[1:]]


def _feature_columns(col: pd.Series, entry: dict, degree: int) -> Iterator[np.ndarray]:
    """The columns of one feature, one at a time, in the order of :func:`_feature_terms`."""
    name, kind = entry["name"], entry["type"]
    if kind in _NUMERIC_TYPES:
        x = _numeric(col, name, "feature")
        yield from (x**k for k in range(1, degree + 1))
    elif kind == "bool":
        yield _bool_values(col, name)
    elif kind == "category" and entry.get("ordered", False):
        yield _codes(col, _levels(entry), name).astype(np.float64)
    else:
        levels = _levels(entry) if kind == "category" else sorted(col.astype(str).unique())
        codes = _codes(col, levels, name)
        yield from ((codes == k).astype(np.float64) for k in range(1, len(levels)))


def _levels(entry: dict) -> list:
    """The declared ``categories`` of a category column."""
    levels = entry.get("categories")
    if not levels:
        raise ValueError(f"category column {entry['name']!r} needs a non-empty 'categories' list")
    return list(levels)


CHUNK_ROWS = 1 << 16  # rows per chunk of the standard-deviation pass


def mean_std(values: np.ndarray) -> tuple[float, float, float]:
    """Mean, standard deviation and largest magnitude of a vector, safe near 1e±300.

    The values are divided by their largest magnitude first, so neither the sum (1e300 · n
    overflows) nor the squares (1e-300² underflows) leave the floating-point range.
    """
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        biggest = float(max(np.max(values, initial=-np.inf), -np.min(values, initial=np.inf), 0.0))
    if 1e-150 < biggest < 1e150:  # the usual case: no rescaling pass needed
        return float(values.mean()), float(values.std()), biggest
    unit = biggest if 0 < biggest < np.inf else 1.0
    scaled = values / unit
    return float(scaled.mean()) * unit, float(scaled.std()) * unit, biggest


def _center_scale(X: np.ndarray, intercept: bool) -> tuple[np.ndarray, np.ndarray]:
    """Column means (0 without an intercept, which could not absorb them) and stds (1 if ~0).

    Column by column, so a 10-million-row design costs one column of scratch, not a copy.
    """
    n, p = X.shape
    squares = np.zeros(p)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        mean = X.mean(axis=0) if n else np.zeros(p)
        for start in range(0, n, CHUNK_ROWS):  # two passes, no n×p temporary
            deviation = X[start : start + CHUNK_ROWS] - mean
            squares += np.einsum("ij,ij->j", deviation, deviation)
        scale = np.sqrt(squares / max(n, 1))
        biggest = np.abs(mean) + scale  # the columns' magnitude, within a factor of √n
    ordinary = np.isfinite(biggest) & (biggest > 1e-150) & (biggest < 1e150)
    for j in np.flatnonzero(~ordinary):  # near 1e±300 (or overflowed): rescale the column first
        mean[j], scale[j], biggest[j] = mean_std(X[:, j])
    center = mean if intercept else np.zeros(p)
    constant = scale <= 16 * np.finfo(np.float64).eps * np.maximum(biggest, 1e-300)
    scale = np.where(constant, 1.0, scale)
    if intercept:
        center[0], scale[0] = 0.0, 1.0
    return center, scale


def build_design(df: pd.DataFrame, spec: dict) -> Design:
    """Design matrix (original units) and target from a table and its dataset spec.

    Raises:
        ValueError: naming the column, when a target/feature is undeclared or missing, has nulls,
            a non-numeric target, an unknown type, or a value outside a category's levels.
    """
    specs = _column_specs(spec)
    model = _model_spec(spec)
    target = model["target"]
    target_col = _require(df, specs, target, "target")
    if specs[target]["type"] not in _NUMERIC_TYPES:
        raise ValueError(
            f"target column {target!r} must be int or float, not {specs[target]['type']}"
        )
    y = _numeric(target_col, target, "target")
    features = [(name, _require(df, specs, name, "feature")) for name in model["features"]]
    terms = [INTERCEPT] if model["intercept"] else []
    for name, col in features:
        terms += _feature_terms(col, specs[name], model["degree"])
    if not terms:
        raise ValueError("the model has no columns (no intercept and no features)")
    # X is allocated once and filled one feature at a time: a 10-million-row table never has
    # its columns held beside the design
    X = np.empty((len(df), len(terms)))
    j = 0
    if model["intercept"]:
        X[:, 0], j = 1.0, 1
    for name, col in features:
        for column in _feature_columns(col, specs[name], model["degree"]):
            X[:, j], j = column, j + 1
    center, scale = _center_scale(X, model["intercept"])
    return Design(X, y, terms, target, center, scale, model["intercept"])


# --------------------------------------------------------------------------------------------
# Standardization and the exact back-transform
# --------------------------------------------------------------------------------------------


def standardize(
    design: Design, out: np.ndarray | None = None, chunk_rows: int = 1 << 16
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``X_std = (X - center) / scale`` column-wise (intercept column kept at 1), chunked.

    Args:
        design: the design (``X`` may be a memmap).
        out: optional n×p array (e.g. a writable memmap) to fill; a new array otherwise.
        chunk_rows: rows processed at a time.

    Returns:
        ``(X_std, center, scale)``.
    """
    X = design.X
    X_std = np.empty(X.shape, dtype=np.float64) if out is None else out
    for start in range(0, X.shape[0], chunk_rows):
        block = np.asarray(X[start : start + chunk_rows], dtype=np.float64)
        X_std[start : start + chunk_rows] = (block - design.center) / design.scale
    return X_std, design.center.copy(), design.scale.copy()


def _check_center(center: np.ndarray, intercept: bool) -> None:
    """Without an intercept a non-zero center would change the model: refuse it."""
    if not intercept and np.any(np.asarray(center) != 0):
        raise ValueError("centering requires an intercept column (center must be 0 without one)")


def to_original(w_std, center, scale, intercept: bool) -> np.ndarray:
    """Coefficients in original units from standardized ones.

    ``w_j = w_std_j / scale_j`` (j ≠ 0) and ``w_0 = w_std_0 - Σ_j w_std_j center_j / scale_j``.
    """
    _check_center(center, intercept)
    w_std = np.asarray(w_std, dtype=np.float64)
    w = w_std / np.asarray(scale, dtype=np.float64)
    if intercept:
        w[0] = w_std[0] - float(np.dot(w[1:], np.asarray(center)[1:]))
    return w


def from_original(w, center, scale, intercept: bool) -> np.ndarray:
    """Standardized coefficients from original ones (inverse of :func:`to_original`).

    ``w_std_j = w_j scale_j`` (j ≠ 0) and ``w_std_0 = w_0 + Σ_j w_j center_j``.
    """
    _check_center(center, intercept)
    w = np.asarray(w, dtype=np.float64)
    w_std = w * np.asarray(scale, dtype=np.float64)
    if intercept:
        w_std[0] = w[0] + float(np.dot(w[1:], np.asarray(center)[1:]))
    return w_std


def penalty_weights(
    terms: list[str], alpha: float, l1_ratio: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-term weights in original units: λ1 = α·l1_ratio, λ2 = α·(1 - l1_ratio); 0 on intercept.

    Matches ``sklearn.linear_model.ElasticNet(alpha, l1_ratio)`` (and ``Lasso(alpha)``,
    ``Ridge(alpha = n·α)`` for l1_ratio = 1, 0).
    """
    if alpha < 0 or not 0 <= l1_ratio <= 1:
        raise ValueError(f"need alpha >= 0 and 0 <= l1_ratio <= 1, got {alpha}, {l1_ratio}")
    penalised = np.array([term != INTERCEPT for term in terms], dtype=np.float64)
    return alpha * l1_ratio * penalised, alpha * (1.0 - l1_ratio) * penalised


def std_penalty_weights(l1, l2, scale) -> tuple[np.ndarray, np.ndarray]:
    """Weights in standardized coordinates: ``λ1/scale`` and ``λ2/scale²`` (same objective)."""
    scale = np.asarray(scale, dtype=np.float64)
    return np.asarray(l1, dtype=np.float64) / scale, np.asarray(l2, dtype=np.float64) / scale**2


# --------------------------------------------------------------------------------------------
# Saving and memory-mapped loading
# --------------------------------------------------------------------------------------------


def save_design(path: str | Path, design: Design) -> None:
    """Write an UNCOMPRESSED ``.npz`` (keys X, y, terms, target, center, scale, intercept).

    Members are stored, not deflated, so :func:`load_design` can memory-map ``X`` in place.
    """
    with open(path, "wb") as handle:  # a file object keeps numpy from appending ".npz"
        np.savez(
            handle,
            X=np.asarray(design.X, dtype=np.float64),
            y=np.asarray(design.y, dtype=np.float64),
            terms=np.array(design.terms, dtype=str),
            target=np.array(design.target, dtype=str),
            center=np.asarray(design.center, dtype=np.float64),
            scale=np.asarray(design.scale, dtype=np.float64),
            intercept=np.array(bool(design.intercept)),
        )


def _mmap_member(path: Path, member: str) -> np.ndarray | None:
    """Memory-map one stored (uncompressed) ``.npy`` member of a zip/npz; None if impossible.

    The data offset is the member's local-header offset + 30 + name and extra-field lengths
    (read from the local header itself), followed by the ``.npy`` header.
    """
    with zipfile.ZipFile(path) as archive:
        try:
            info = archive.getinfo(member)
        except KeyError:
            return None
        if info.compress_type != zipfile.ZIP_STORED:
            return None
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        local = handle.read(30)
        if local[:4] != b"PK\x03\x04":
            return None
        name_len = int.from_bytes(local[26:28], "little")
        extra_len = int.from_bytes(local[28:30], "little")
        handle.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(handle)
        readers = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }
        if version not in readers:
            return None
        shape, fortran, dtype = readers[version](handle)
        if dtype.hasobject:
            return None
        offset = handle.tell()
    if int(np.prod(shape)) == 0:
        return None
    order = "F" if fortran else "C"
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)


def load_design(path: str | Path, mmap: bool = True) -> Design:
    """Read a design written by :func:`save_design`; with ``mmap`` X is a read-only memmap."""
    path = Path(path)
    X = _mmap_member(path, "X.npy") if mmap else None
    with np.load(path, allow_pickle=False) as data:
        if X is None:
            X = data["X"]
        return Design(
            X=X,
            y=data["y"],
            terms=[str(term) for term in data["terms"]],
            target=str(data["target"]),
            center=data["center"],
            scale=data["scale"],
            intercept=bool(data["intercept"]),
        )
