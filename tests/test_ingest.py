"""Readers and the malformed-input matrix: each case on a real file, asserted with its message."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from descent.ingest import (
    LINE_COLUMN,
    ValidationFailed,
    ingest,
    read_table,
    run_ingest_validate,
)
from descent.spec import SpecError, load_spec

SPEC = """\
title: test table
source: tests
columns:
  - {name: name, type: str}
  - {name: count, type: int, checks: {ge: 0}}
  - {name: value, type: float, checks: {ge: -10, le: 10}}
key: [name]
model: {target: value, features: [count]}
"""
HEADER = "| name | count | value |\n"


def write(tmp_path, table: str | bytes, *, suffix=".md", spec: str = SPEC):
    """Write t.yaml + t<suffix>; return (spec_path, table_path)."""
    spec_path = tmp_path / "t.yaml"
    spec_path.write_text(spec, encoding="utf-8")
    table_path = tmp_path / f"t{suffix}"
    if isinstance(table, str):
        table = table.encode("utf-8")
    table_path.write_bytes(table)
    return spec_path, table_path


def failures_of(tmp_path, table, **kw) -> list[tuple]:
    """(line, column, value, check) of every failure from the whole ingest+validate path."""
    spec_path, table_path = write(tmp_path, table, **kw)
    with pytest.raises(ValidationFailed) as info:
        run_ingest_validate(spec_path, tmp_path / "o.parquet", tmp_path / "o.json")
    assert all(f.file == str(table_path) for f in info.value.failures)
    assert str(table_path) in str(info.value)
    assert not (tmp_path / "o.parquet").exists()
    return [(f.line, f.column, f.value, f.check) for f in info.value.failures]


# --------------------------------------------------------------------------------- good input


def test_pipe_table_tolerances(tmp_path):
    table = (HEADER + "|---|--:|:-:|\n"
             "| NA | 1,061 | \u22125 |\n"          # NA is text; unicode minus
             "|b|2|\u20133.5|\n"                      # no padding; en dash as minus
             "  | c | 0 | 1e1 |  \n"                  # outer whitespace
             "| d | 3 | 2 | |\n"                      # one empty trailing cell dropped
             "\n"
             "| e \\| f | 4 | 0.5 |\n")               # escaped pipe inside a cell
    spec_path, table_path = write(tmp_path, table)
    df = ingest(table_path, load_spec(spec_path))
    assert df["name"].tolist() == ["NA", "b", "c", "d", "e | f"]
    assert df["count"].tolist() == [1061, 2, 0, 3, 4]
    assert df["count"].dtype == np.int64
    assert df["value"].tolist() == [-5.0, -3.5, 10.0, 2.0, 0.5]
    assert df[LINE_COLUMN].tolist() == [3, 4, 5, 6, 8]


def test_bom_and_crlf(tmp_path):
    table = "\ufeff" + (HEADER + "| a | 1 | 2.5 |\n| b | 2 | 3 |\n").replace("\n", "\r\n")
    spec_path, table_path = write(tmp_path, table)
    df = ingest(table_path, load_spec(spec_path))
    assert list(df.columns[:3]) == ["name", "count", "value"]
    assert df["name"].tolist() == ["a", "b"] and df["value"].tolist() == [2.5, 3.0]
    assert df[LINE_COLUMN].tolist() == [2, 3]


def test_csv_reader_keeps_na_and_quotes(tmp_path):
    table = 'name,count,value\nNA,"1,061",1.5\n"x, y",2,-1\n\n"",3,0\n'
    spec = SPEC.replace("{name: name, type: str}",
                        "{name: name, type: str, checks: {nullable: true}}"
                        ).replace("key: [name]\n", "")
    spec_path, table_path = write(tmp_path, table, suffix=".csv", spec=spec)
    raw = read_table(table_path)
    assert raw.frame["name"].tolist() == ["NA", "x, y", ""]
    assert raw.lines.tolist() == [2, 3, 5]
    df = ingest(table_path, load_spec(spec_path))
    assert df["name"].iloc[0] == "NA" and pd.isna(df["name"].iloc[2])
    assert df["count"].tolist() == [1061, 2, 3]
    assert df["count"].dtype == "Int64" or df["count"].dtype == np.int64


def test_tsv_reader(tmp_path):
    table = "name\tcount\tvalue\na\t1\t0.5\nb\t2\t\u22120.25\n"
    spec_path, table_path = write(tmp_path, table, suffix=".tsv")
    df = ingest(table_path, load_spec(spec_path))
    assert df["value"].tolist() == [0.5, -0.25]
    assert df[LINE_COLUMN].tolist() == [2, 3]


def test_parquet_reader_typed_and_lean(tmp_path):
    spec_path, table_path = write(tmp_path, b"", suffix=".parquet")
    table = pa.table({"name": ["a", "b"], "count": pa.array([1, 2], pa.int32()),
                      "value": [0.5, 1.5]})
    pq.write_table(table, table_path)
    raw = read_table(table_path)
    assert raw.format == "parquet" and raw.lines is None and raw.line_of(1) == 2
    df = ingest(table_path, load_spec(spec_path))
    assert LINE_COLUMN not in df.columns
    assert df["count"].dtype == np.int64 and df["value"].tolist() == [0.5, 1.5]


def test_parquet_text_numbers_are_parsed(tmp_path):
    spec_path, table_path = write(tmp_path, b"", suffix=".parquet")
    pq.write_table(pa.table({"name": ["a", "b"], "count": ["1,061", "x"], "value": [0.5, 1.5]}),
                   table_path)
    with pytest.raises(ValidationFailed) as info:
        ingest(table_path, load_spec(spec_path))
    assert [(f.line, f.column, f.value, f.check) for f in info.value.failures] == [
        (2, "count", "x", "not an int")]


# ------------------------------------------------------------------------ the malformed matrix


def test_non_numeric_cell(tmp_path):
    assert failures_of(tmp_path, HEADER + "| a | 1 | 2.5 |\n| b | 2 | abc |\n") == [
        (3, "value", "abc", "not a float")]


def test_ragged_row(tmp_path):
    assert failures_of(tmp_path, HEADER + "| a | 1 | 2.5 |\n| b | 2 |\n| c | 1 | 2 | 3 |\n") == [
        (3, "", "| b | 2 |", "ragged row: 2 cells, header (line 1) has 3"),
        (4, "", "| c | 1 | 2 | 3 |", "ragged row: 4 cells, header (line 1) has 3")]


def test_duplicate_key(tmp_path):
    assert failures_of(tmp_path, HEADER + "| a | 1 | 2 |\n| b | 1 | 2 |\n| a | 3 | 4 |\n") == [
        (2, "name", "a", "key"), (4, "name", "a", "key")]


def test_missing_column(tmp_path):
    spec_path, _ = write(tmp_path, "| name | count |\n| a | 1 |\n")
    with pytest.raises(SpecError) as info:
        run_ingest_validate(spec_path, tmp_path / "o.parquet", tmp_path / "o.json")
    assert info.value.key == "columns[2]"
    assert str(spec_path) in str(info.value)
    assert "['value']" in str(info.value) and "t.md (header, line 1)" in str(info.value)


def test_extra_column(tmp_path):
    spec_path, _ = write(tmp_path, "| name | count | value | extra |\n| a | 1 | 2 | x |\n")
    with pytest.raises(SpecError, match=r"columns: column\(s\) \['extra'\] of .*t\.md "
                                        r"\(header, line 1\) are not in the spec"):
        run_ingest_validate(spec_path, tmp_path / "o.parquet", tmp_path / "o.json")


def test_empty_file(tmp_path):
    assert failures_of(tmp_path, b"") == [(None, "", "", "empty file: no header row")]
    assert failures_of(tmp_path, b"\n  \n") == [(None, "", "", "empty file: no header row")]


def test_header_only(tmp_path):
    assert failures_of(tmp_path, HEADER + "|---|---|---|\n") == [
        (1, "", "", "no data rows (header only)")]


def test_non_utf8_bytes(tmp_path):
    table = (HEADER + "| a | 1 | 2 |\n").encode() + b"| caf\xe9 | 1 | 2 |\n"
    offset = table.index(b"\xe9")
    assert failures_of(tmp_path, table) == [
        (3, "", "b'\\xe9'", f"not UTF-8: byte 0xe9 at byte offset {offset} (line 3)")]


def test_utf16_file(tmp_path):
    table = (HEADER + "| a | 1 | 2 |\n").encode("utf-16")
    [(line, _, _, check)] = failures_of(tmp_path, table)
    assert line == 1 and check.startswith("not UTF-8: UTF-16 byte order mark")


def test_nan_and_inf(tmp_path):
    assert failures_of(tmp_path, HEADER + "| a | 1 | nan |\n| b | 2 | inf |\n| c | 3 | -Inf |\n"
                       ) == [(2, "value", "nan", "nullable"), (3, "value", "inf", "le: 10"),
                             (4, "value", "-Inf", "ge: -10")]


def test_inf_without_bounds_fails_finite(tmp_path):
    spec = SPEC.replace("checks: {ge: -10, le: 10}", "checks: {}")
    assert failures_of(tmp_path, HEADER + "| a | 1 | inf |\n", spec=spec) == [
        (2, "value", "inf", "finite")]


def test_nan_and_inf_in_parquet(tmp_path):
    spec_path, table_path = write(tmp_path, b"", suffix=".parquet")
    pq.write_table(pa.table({"name": ["a", "b", "c"], "count": [1, 2, 3],
                             "value": [math.nan, math.inf, 1.0]}), table_path)
    with pytest.raises(ValidationFailed) as info:
        run_ingest_validate(spec_path, tmp_path / "o.parquet", tmp_path / "o.json")
    assert [(f.line, f.column, f.value, f.check) for f in info.value.failures] == [
        (1, "value", "NaN", "nullable"), (2, "value", "inf", "le: 10")]


def test_out_of_range(tmp_path):
    assert failures_of(tmp_path, HEADER + "| a | -1 | 2 |\n| b | 1 | 10.5 |\n") == [
        (2, "count", "-1", "ge: 0"), (3, "value", "10.5", "le: 10")]


def test_mixed_thousands_separators(tmp_path):
    hint = "thousands separators must be ',' between groups of 3 digits"
    assert failures_of(tmp_path, HEADER + "| a | 1,06,1 | 1.061,5 |\n| b | 10,00 | 1,0 |\n") == [
        (2, "count", "1,06,1", f"not an int ({hint})"),
        (2, "value", "1.061,5", f"not a float ({hint})"),
        (3, "count", "10,00", f"not an int ({hint})"),
        (3, "value", "1,0", f"not a float ({hint})")]


def test_empty_cell_in_non_nullable_column(tmp_path):
    assert failures_of(tmp_path, HEADER + "| a |  | 2 |\n") == [(2, "count", "", "nullable")]


def test_int_column_rejects_decimals_and_overflow(tmp_path):
    assert failures_of(tmp_path, HEADER + "| a | 1.5 | 2 |\n| b | 99999999999999999999 | 2 |\n"
                       ) == [(2, "count", "1.5", "not an int"),
                             (3, "count", "99999999999999999999",
                              "not an int (outside the int64 range)")]


def test_one_bad_cell_does_not_hide_others(tmp_path):
    table = HEADER + "| a | x | 1 |\n| a | 1 | 11 |\n| b | -2 | 1 |\n"
    assert failures_of(tmp_path, table) == [
        (2, "count", "x", "not an int"), (2, "name", "a", "key"), (3, "name", "a", "key"),
        (3, "value", "11", "le: 10"), (4, "count", "-2", "ge: 0")]


def test_ingest_alone_reports_every_parse_failure(tmp_path):
    spec_path, table_path = write(tmp_path, HEADER + "| a | x | y |\n| b | 1 | z |\n")
    with pytest.raises(ValidationFailed) as info:
        ingest(table_path, load_spec(spec_path))
    assert [(f.line, f.column, f.check) for f in info.value.failures] == [
        (2, "count", "not an int"), (2, "value", "not a float"), (3, "value", "not a float")]
    text = str(info.value)
    assert "3 failure(s) in" in text and "file" in text and "check" in text


def test_non_table_line(tmp_path):
    assert failures_of(tmp_path, HEADER + "| a | 1 | 2 |\nsome prose\n") == [
        (3, "", "some prose", "not a pipe-table row (no '|')")]


def test_csv_syntax_error(tmp_path):
    [(line, _, _, check)] = failures_of(tmp_path, 'name,count,value\n"a,1,2\n', suffix=".csv")
    assert line == 2 and check.startswith("CSV syntax")


def test_duplicate_header(tmp_path):
    assert failures_of(tmp_path, "| name | name | value |\n| a | 1 | 2 |\n") == [
        (1, "name", "name", "duplicate column name in header")]


# ------------------------------------------------------------------------------- quarantine


def test_quarantine_accounting(tmp_path):
    spec = SPEC + "on_error: quarantine\n"
    table = HEADER + "| a | 1 | 2 |\n| b | x | 1 |\n| c | -1 | 1 |\n| d | 4 | 5 |\n| a | 5 | 6 |\n"
    spec_path, _ = write(tmp_path, table, spec=spec)
    outcome = run_ingest_validate(spec_path, tmp_path / "o.parquet", tmp_path / "o.json",
                                  tmp_path / "rejected.csv")
    rows = json.loads((tmp_path / "o.json").read_text())["rows"]
    assert rows == {"read": 5, "kept": 1, "rejected": 4, "with_failures": 4}
    assert rows["read"] == rows["kept"] + rows["rejected"]
    kept = pd.read_parquet(tmp_path / "o.parquet")
    assert kept["name"].tolist() == ["d"] and kept["count"].dtype == np.int64
    rejected = pd.read_csv(tmp_path / "rejected.csv", keep_default_na=False, dtype=str)
    assert rejected["line"].tolist() == ["2", "3", "4", "6"]
    assert rejected["count"].tolist() == ["1", "x", "-1", "5"]  # as written in the file
    assert rejected["reasons"].tolist() == [
        "name: key (a)", "count: not an int (x)", "count: ge: 0 (-1)", "name: key (a)"]
    assert outcome.report["status"] == "quarantined"
    counts = {(c["column"], c["check"]): (c["passed"], c["failed"])
              for c in outcome.report["checks"]}
    assert counts[("count", "type: int")] == (4, 1)
    assert counts[("count", "ge: 0")] == (4, 1)
    assert counts[("name", "key")] == (3, 2)


def test_quarantine_still_fails_on_structural_problems(tmp_path):
    spec = SPEC + "on_error: quarantine\n"
    assert failures_of(tmp_path, HEADER + "| a | 1 | 2 |\n| b |\n", spec=spec)[0][3].startswith(
        "ragged row")


def test_report_written_on_failure(tmp_path):
    spec_path, table_path = write(tmp_path, HEADER + "| a | -1 | 2 |\n")
    with pytest.raises(ValidationFailed):
        run_ingest_validate(spec_path, tmp_path / "o.parquet", tmp_path / "o.json")
    report = json.loads((tmp_path / "o.json").read_text())
    assert report["status"] == "failed"
    assert report["rows"] == {"read": 1, "kept": 0, "rejected": 1, "with_failures": 1}
    assert report["failures"] == [{"file": str(table_path), "line": 2, "column": "count",
                                   "value": "-1", "check": "ge: 0", "row": 0}]


def test_report_written_when_the_table_cannot_be_read(tmp_path):
    spec_path, _ = write(tmp_path, HEADER + "| a | 1 |\n")
    with pytest.raises(ValidationFailed):
        run_ingest_validate(spec_path, tmp_path / "o.parquet", tmp_path / "o.json")
    report = json.loads((tmp_path / "o.json").read_text())
    assert report["status"] == "failed" and len(report["sha256"]) == 64
    assert report["failures"][0]["check"] == "ragged row: 2 cells, header (line 1) has 3"
