"""Read a dataset's table (pipe table, CSV, TSV, parquet) into a typed DataFrame.

Tolerant of what published tables carry (thousands separators, edge pipes, padding, unicode
minus signs, BOM, CRLF), strict about what would change meaning: a cell that does not parse is
a reported failure (file, line, column, value, check), never a NaN. Text stays verbatim (`NA`
is a string, not a null). Every row keeps the line it came from, so every failure names it.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from descent.files import atomic_path, write_json
from descent.schema import (
    LINE_COLUMN,
    Failure,
    ValidationFailed,
    ValidationOutcome,
    build_schema,
    failure_report,
    file_sha256,
    format_failures,
    pandas_dtype,
    validate,
)
from descent.spec import SpecError, find_table, load_spec

__all__ = [
    "LINE_COLUMN",
    "Failure",
    "ParsedTable",
    "RawTable",
    "ValidationFailed",
    "ValidationOutcome",
    "build_schema",
    "format_failures",
    "infer_column_type",
    "ingest",
    "ingest_and_validate",
    "parse_table",
    "read_table",
    "run_ingest_validate",
    "validate",
]

_INT = r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)"
INT_RE = _INT
FLOAT_RE = rf"(?i:(?:{_INT}(?:\.\d*)?|[+-]?\.\d+)(?:e[+-]?\d+)?|[+-]?(?:inf|infinity|nan))"
_MINUS = re.compile("[\u2212\u2013]")  # unicode minus sign and en dash used as a minus
_SEPARATOR_CELL = re.compile(r":?-+:?")
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
_BOOL = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}
_THOUSANDS_HINT = "thousands separators must be ',' between groups of 3 digits"


@dataclass
class RawTable:
    """A table as read: `frame` of raw strings (text formats) or stored types (parquet).

    `lines[i]` is the 1-based file line of row i (None for parquet, where row i is row i+1);
    `header_line` is the line of the header (None for parquet).
    """

    path: Path
    format: str
    frame: pd.DataFrame
    lines: np.ndarray | None
    header_line: int | None

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    def line_of(self, row: int) -> int:
        """The 1-based line (text) or row number (parquet) of row position `row`."""
        return int(self.lines[row]) if self.lines is not None else row + 1


@dataclass
class ParsedTable:
    """Typed frame (no line column) plus every parse failure and the rows' lines."""

    frame: pd.DataFrame
    failures: list[Failure] = field(default_factory=list)
    lines: np.ndarray | None = None
    header_line: int | None = None


# ---------------------------------------------------------------------------------------------
# text decoding


def _decode(path: Path, data: bytes) -> str:
    """UTF-8 text without BOM; a clear failure for UTF-16, bad bytes or an empty file."""
    file = str(path)
    for bom, name in ((codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")):
        if data.startswith(bom):
            raise ValidationFailed(
                [
                    Failure(
                        file,
                        1,
                        "",
                        repr(bom),
                        f"not UTF-8: {name} byte order mark; save the file as UTF-8",
                    )
                ]
            )
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + skip
        line = data.count(b"\n", 0, offset) + 1
        bad = data[offset : offset + 1]
        raise ValidationFailed(
            [
                Failure(
                    file,
                    line,
                    "",
                    repr(bad),
                    f"not UTF-8: byte 0x{bad.hex()} at byte offset {offset} (line {line})",
                )
            ]
        ) from None
    if not text.strip():
        raise ValidationFailed([Failure(file, None, "", "", "empty file: no header row")])
    return text


def _text_lines(text: str) -> list[str]:
    """Lines split on LF only (CRLF tolerated), so line numbers match editors and `grep -n`."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


# ---------------------------------------------------------------------------------------------
# readers


def _split_pipe_row(line: str) -> list[str]:
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return [c.strip().replace("\\|", "|") for c in _UNESCAPED_PIPE.split(body)]


def _fit_row(cells: list[str], ncol: int) -> list[str] | None:
    """Cells padded to the header width by dropping one empty trailing cell; None if ragged."""
    if len(cells) == ncol + 1 and cells[-1] == "":
        cells = cells[:-1]
    return cells if len(cells) == ncol else None


def _check_header(path: Path, header: list[str], line: int) -> list[Failure]:
    out, seen = [], set()
    for i, name in enumerate(header):
        if name == "":
            out.append(Failure(str(path), line, f"#{i + 1}", "", "empty column name in header"))
        elif name in seen:
            out.append(Failure(str(path), line, name, name, "duplicate column name in header"))
        seen.add(name)
    return out


def _frame(
    path: Path,
    fmt: str,
    header: list[str],
    rows: list[list[str]],
    lines: list[int],
    header_line: int,
    failures: list[Failure],
) -> RawTable:
    failures = _check_header(path, header, header_line) + failures
    if failures:
        raise ValidationFailed(failures)
    frame = (
        pd.DataFrame(rows, columns=header, dtype="str")
        if rows
        else pd.DataFrame({h: pd.Series([], dtype="str") for h in header})
    )
    return RawTable(path, fmt, frame, np.asarray(lines, dtype=np.int64), header_line)


def read_pipe_table(path: Path) -> RawTable:
    """A Markdown pipe table: edge pipes and padding stripped, `|---|` rows skipped, no ragged."""
    file, header, header_line = str(path), None, 0
    rows, lines, failures = [], [], []
    for number, line in enumerate(_text_lines(_decode(path, path.read_bytes())), start=1):
        if not line.strip():
            continue
        if "|" not in line:
            failures.append(
                Failure(file, number, "", line.strip(), "not a pipe-table row (no '|')")
            )
            continue
        cells = _split_pipe_row(line)
        if all(_SEPARATOR_CELL.fullmatch(c) for c in cells if c) and any(cells):
            if header is None:
                failures.append(
                    Failure(file, number, "", line.strip(), "separator row before the header row")
                )
            continue
        if header is None:
            header, header_line = (cells[:-1] if cells[-1] == "" else cells), number
            continue
        fitted = _fit_row(cells, len(header))
        if fitted is None:
            failures.append(_ragged(file, number, line.strip(), cells, header, header_line))
            continue
        rows.append(fitted)
        lines.append(number)
    if header is None:
        raise ValidationFailed(failures or [Failure(file, None, "", "", "no header row")])
    return _frame(path, "md", header, rows, lines, header_line, failures)


def _ragged(
    file: str, line: int, text: str, cells: list[str], header: list[str], header_line: int
) -> Failure:
    """A row whose cell count differs from the header's."""
    return Failure(
        file,
        line,
        "",
        text,
        f"ragged row: {len(cells)} cells, header (line {header_line}) has {len(header)}",
    )


def read_delimited(path: Path, delimiter: str) -> RawTable:
    """CSV (`,`) or TSV (`\\t`) with RFC 4180 quoting; cells stripped, nothing read as NA."""
    file, fmt = str(path), "tsv" if delimiter == "\t" else "csv"
    text = _decode(path, path.read_bytes())
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header, header_line, rows, lines, failures = None, 0, [], [], []
    previous = 0
    try:
        for record in reader:
            number, previous = previous + 1, reader.line_num
            cells = [c.strip() for c in record]
            if not any(cells):
                continue
            if header is None:
                header, header_line = (cells[:-1] if cells[-1] == "" else cells), number
                continue
            fitted = _fit_row(cells, len(header))
            if fitted is None:
                failures.append(
                    _ragged(file, number, delimiter.join(record), cells, header, header_line)
                )
                continue
            rows.append(fitted)
            lines.append(number)
    except csv.Error as exc:
        failures.append(Failure(file, reader.line_num, "", "", f"{fmt.upper()} syntax: {exc}"))
    if header is None:
        raise ValidationFailed(failures or [Failure(file, None, "", "", "no header row")])
    return _frame(path, fmt, header, rows, lines, header_line, failures)


def read_parquet(path: Path) -> RawTable:
    """A parquet file via pyarrow, as stored, one column at a time.

    Column by column keeps the peak near the frame's size plus one column (a whole-table read
    holds Arrow and pandas copies of everything at once); no per-row work, no CSV.
    """
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
        meta = handle.schema_arrow.pandas_metadata or {}
        index = {c for c in meta.get("index_columns", []) if isinstance(c, str)}
        names = [n for n in handle.schema_arrow.names if n not in index]
        columns = {n: handle.read(columns=[n]).column(0).to_pandas() for n in names}
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise ValidationFailed(
            [Failure(str(path), None, "", "", f"not a parquet file: {exc}")]
        ) from exc
    frame = pd.DataFrame(columns, copy=False)
    return RawTable(path, "parquet", frame, None, None)


def read_table(path: str | Path, spec: dict | None = None) -> RawTable:
    """Read a table by suffix (.md, .csv, .tsv, .parquet) into raw strings plus line numbers.

    `spec` is accepted for symmetry with `ingest`; reading does not depend on it.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".md":
        return read_pipe_table(path)
    if suffix in (".csv", ".tsv"):
        return read_delimited(path, "\t" if suffix == ".tsv" else ",")
    if suffix == ".parquet":
        return read_parquet(path)
    raise ValidationFailed(
        [
            Failure(
                str(path),
                None,
                "",
                suffix,
                "unsupported table format (use .md, .csv, .tsv or .parquet)",
            )
        ]
    )


# ---------------------------------------------------------------------------------------------
# header vs spec


def check_columns(raw: RawTable, spec: dict) -> None:
    """The table's header must be exactly the spec's columns, in order; else SpecError."""
    spec_file = spec.get("spec_path") or f"spec of {raw.path.name}"
    where = f"{raw.path}" + (f" (header, line {raw.header_line})" if raw.header_line else "")
    have, want = raw.columns, [c["name"] for c in spec["columns"]]
    extra = [c for c in have if c not in want]
    if extra:
        raise SpecError(
            spec_file,
            "columns",
            f"column(s) {extra} of {where} are not in the spec; "
            "every column of the table must be listed under columns",
        )
    missing = [c for c in want if c not in have]
    if missing:
        idx = want.index(missing[0])
        raise SpecError(
            spec_file,
            f"columns[{idx}]",
            f"column(s) {missing} of the spec are not in {where}, which has {have}",
        )
    if have != want:
        raise SpecError(
            spec_file,
            "columns",
            f"columns are listed in a different order than in {where}: table {have}, spec {want}",
        )


# ---------------------------------------------------------------------------------------------
# parsing


def _cell_failures(
    raw: RawTable, column: str, mask: np.ndarray, values: pd.Series, check: str | list[str]
) -> list[Failure]:
    positions = np.flatnonzero(mask)
    checks = [check] * len(positions) if isinstance(check, str) else check
    return [
        Failure(str(raw.path), raw.line_of(int(p)), column, str(values.iloc[p]), c, int(p))
        for p, c in zip(positions, checks, strict=True)
    ]


def _parse_numeric(
    raw: RawTable, name: str, text: pd.Series, ctype: str, empty: np.ndarray
) -> tuple[pd.Series, list[Failure]]:
    cleaned = text.str.replace(_MINUS, "-", regex=True)
    ok = cleaned.str.fullmatch(FLOAT_RE if ctype == "float" else INT_RE).to_numpy(dtype=bool)
    bad = ~ok & ~empty
    word = "a float" if ctype == "float" else "an int"
    reasons = [f"not {word} ({_THOUSANDS_HINT})" if "," in v else f"not {word}" for v in text[bad]]
    failures = _cell_failures(raw, name, bad, text, reasons)
    digits = cleaned[ok].str.replace(",", "", regex=False).to_numpy(dtype=object)
    if ctype == "float":
        out = np.full(len(text), np.nan)
        out[ok] = digits.astype(np.float64)
        return pd.Series(out, index=text.index, name=name), failures
    values, overflow = _to_int64(digits, np.flatnonzero(ok), len(text))
    failures += _cell_failures(raw, name, overflow, text, "not an int (outside the int64 range)")
    out = pd.array(np.zeros(len(text), dtype=np.int64), dtype="Int64")
    out[ok] = values
    out[~ok | overflow] = pd.NA
    return pd.Series(out, index=text.index, name=name), failures


def _to_int64(digits: np.ndarray, positions: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer texts -> int64 (vectorised); cells outside the int64 range flagged, set to 0."""
    overflow = np.zeros(n, dtype=bool)
    try:
        return digits.astype(np.int64), overflow
    except OverflowError:
        values = np.zeros(len(digits), dtype=np.int64)
        for i, (pos, digit) in enumerate(zip(positions, digits, strict=True)):
            v = int(digit)
            if -(2**63) <= v < 2**63:
                values[i] = v
            else:
                overflow[pos] = True
        return values, overflow


def _parse_text_column(raw: RawTable, col: dict) -> tuple[pd.Series, list[Failure]]:
    name, ctype = col["name"], col["type"]
    text = raw.frame[name]
    empty = (text == "").to_numpy(dtype=bool)
    failures = []
    if not col["checks"]["nullable"]:
        failures = _cell_failures(raw, name, empty, text, "nullable")
    if ctype in ("int", "float"):
        series, more = _parse_numeric(raw, name, text, ctype, empty)
    elif ctype == "bool":
        lowered = text.str.lower()
        known = lowered.isin(list(_BOOL)).to_numpy(dtype=bool)
        more = _cell_failures(
            raw, name, ~known & ~empty, text, "not a bool (true/false, yes/no, 1/0)"
        )
        series = pd.Series(lowered.map(_BOOL), dtype="boolean", name=name)
    else:
        series, more = text.where(~empty, None).astype("str"), []
    failures += more
    return series.astype(pandas_dtype(col, relaxed=bool(failures))), failures


def _parse_stored_column(raw: RawTable, col: dict) -> tuple[pd.Series, list[Failure]]:
    """A parquet column: accept its stored type when it fits the spec (no copy), else fail."""
    name, ctype = col["name"], col["type"]
    s, api = raw.frame[name], pd.api.types
    if api.is_string_dtype(s.dtype) or isinstance(s.dtype, pd.CategoricalDtype):
        texts = s.astype("str").where(s.notna(), "")
        sub = RawTable(raw.path, raw.format, pd.DataFrame({name: texts}), None, None)
        return _parse_text_column(sub, col)
    if ctype == "float" and api.is_numeric_dtype(s.dtype) and not api.is_bool_dtype(s.dtype):
        return (s if s.dtype == np.float64 else s.astype("float64")), []
    if ctype == "int" and api.is_integer_dtype(s.dtype):
        want = pandas_dtype(col)
        missing = s.isna().to_numpy(dtype=bool)
        failures = (
            [] if col["checks"]["nullable"] else _cell_failures(raw, name, missing, s, "nullable")
        )
        return (s if s.dtype == want else s.astype("Int64" if missing.any() else want)), failures
    if ctype == "int" and api.is_float_dtype(s.dtype):
        values = s.to_numpy(dtype=np.float64)
        nulls = np.isnan(values)
        frac = ~nulls & ~(np.isfinite(values) & (np.floor(values) == values))
        failures = _cell_failures(raw, name, frac, s, "not an int")
        if not col["checks"]["nullable"]:
            failures += _cell_failures(raw, name, nulls, s, "nullable")
        out = pd.array(np.where(frac | nulls, 0, values).astype(np.int64), dtype="Int64")
        out[frac | nulls] = pd.NA
        relaxed = failures or col["checks"]["nullable"]
        return pd.Series(out, name=name).astype("Int64" if relaxed else "int64"), failures
    if ctype == "bool" and api.is_bool_dtype(s.dtype):
        return s.astype(pandas_dtype(col)), []
    return s, [
        Failure(str(raw.path), None, name, str(s.dtype), f"type: {ctype} (stored as {s.dtype})")
    ]


def parse_table(raw: RawTable, spec: dict) -> ParsedTable:
    """Typed columns per the spec; every unparseable cell is a Failure (never a silent NaN)."""
    check_columns(raw, spec)
    columns, failures = {}, []
    parse = _parse_stored_column if raw.format == "parquet" else _parse_text_column
    for col in spec["columns"]:
        series, col_failures = parse(raw, col)
        columns[col["name"]] = series
        failures += col_failures
    if raw.format == "parquet":
        frame = raw.frame
        for name, series in columns.items():
            if series is not frame[name]:
                frame[name] = series
    else:
        frame = pd.DataFrame(columns)
    if len(frame) == 0:
        failures.append(
            Failure(str(raw.path), raw.header_line, "", "", "no data rows (header only)")
        )
    failures.sort(key=lambda f: f.row if f.row is not None else -1)
    return ParsedTable(frame, failures, raw.lines, raw.header_line)


def ingest(table_path: str | Path, spec: dict) -> pd.DataFrame:
    """Read and type a table per its spec; ValidationFailed lists every parse failure.

    Text tables get a `__line__` column (file line of each row) that `validate` uses and drops;
    parquet rows are numbered by position.
    """
    raw = read_table(table_path, spec)
    parsed = parse_table(raw, spec)
    if parsed.failures:
        raise ValidationFailed(parsed.failures)
    frame = parsed.frame
    if parsed.lines is not None:
        frame.insert(len(frame.columns), LINE_COLUMN, parsed.lines)
    return frame


# ---------------------------------------------------------------------------------------------
# everything


def ingest_and_validate(
    spec_path: str | Path, table: str | Path | None = None, spec: dict | None = None
) -> ValidationOutcome:
    """Spec -> table -> parse -> validate, in memory; parse and schema failures in one report.

    ``table`` defaults to the spec's own table (any table with the spec's columns may be
    given); ``spec`` to the loaded ``spec_path``. The outcome is returned even when it failed
    (see `ValidationOutcome.ok`).
    """
    spec = load_spec(spec_path) if spec is None else spec
    table = find_table(spec_path, spec) if table is None else Path(table)
    with ThreadPoolExecutor(max_workers=1) as pool:  # hashing overlaps reading (GIL released)
        sha = pool.submit(file_sha256, table)
        raw = read_table(table, spec)
        parsed = parse_table(raw, spec)
        texts = raw.frame if raw.format != "parquet" else None
        del raw
        return validate(
            parsed.frame,
            spec,
            table,
            parse_failures=parsed.failures,
            lines=parsed.lines,
            header_line=parsed.header_line,
            sha256=sha.result(),
            texts=texts,
        )


def run_ingest_validate(
    spec_path: str | Path,
    out_parquet: str | Path,
    out_json: str | Path,
    out_rejected: str | Path | None = None,
) -> ValidationOutcome:
    """`ingest_and_validate`, then write validation.json (always), rejected.csv and the parquet.

    Raises ValidationFailed (after writing the report) unless every row passed or
    `on_error: quarantine` set the failing rows aside; the parquet is then not written.
    """
    try:
        outcome = ingest_and_validate(spec_path)
    except ValidationFailed as exc:  # unreadable table: still leave a report for review
        spec = load_spec(spec_path)
        table = find_table(spec_path, spec)
        write_json(out_json, failure_report(spec, table, exc.failures, file_sha256(table)))
        raise
    write_json(out_json, outcome.report)
    if out_rejected is not None:
        with atomic_path(out_rejected) as tmp:
            outcome.rejected.to_csv(tmp, index=False)
    outcome.raise_if_failed()
    _write_parquet(outcome.kept, out_parquet)
    return outcome


def _write_parquet(frame: pd.DataFrame, path: str | Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)


# ---------------------------------------------------------------------------------------------
# inference (used by spec.infer_spec)


def infer_column_type(text: pd.Series) -> tuple[str, pd.Series, bool]:
    """(type, parsed non-empty values, has empty cells) of a column of raw strings."""
    if not (pd.api.types.is_string_dtype(text.dtype) or text.dtype == object):
        kind = text.dtype.kind
        ctype = {"i": "int", "u": "int", "f": "float", "b": "bool"}.get(kind, "str")
        return ctype, text.dropna(), bool(text.isna().any())
    empty = (text == "") | text.isna()
    values = text[~empty].str.replace(_MINUS, "-", regex=True)
    for ctype, pattern in (("int", INT_RE), ("float", FLOAT_RE)):
        if len(values) and values.str.fullmatch(pattern).all():
            parsed = values.str.replace(",", "", regex=False).to_numpy(dtype=object)
            try:
                return ctype, pd.Series(parsed.astype(np.float64)), bool(empty.any())
            except (OverflowError, ValueError):
                continue
    if len(values) and values.str.lower().isin(list(_BOOL)).all():
        return "bool", values, bool(empty.any())
    return "str", text[~empty], bool(empty.any())
