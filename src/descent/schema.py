"""The pandera schema of a dataset spec, lazy validation and the failure report.

`build_schema(spec)` turns a spec into a strict `pa.DataFrameSchema` of built-in checks only;
`validate(df, spec, table_path)` runs it with `lazy=True` (every failure in one pass), merges
the parse failures of ingest, applies `on_error`, and builds the `validation.json` report.
Failures are rows of (file, line, column, value, check).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

__all__ = [
    "LINE_COLUMN",
    "Failure",
    "ValidationFailed",
    "ValidationOutcome",
    "build_schema",
    "failure_report",
    "file_sha256",
    "format_failures",
    "validate",
]

LINE_COLUMN = "__line__"
_MAX_REPORTED_FAILURES = 1000
_MAX_DISTINCT = 20


@dataclass(frozen=True)
class Failure:
    """One failed check: where (file, line, column), what (value) and which check.

    `line` is the 1-based line of the row in a text file (the header line for column-level
    failures) or the 1-based row number in a parquet file; None when it has no row.
    `row` is the 0-based row position in the frame (None for file- or column-level failures).
    """

    file: str
    line: int | None
    column: str
    value: str
    check: str
    row: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _show(value: str, width: int = 40) -> str:
    text = repr(value) if value == "" or value != value.strip() else value
    return text if len(text) <= width else text[: width - 1] + "…"


def format_failures(failures: list[Failure], limit: int | None = 50) -> str:
    """A plain-text table of failures: file | line | column | value | check."""
    head = ("file", "line", "column", "value", "check")
    shown = failures if limit is None else failures[:limit]
    rows = [
        (f.file, "" if f.line is None else str(f.line), f.column, _show(f.value), f.check)
        for f in shown
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [
        " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [head, *rows]
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    if len(shown) < len(failures):
        lines.append(f"... and {len(failures) - len(shown)} more")
    return "\n".join(lines)


class ValidationFailed(Exception):  # noqa: N818 - the name is part of the public contract
    """Data that failed parsing or validation; `failures` holds every failure row."""

    def __init__(self, failures: list[Failure], message: str | None = None) -> None:
        self.failures = list(failures)
        files = sorted({f.file for f in self.failures})
        head = message or (f"{len(self.failures)} failure(s) in {', '.join(files) or 'input'}")
        super().__init__(head + "\n" + format_failures(self.failures))

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The failures as dicts (file, line, column, value, check, row)."""
        return [f.as_dict() for f in self.failures]


@dataclass
class ValidationOutcome:
    """Result of `validate`: kept rows, quarantined rows, the report and all failures."""

    kept: pd.DataFrame
    rejected: pd.DataFrame
    report: dict[str, Any]
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the kept frame may be used (no failure, or all quarantined)."""
        return self.report["status"] != "failed"

    def raise_if_failed(self) -> None:
        """Raise ValidationFailed with every failure unless `ok`."""
        if not self.ok:
            raise ValidationFailed(self.failures)


# ---------------------------------------------------------------------------------------------
# schema


def pandas_dtype(col: dict, *, relaxed: bool = False) -> str:
    """The pandas dtype an ingested column has (nullable variants for nullable int/bool)."""
    nullable = relaxed or col["checks"]["nullable"]
    return {
        "int": "Int64" if nullable else "int64",
        "float": "float64",
        "bool": "boolean" if nullable else "bool",
        "str": "str",
        "category": "str",
    }[col["type"]]


def _fmt(v: Any) -> str:
    return repr(v) if isinstance(v, str) else str(v)


def _column_checks(col: dict, *, relaxed: bool = False) -> list[tuple[pa.Check, str]]:
    """(built-in check, label) pairs of a column, in the order pandera numbers them."""
    checks, out = col["checks"], []
    # In a non-nullable numpy column a null already fails `nullable`, so the checks need not
    # skip nulls (ignore_na=False saves two passes per check); `validate` drops the echoes.
    # Nullable dtypes (Int64, boolean: nullable or relaxed columns) must skip them.
    kw = {"ignore_na": bool(checks["nullable"]) or relaxed}
    builders = {"ge": pa.Check.ge, "le": pa.Check.le, "gt": pa.Check.gt, "lt": pa.Check.lt}
    for name, build in builders.items():
        if name in checks:
            out.append((build(checks[name], **kw), f"{name}: {_fmt(checks[name])}"))
    if col["type"] == "float":
        # NaN is caught by `nullable`; +-inf by a bound, or by these built-ins where none is set.
        if not {"ge", "gt"} & set(checks):
            out.append((pa.Check.gt(-math.inf, **kw), "finite"))
        if not {"le", "lt"} & set(checks):
            out.append((pa.Check.lt(math.inf, **kw), "finite"))
    if col["type"] == "category":
        out.append((pa.Check.isin(list(col["categories"]), **kw), "categories"))
    if "isin" in checks:
        out.append((pa.Check.isin(list(checks["isin"]), **kw), "isin"))
    if "str_matches" in checks:
        out.append(
            (
                pa.Check.str_matches(checks["str_matches"], **kw),
                f"str_matches: {checks['str_matches']!r}",
            )
        )
    return out


def build_schema(spec: dict, *, relaxed: frozenset[str] = frozenset()) -> pa.DataFrameSchema:
    """A strict, ordered pandera schema for the spec's ingested frame (built-in checks only).

    `relaxed` columns (those with parse failures, left as nulls) get their nullable dtype
    (Int64, boolean); their null failures at the failed cells are dropped by `validate`.
    """
    key = list(spec.get("key") or [])
    columns = {}
    for col in spec["columns"]:
        relax = col["name"] in relaxed
        columns[col["name"]] = pa.Column(
            pandas_dtype(col, relaxed=relax),
            [c for c, _ in _column_checks(col, relaxed=relax)],
            nullable=bool(col["checks"]["nullable"]) and col["name"] not in key,
            unique=bool(col["checks"]["unique"]),
            report_duplicates="all",
        )
    return pa.DataFrameSchema(
        columns, strict=True, ordered=True, unique=key or None, report_duplicates="all"
    )


def _check_labels(spec: dict) -> dict[str, list[str]]:
    return {c["name"]: [label for _, label in _column_checks(c)] for c in spec["columns"]}


def _label(row: pd.Series, labels: dict[str, list[str]], spec: dict) -> str:
    check, number, column = str(row["check"]), row["check_number"], row["column"]
    if number is not None and not pd.isna(number) and column in labels:
        return labels[column][int(number)]
    if check == "not_nullable":
        return "nullable"
    if check == "field_uniqueness":
        return "unique"
    if check == "multiple_fields_uniqueness":
        return "key"
    if check.startswith("dtype("):
        types = {c["name"]: c["type"] for c in spec["columns"]}
        return f"type: {types.get(column, '?')}"
    return {
        "column_in_schema": "column in table but not in spec",
        "column_in_dataframe": "column in spec but not in table",
        "column_ordered": "column order as in spec",
    }.get(check, check)


def _cell_text(value: Any) -> str:
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return str(value)


def _schema_failures(
    err: pa.errors.SchemaErrors,
    spec: dict,
    file: str,
    lines: np.ndarray | None,
    header_line: int | None,
    texts: pd.DataFrame | None,
) -> list[Failure]:
    labels = _check_labels(spec)
    out = []
    for _, row in err.failure_cases.iterrows():  # one per failure, not per data row
        index = row["index"]
        has_row = index is not None and not pd.isna(index)
        pos = int(index) if has_row else None
        column = row["column"] if isinstance(row["column"], str) else str(row["failure_case"])
        value = _cell_text(row["failure_case"])
        if has_row and texts is not None and column in texts.columns:
            value = str(texts[column].iat[pos])  # the cell as written in the file
        line = _line_of(pos, lines) if has_row else header_line
        out.append(Failure(file, line, column, value, _label(row, labels, spec), pos))
    return out


def _line_of(pos: int, lines: np.ndarray | None) -> int:
    return int(lines[pos]) if lines is not None else pos + 1


# ---------------------------------------------------------------------------------------------
# validate


def file_sha256(path: str | Path) -> str:
    """sha256 hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def validate(
    df: pd.DataFrame,
    spec: dict,
    table_path: str | Path,
    *,
    parse_failures: list[Failure] = (),
    lines: np.ndarray | None = None,
    header_line: int | None = None,
    sha256: str | None = None,
    texts: pd.DataFrame | None = None,
) -> ValidationOutcome:
    """Validate an ingested frame lazily against the spec's schema and build the report.

    Line numbers come from `lines`, else from a `__line__` column (dropped), else row i is
    line i+1 (parquet rows). `parse_failures` (from ingest) are merged into the same report;
    `texts`, the raw cell strings of a text table, lets failures quote cells as written.
    With `on_error: quarantine`, rows with a row-level failure go to `rejected`; otherwise any
    failure makes the outcome failed (nothing is dropped). The input frame is not modified.
    """
    file = str(table_path)
    if LINE_COLUMN in df.columns:
        if lines is None:
            lines = df[LINE_COLUMN].to_numpy()
        df = df.drop(columns=[LINE_COLUMN])
    if header_line is None and lines is not None:
        header_line = 1
    parse_failures = list(parse_failures)
    relaxed = frozenset(f.column for f in parse_failures if f.row is not None)
    schema = build_schema(spec, relaxed=relaxed)
    failures = list(parse_failures)
    try:
        schema.validate(df, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as err:
        found = _schema_failures(err, spec, file, lines, header_line, texts)
        # a cell that failed to parse, or is null, fails nothing else
        failed_cells = {(f.row, f.column) for f in parse_failures}
        nulls = {(f.row, f.column) for f in found if f.check == "nullable"} - failed_cells
        failures += [
            f
            for f in found
            if (f.row, f.column) not in failed_cells
            and (f.check == "nullable" or (f.row, f.column) not in nulls)
        ]
    failures.sort(key=lambda f: (f.line is not None, f.line or 0, f.row or 0))
    kept, rejected, status = _apply_on_error(df, spec, failures, lines, texts)
    report = _report(
        df,
        spec,
        file,
        failures,
        kept,
        rejected,
        status,
        sha256 if sha256 is not None else _maybe_sha(table_path),
    )
    return ValidationOutcome(kept, rejected, report, failures)


def _maybe_sha(path: str | Path) -> str | None:
    return file_sha256(path) if Path(path).is_file() else None


def _apply_on_error(
    df: pd.DataFrame,
    spec: dict,
    failures: list[Failure],
    lines: np.ndarray | None,
    texts: pd.DataFrame | None,
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    empty = df.iloc[0:0]
    if not failures:
        return _finalize(df, spec), _rejected_frame(empty, [], None), "passed"
    row_level = all(f.row is not None for f in failures)
    if spec.get("on_error") != "quarantine" or not row_level:
        return empty, _rejected_frame(empty, [], None), "failed"
    bad = np.zeros(len(df), dtype=bool)
    bad[[f.row for f in failures]] = True
    kept = df.loc[~bad].reset_index(drop=True)
    status = "quarantined" if len(kept) else "failed"
    source = texts if texts is not None else df  # rejected rows as written, when known
    return _finalize(kept, spec), _rejected_frame(source.loc[bad], failures, lines), status


def _final_dtype(col: dict, series: pd.Series) -> Any:
    if col["type"] == "category":
        return pd.CategoricalDtype(col["categories"], ordered=bool(col.get("ordered")))
    want = pandas_dtype(col)
    return want if str(series.dtype) != want and not series.hasnans else series.dtype  # cheap:
    # only relaxed int/bool columns differ from `want`, and only they pay for `hasnans`


def _finalize(df: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """Checked frame in its final dtypes: categories become (ordered) categoricals, and
    int/bool columns relaxed to Int64/boolean for parse failures go back to int64/bool."""
    changes = {
        c["name"]: _final_dtype(c, df[c["name"]])
        for c in spec["columns"]
        if c["name"] in df.columns
    }
    changes = {k: v for k, v in changes.items() if v != df[k].dtype}
    if not changes:
        return df
    df = df.copy(deep=False)
    for name, dtype in changes.items():
        df[name] = df[name].astype(dtype)
    return df


def _rejected_frame(
    rows: pd.DataFrame, failures: list[Failure], lines: np.ndarray | None
) -> pd.DataFrame:
    reasons: dict[int, list[str]] = {}
    for f in failures:
        reasons.setdefault(f.row, []).append(f"{f.column}: {f.check} ({_show(f.value)})")
    positions = rows.index.to_numpy()
    out = rows.reset_index(drop=True).copy()
    out.insert(0, "line", [_line_of(int(p), lines) for p in positions])
    out["reasons"] = pd.Series(["; ".join(reasons.get(int(p), [])) for p in positions], dtype="str")
    return out


# ---------------------------------------------------------------------------------------------
# report


def _check_counts(spec: dict, failures: list[Failure], n_rows: int) -> list[dict[str, Any]]:
    types = {c["name"]: c["type"] for c in spec["columns"]}
    failed_rows: dict[tuple[str, str], set] = {}
    for f in failures:
        check = f.check
        if check.startswith(("not a ", "not an ", "type: ")) and f.column in types:
            check = f"type: {types[f.column]}"  # parse failures count against the type check
        failed_rows.setdefault((f.column, check), set()).add(f.row)
    items: list[tuple[str, str]] = [("(table)", "columns as in spec")]
    labels = _check_labels(spec)
    key = spec.get("key") or []
    for col in spec["columns"]:
        name = col["name"]
        items.append((name, f"type: {col['type']}"))
        if not col["checks"]["nullable"] or name in key:
            items.append((name, "nullable"))
        items += [(name, label) for label in dict.fromkeys(labels[name])]
        if col["checks"]["unique"]:
            items.append((name, "unique"))
    out = []
    for column, check in items:
        failed = len(failed_rows.get((column, check), ()))
        out.append({"column": column, "check": check, "passed": n_rows - failed, "failed": failed})
    if key:
        failed = len({f.row for f in failures if f.check == "key"})
        out.append(
            {"column": ", ".join(key), "check": "key", "passed": n_rows - failed, "failed": failed}
        )
    known = {(o["column"], o["check"]) for o in out}
    for (column, check), rows in failed_rows.items():  # structural failures, e.g. extra columns
        if (column, check) not in known and check != "key":
            out.append({"column": column, "check": check, "passed": 0, "failed": len(rows)})
    return out


def _number(x: Any) -> float | int | None:
    if x is None or pd.isna(x):
        return None
    x = x.item() if hasattr(x, "item") else x
    return x if not isinstance(x, float) or math.isfinite(x) else str(x)


def _min_max_sum(values: np.ndarray, block: int = 1 << 16) -> tuple[float, float, float]:
    """min, max, sum in one pass over memory: block-wise, each block reduced while in cache."""
    lo, hi, sums = np.inf, -np.inf, []
    with np.errstate(over="ignore", invalid="ignore"):  # inf/NaN cells are reported, not warned
        for start in range(0, len(values), block):
            part = values[start : start + block]
            lo, hi = min(lo, part.min()), max(hi, part.max())
            sums.append(part.sum())
        return lo, hi, float(np.sum(sums))


def _finite_mean(values: np.ndarray, lo: float, hi: float, total: float) -> float:
    """Mean of finite values; rescaled when their sum overflows (values near 1e308)."""
    if math.isfinite(total):
        return total / len(values)
    peak = max(abs(float(lo)), abs(float(hi)))
    return float(np.mean(values / peak) * peak)


def _numeric_profile(series: pd.Series) -> dict[str, Any]:
    """nulls, min, max, mean over finite values; one pass when every value is finite."""
    values = series.to_numpy(dtype="float64", na_value=np.nan)  # no copy for float64
    lo, hi, total = _min_max_sum(values) if len(values) else (np.nan, np.nan, 0.0)
    if np.isfinite(lo) and np.isfinite(hi):  # a NaN or inf would have reached min or max
        out = {"nulls": 0, "non_finite": 0}
        mean = _finite_mean(values, lo, hi, total)
    else:
        nan, finite = np.isnan(values), np.isfinite(values)
        out = {"nulls": int(nan.sum()), "non_finite": int(len(values) - nan.sum() - finite.sum())}
        if not finite.any():
            return out
        values = values[finite]
        lo, hi = values.min(), values.max()
        with np.errstate(over="ignore"):
            total = float(values.sum())
        mean = _finite_mean(values, lo, hi, total)
    if pd.api.types.is_integer_dtype(series.dtype):
        lo, hi = int(lo), int(hi)
    return {**out, "min": _number(lo), "max": _number(hi), "mean": float(mean)}


def profile_column(series: pd.Series, ctype: str) -> dict[str, Any]:
    """type, dtype, nulls, and min/max/mean (numeric) or up to 20 distinct values with counts."""
    out: dict[str, Any] = {"type": ctype, "dtype": str(series.dtype)}
    if ctype in ("int", "float") and pd.api.types.is_numeric_dtype(series.dtype):
        return {**out, **_numeric_profile(series)}
    out["nulls"] = int(series.isna().sum())
    counts = series.value_counts(dropna=True, sort=True)
    out["distinct"] = len(counts)
    out["values"] = {str(k): int(v) for k, v in counts.head(_MAX_DISTINCT).items()}
    return out


def failure_report(
    spec: dict, file: str | Path, failures: list[Failure], sha256: str | None = None
) -> dict[str, Any]:
    """The validation.json of a table that could not even be read (no rows, no profile)."""
    return {
        "dataset": spec.get("name"),
        "spec": spec.get("spec_path"),
        "file": str(file),
        "sha256": sha256,
        "on_error": spec.get("on_error", "fail"),
        "status": "failed",
        "rows": {"read": 0, "kept": 0, "rejected": 0, "with_failures": 0},
        "checks": [],
        "columns": {},
        "failures_total": len(failures),
        "failures": [f.as_dict() for f in failures[:_MAX_REPORTED_FAILURES]],
    }


def _report(
    df: pd.DataFrame,
    spec: dict,
    file: str,
    failures: list[Failure],
    kept: pd.DataFrame,
    rejected: pd.DataFrame,
    status: str,
    sha256: str | None,
) -> dict[str, Any]:
    n = len(df)
    types = {c["name"]: c["type"] for c in spec["columns"]}
    profile = {name: profile_column(df[name], types.get(name, "?")) for name in df.columns}
    n_kept = len(kept) if status != "failed" else 0
    return {
        "dataset": spec.get("name"),
        "spec": spec.get("spec_path"),
        "file": file,
        "sha256": sha256,
        "on_error": spec.get("on_error", "fail"),
        "status": status,
        "rows": {
            "read": n,
            "kept": n_kept,
            "rejected": n - n_kept,
            "with_failures": len({f.row for f in failures if f.row is not None}),
        },
        "checks": _check_counts(spec, failures, n),
        "columns": profile,
        "failures_total": len(failures),
        "failures": [f.as_dict() for f in failures[:_MAX_REPORTED_FAILURES]],
    }
