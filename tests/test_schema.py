"""The pandera schema built from a spec, `validate` on frames, the report and failure table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
import yaml

from descent.schema import (
    LINE_COLUMN,
    Failure,
    ValidationFailed,
    build_schema,
    format_failures,
    profile_column,
    validate,
)
from descent.spec import load_spec

SPEC = {
    "title": "t",
    "source": "tests",
    "columns": [
        {"name": "id", "type": "str", "checks": {"str_matches": "^[a-z]+$"}},
        {"name": "n", "type": "int", "checks": {"ge": 0, "le": 100, "unique": True}},
        {"name": "x", "type": "float", "checks": {"nullable": True}},
        {"name": "grade", "type": "category", "categories": ["lo", "mid", "hi"], "ordered": True},
        {"name": "flag", "type": "bool"},
    ],
    "key": ["id"],
    "model": {"target": "x", "features": ["n", "grade"]},
}


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(SPEC, sort_keys=False), encoding="utf-8")
    return load_spec(path)


def frame(**overrides):
    data = {"id": ["a", "b", "c"], "n": [1, 2, 3], "x": [0.5, np.nan, 1.5],
            "grade": ["lo", "hi", "mid"], "flag": [True, False, True]}
    data.update(overrides)
    df = pd.DataFrame(data)
    df["id"] = df["id"].astype("str")
    df["grade"] = df["grade"].astype("str")
    return df


def test_schema_is_strict_ordered_and_built_in_only(spec):
    schema = build_schema(spec)
    assert isinstance(schema, pa.DataFrameSchema)
    assert schema.strict is True and schema.ordered is True and schema.unique == ["id"]
    assert schema.columns["n"].unique and not schema.columns["n"].nullable
    assert schema.columns["x"].nullable
    names = {c.name for col in schema.columns.values() for c in col.checks}
    assert names <= {"greater_than_or_equal_to", "less_than_or_equal_to", "greater_than",
                     "less_than", "isin", "str_matches"}
    assert "isin" in schema.to_yaml()  # serialisable: no lambdas


def test_valid_frame_passes_and_is_finalised(spec):
    outcome = validate(frame(), spec, "t.md")
    assert outcome.ok and outcome.failures == []
    assert outcome.report["status"] == "passed"
    assert outcome.report["rows"] == {"read": 3, "kept": 3, "rejected": 0, "with_failures": 0}
    grade = outcome.kept["grade"]
    assert grade.cat.ordered and list(grade.cat.categories) == ["lo", "mid", "hi"]
    assert outcome.report["sha256"] is None  # no such file here


def test_every_failure_in_one_pass_with_lines(spec):
    df = frame(id=["a", "B", "a"], n=[-1, 2, 2], x=[math.inf, 0.0, 1.0], grade=["lo", "top", "hi"])
    df[LINE_COLUMN] = [10, 11, 12]
    outcome = validate(df, spec, "t.md")
    assert not outcome.ok
    got = {(f.line, f.column, f.value, f.check) for f in outcome.failures}
    assert got == {
        (10, "n", "-1", "ge: 0"),
        (11, "id", "B", "str_matches: '^[a-z]+$'"),
        (11, "grade", "top", "categories"),
        (10, "x", "inf", "finite"),
        (11, "n", "2", "unique"), (12, "n", "2", "unique"),
        (10, "id", "a", "key"), (12, "id", "a", "key"),
    }
    counts = {(c["column"], c["check"]): (c["passed"], c["failed"])
              for c in outcome.report["checks"]}
    assert counts[("n", "ge: 0")] == (2, 1)
    assert counts[("n", "le: 100")] == (3, 0)
    assert counts[("n", "unique")] == (1, 2)
    assert counts[("id", "key")] == (1, 2)
    assert counts[("x", "finite")] == (2, 1)
    assert counts[("grade", "categories")] == (2, 1)
    with pytest.raises(ValidationFailed) as info:
        outcome.raise_if_failed()
    assert len(info.value.rows) == 8 and info.value.rows[0]["file"] == "t.md"


def test_structural_failures_from_pandera(spec):
    df = frame(n=[1.5, 2.0, 3.0])
    df["extra"] = 1
    outcome = validate(df, spec, "t.parquet")
    got = {(f.line, f.column, f.check) for f in outcome.failures}
    assert (None, "n", "type: int") in got
    assert (None, "extra", "column in table but not in spec") in got
    assert outcome.report["status"] == "failed"


def test_missing_column_from_pandera(spec):
    outcome = validate(frame().drop(columns=["flag"]), spec, "t.parquet")
    assert [(f.column, f.check) for f in outcome.failures] == [
        ("flag", "column in spec but not in table")]


def test_parquet_rows_are_numbered_from_one(spec):
    outcome = validate(frame(n=[1, 2, 300]), spec, "t.parquet")
    assert [(f.line, f.row, f.check) for f in outcome.failures] == [(3, 2, "le: 100")]


def test_quarantine_without_texts(spec):
    spec = {**spec, "on_error": "quarantine"}
    outcome = validate(frame(n=[1, -2, 3]), spec, "t.parquet")
    assert outcome.ok and outcome.report["status"] == "quarantined"
    assert outcome.kept["id"].tolist() == ["a", "c"]
    assert outcome.rejected["line"].tolist() == [2]
    assert outcome.rejected["reasons"].tolist() == ["n: ge: 0 (-2)"]
    assert outcome.report["rows"] == {"read": 3, "kept": 2, "rejected": 1, "with_failures": 1}


def test_report_profiles(spec):
    report = validate(frame(), spec, "t.md").report
    assert report["columns"]["n"] == {"type": "int", "dtype": "int64", "nulls": 0,
                                      "non_finite": 0, "min": 1, "max": 3, "mean": 2.0}
    assert report["columns"]["x"]["nulls"] == 1 and report["columns"]["x"]["mean"] == 1.0
    assert report["columns"]["grade"]["values"] == {"lo": 1, "hi": 1, "mid": 1}


def test_profile_caps_distinct_values():
    series = pd.Series([f"v{i}" for i in range(30)], dtype="str")
    prof = profile_column(series, "str")
    assert prof["distinct"] == 30 and len(prof["values"]) == 20


def test_profile_with_non_finite():
    prof = profile_column(pd.Series([1.0, np.nan, np.inf, 3.0]), "float")
    assert prof == {"type": "float", "dtype": "float64", "nulls": 1, "non_finite": 1,
                    "min": 1.0, "max": 3.0, "mean": 2.0}


def test_format_failures_table():
    rows = [Failure("data/a.md", 3, "Gold", "1,06,1", "not an int"),
            Failure("data/a.md", None, "extra", "", "column in table but not in spec")]
    text = format_failures(rows)
    lines = text.splitlines()
    assert lines[0].split(" | ") == ["file     ", "line", "column", "value ", "check"]
    assert lines[2].split(" | ")[:4] == ["data/a.md", "3   ", "Gold  ", "1,06,1"]
    assert "''" in lines[3]  # an empty value is shown, not blank
    assert format_failures(rows, limit=1).endswith("... and 1 more")
