"""Spec loading, spec errors (file + key), table discovery, and spec inference."""

from __future__ import annotations

import pytest
import yaml

from descent.ingest import run_ingest_validate
from descent.spec import (
    SpecError,
    dataset_json_schema,
    dump_spec_yaml,
    find_table,
    infer_spec,
    load_spec,
    validate_dataset_name,
)

BASE = {
    "title": "t",
    "source": "tests",
    "columns": [
        {"name": "k", "type": "str"},
        {"name": "x", "type": "float", "checks": {"ge": 0}},
        {"name": "level", "type": "category", "categories": ["low", "high"], "ordered": True},
        {"name": "y", "type": "int"},
    ],
    "key": ["k"],
    "model": {"target": "y", "features": ["x", "level"]},
}


def spec_file(tmp_path, doc=None, name="t", **changes):
    doc = {**BASE, **(doc or {}), **changes}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def spec_error(path) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(path) in str(info.value)
    return info.value


def test_load_fills_defaults(tmp_path):
    spec = load_spec(spec_file(tmp_path))
    assert spec["name"] == "t" and spec["on_error"] == "fail" and spec["file"] is None
    assert spec["model"] == {"target": "y", "features": ["x", "level"], "degree": 1,
                             "intercept": True}
    assert spec["columns"][0]["checks"] == {"nullable": False, "unique": False}
    assert spec["columns"][2]["ordered"] is True


def test_model_none_needs_why(tmp_path):
    assert load_spec(spec_file(tmp_path, model="none", why="no predictor"))["model"] is None
    assert spec_error(spec_file(tmp_path, model="none")).key == "why"
    assert spec_error(spec_file(tmp_path, why="but there is a model")).key == "why"


@pytest.mark.parametrize("name", ["T", "my table", "_x", "-x", "x.y", "é"])
def test_invalid_dataset_names(tmp_path, name):
    with pytest.raises(SpecError, match=r"invalid dataset name .*\[a-z0-9\]\[a-z0-9_-\]\*"):
        validate_dataset_name(name)
    err = spec_error(spec_file(tmp_path, name=name))
    assert err.key == "name"


@pytest.mark.parametrize("name", ["a", "table1", "social_media", "x-2", "9"])
def test_valid_dataset_names(name):
    assert validate_dataset_name(name) == name


def _with_column(i, **col):
    columns = [dict(c) for c in BASE["columns"]]
    columns[i] = {**columns[i], **col}
    return columns


@pytest.mark.parametrize(("changes", "key", "message"), [
    ({"columns": _with_column(1, type="double")}, "columns[1].type", "'double' is not one of"),
    ({"columns": _with_column(1, checks={"gte": 0})}, "columns[1].checks",
     "'gte' was unexpected"),
    ({"columns": _with_column(2, categories=None)}, "columns[2].categories", "is not of type"),
    ({"colums": []}, "(top level)", "'colums' was unexpected"),
    ({"model": {"target": "y"}}, "model", "'features' is a required property"),
    ({"model": {"target": "y", "features": ["x"], "degree": 0}}, "model.degree",
     "less than the minimum of 1"),
])
def test_json_schema_errors(tmp_path, changes, key, message):
    err = spec_error(spec_file(tmp_path, **changes))
    assert err.key == key
    assert message in str(err)


def test_category_without_categories(tmp_path):
    columns = [dict(c) for c in BASE["columns"]]
    columns[2] = {"name": "level", "type": "category"}
    err = spec_error(spec_file(tmp_path, columns=columns))
    assert err.key == "columns[2].categories" and "has type category but no categories" in str(err)


@pytest.mark.parametrize(("changes", "key", "message"), [
    ({"model": {"target": "missing", "features": ["x"]}}, "model.target",
     "target 'missing' is not a column"),
    ({"model": {"target": "y", "features": ["x", "nope"]}}, "model.features[1]",
     "feature 'nope' is not a column"),
    ({"model": {"target": "y", "features": ["k"]}}, "model.features[0]", "is a str column"),
    ({"model": {"target": "k", "features": ["x"]}}, "model.target", "must be int, float or bool"),
    ({"model": {"target": "y", "features": ["y"]}}, "model.features[0]", "is the target"),
    ({"key": ["nope"]}, "key[0]", "key column 'nope' is not in columns"),
    ({"columns": _with_column(0, checks={"ge": 1})}, "columns[0].checks.ge",
     "needs an int or float column"),
    ({"columns": _with_column(1, checks={"ge": 5, "le": 1})}, "columns[1].checks",
     "empty range"),
    ({"columns": _with_column(0, checks={"str_matches": "("})}, "columns[0].checks.str_matches",
     "bad regular expression"),
    ({"columns": _with_column(3, checks={"isin": [1, "two"]})}, "columns[3].checks.isin[1]",
     "'two' is not a int"),
    ({"columns": _with_column(1, categories=["a"])}, "columns[1].categories",
     "only for type category"),
    ({"columns": _with_column(0, checks={"nullable": True})}, "key[0]", "cannot be nullable"),
    ({"columns": [*BASE["columns"], {"name": "k", "type": "str"}]}, "columns[4].name",
     "listed twice"),
])
def test_semantic_errors(tmp_path, changes, key, message):
    err = spec_error(spec_file(tmp_path, **changes))
    assert err.key == key
    assert message in str(err)


def test_yaml_errors(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("title: a\ntitle: b\n", encoding="utf-8")
    assert "duplicate key 'title'" in str(spec_error(path))
    path.write_text("title: [unclosed\n", encoding="utf-8")
    assert spec_error(path).key == "(yaml)"
    path.write_text("- a list\n", encoding="utf-8")
    assert spec_error(path).key == "(top level)"


def test_schema_describes_every_key():
    def walk(node, where):
        for name, sub in (node.get("properties") or {}).items():
            assert sub.get("description"), f"{where}.{name} has no description"
            walk(sub, f"{where}.{name}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{where}[]")
        for i, alt in enumerate(node.get("oneOf") or []):
            walk(alt, f"{where}|{i}")

    walk(dataset_json_schema(), "spec")


def test_find_table(tmp_path):
    path = spec_file(tmp_path)
    spec = load_spec(path)
    with pytest.raises(SpecError, match=r"file: no table t\.\{md,csv,tsv,parquet\}"):
        find_table(path, spec)
    (tmp_path / "t.csv").write_text("k\n", encoding="utf-8")
    assert find_table(path, spec) == tmp_path / "t.csv"
    (tmp_path / "t.md").write_text("| k |\n", encoding="utf-8")
    with pytest.raises(SpecError, match="several tables"):
        find_table(path, spec)
    assert find_table(path, {**spec, "file": "t.md"}) == tmp_path / "t.md"
    with pytest.raises(SpecError, match=r"file: table .* not found"):
        find_table(path, {**spec, "file": "other.csv"})


def test_infer_spec_on_csv(tmp_path):
    table = tmp_path / "houses.csv"
    table.write_text("City,Rooms,Price,Delta,Note\nOslo,3,\"1,200.5\",-1,x\nRome,2,950,2,\n"
                     "NA,4,1500,0.5,y\n", encoding="utf-8")
    spec = infer_spec(table)
    assert spec["columns"] == [
        {"name": "City", "type": "str"},
        {"name": "Rooms", "type": "int", "checks": {"ge": 0}},
        {"name": "Price", "type": "float", "checks": {"ge": 0}},
        {"name": "Delta", "type": "float"},
        {"name": "Note", "type": "str", "checks": {"nullable": True}},
    ]
    assert spec["key"] == ["City"]
    assert spec["model"] == {"target": "Delta", "features": ["Rooms"], "degree": 1}
    text = dump_spec_yaml(spec, tmp_path / "houses.yaml")
    assert "  - {name: City, type: str}\n" in text
    loaded = load_spec(tmp_path / "houses.yaml")  # the inferred spec is valid as written
    assert loaded["model"]["target"] == "Delta"
    outcome = run_ingest_validate(tmp_path / "houses.yaml", tmp_path / "o.parquet",
                                  tmp_path / "o.json")
    assert outcome.report["rows"]["kept"] == 3


def test_infer_spec_without_model(tmp_path):
    table = tmp_path / "words.md"
    table.write_text("| word | n |\n| a | 1 |\n| a | 2 |\n", encoding="utf-8")
    spec = infer_spec(table)
    assert spec["model"] == "none" and "1 numeric column" in spec["why"]
    assert "key" not in spec  # 'word' is not unique
    dump_spec_yaml(spec, tmp_path / "words.yaml")
    assert load_spec(tmp_path / "words.yaml")["model"] is None
