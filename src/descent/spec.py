"""Dataset specs: load, check and infer `data/<name>.yaml`.

A spec is checked twice: against the JSON schema `schemas/dataset.schema.yaml` (shape, types,
unknown keys) and then semantically (columns exist, checks fit the column type, the model names
real columns). Every problem is a `SpecError` naming the spec file and the key.
"""

from __future__ import annotations

import math
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import best_match

__all__ = [
    "NUMERIC_TYPES",
    "TABLE_SUFFIXES",
    "SpecError",
    "dump_spec_yaml",
    "find_table",
    "infer_spec",
    "load_spec",
    "validate_dataset_name",
]

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")
TABLE_SUFFIXES = (".md", ".csv", ".tsv", ".parquet")
NUMERIC_TYPES = frozenset({"int", "float"})
_BOUNDS = ("ge", "le", "gt", "lt")


class SpecError(ValueError):
    """A dataset spec that cannot be used, with the spec file and the offending key."""

    def __init__(self, file: str | Path, key: str, message: str) -> None:
        self.file = str(file)
        self.key = key
        self.message = message
        super().__init__(f"{self.file}: {key}: {message}")


def validate_dataset_name(name: str, file: str | Path | None = None) -> str:
    """Return `name` if it is a valid dataset name (`[a-z0-9][a-z0-9_-]*`), else raise SpecError."""
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise SpecError(
            file if file is not None else name,
            "name",
            f"invalid dataset name {name!r}: the file stem must match [a-z0-9][a-z0-9_-]* "
            "(lower-case letters, digits, '_' and '-', starting with a letter or digit)",
        )
    return name


# ---------------------------------------------------------------------------------------------
# loading


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen[key] = 1
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@cache
def dataset_json_schema() -> dict:
    """The JSON schema of a dataset spec (`descent/schemas/dataset.schema.yaml`)."""
    text = resources.files("descent").joinpath("schemas/dataset.schema.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def _key_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _check_json_schema(doc: Any, path: Path) -> None:
    validator = jsonschema.Draft202012Validator(dataset_json_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return
    first = best_match([errors[0]])
    key = _key_path(first.absolute_path)
    messages = [first.message]  # the first key is already in the error's prefix
    for err in errors[1:]:
        err = best_match([err])
        messages.append(f"{_key_path(err.absolute_path)}: {err.message}")
    raise SpecError(path, key, "; ".join(messages))


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """``not valid YAML at line L, column C: what`` on one line (PyYAML's message spans several
    lines and names the file ``<unicode string>``)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
    what = ", ".join(str(p) for p in parts if p) or " ".join(str(exc).split())
    return f"not valid YAML{where}: {what}"


def load_spec(path: str | Path) -> dict:
    """Read, validate and normalise a dataset spec; defaults filled, `model: none` -> None.

    The result has the spec's keys plus `name` (the file stem) and `spec_path`.
    Raises SpecError naming the file and key for any problem.
    """
    path = Path(path)
    name = validate_dataset_name(path.stem, path)
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except FileNotFoundError as exc:
        raise SpecError(path, "(file)", "spec file not found") from exc
    except UnicodeDecodeError as exc:
        raise SpecError(path, "(file)", f"not UTF-8 (byte offset {exc.start})") from exc
    except yaml.YAMLError as exc:
        raise SpecError(path, "(yaml)", _yaml_problem(exc)) from exc
    if not isinstance(doc, dict):
        raise SpecError(path, "(top level)", "a spec must be a YAML mapping")
    _check_json_schema(doc, path)
    spec = _fill_defaults(doc)
    check_spec_semantics(spec, path)
    spec["name"] = name
    spec["spec_path"] = str(path)
    return spec


def _fill_defaults(doc: dict) -> dict:
    spec = dict(doc)
    spec.setdefault("file", None)
    spec.setdefault("key", [])
    spec.setdefault("on_error", "fail")
    spec.setdefault("why", None)
    columns = []
    for col in doc["columns"]:
        col = dict(col)
        checks = dict(col.get("checks") or {})
        checks.setdefault("nullable", False)
        checks.setdefault("unique", False)
        col["checks"] = checks
        if col["type"] == "category":
            col.setdefault("ordered", False)
        columns.append(col)
    spec["columns"] = columns
    model = doc["model"]
    if model == "none":
        spec["model"] = None
    else:
        spec["model"] = {"degree": 1, "intercept": True, **model}
    return spec


# ---------------------------------------------------------------------------------------------
# semantic checks


def check_spec_semantics(spec: dict, path: str | Path) -> None:
    """Cross-key checks the JSON schema cannot express; raises SpecError."""
    names = [c["name"] for c in spec["columns"]]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise SpecError(path, f"columns[{i}].name", f"column {name!r} is listed twice")
    for i, col in enumerate(spec["columns"]):
        _check_column(col, f"columns[{i}]", path)
    by_name = {c["name"]: c for c in spec["columns"]}
    for i, k in enumerate(spec["key"]):
        if k not in by_name:
            raise SpecError(path, f"key[{i}]", f"key column {k!r} is not in columns {names}")
        if by_name[k]["checks"]["nullable"]:
            raise SpecError(path, f"key[{i}]", f"key column {k!r} cannot be nullable")
    _check_model(spec, by_name, path)


def _check_column(col: dict, key: str, path: str | Path) -> None:
    ctype, checks = col["type"], col["checks"]
    if ctype == "category" and "categories" not in col:
        raise SpecError(
            path,
            f"{key}.categories",
            f"column {col['name']!r} has type category "
            "but no categories: list the allowed values (in order if ordered)",
        )
    for extra in ("categories", "ordered"):
        if ctype != "category" and extra in col:
            raise SpecError(
                path,
                f"{key}.{extra}",
                f"{extra} is only for type category (column {col['name']!r} is {ctype})",
            )
    for bound in _BOUNDS:
        if bound in checks and ctype not in NUMERIC_TYPES:
            raise SpecError(
                path,
                f"{key}.checks.{bound}",
                f"{bound} needs an int or float column ({col['name']!r} is {ctype})",
            )
    lower = [checks[b] for b in ("ge", "gt") if b in checks]
    upper = [checks[b] for b in ("le", "lt") if b in checks]
    if lower and upper and max(lower) > min(upper):
        raise SpecError(
            path,
            f"{key}.checks",
            f"empty range: lower bound {max(lower)} > "
            f"upper bound {min(upper)} for column {col['name']!r}",
        )
    if "str_matches" in checks:
        if ctype not in ("str", "category"):
            raise SpecError(
                path,
                f"{key}.checks.str_matches",
                f"str_matches needs a str or category column ({col['name']!r} is {ctype})",
            )
        try:
            re.compile(checks["str_matches"])
        except re.error as exc:
            raise SpecError(
                path, f"{key}.checks.str_matches", f"bad regular expression: {exc}"
            ) from exc
    if "isin" in checks:
        _check_isin(col, key, path)


def _value_fits(value: Any, ctype: str) -> bool:
    if ctype == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if ctype == "int":
        return isinstance(value, int)
    if ctype == "float":
        return isinstance(value, int | float) and math.isfinite(value)
    return isinstance(value, str)


def _check_isin(col: dict, key: str, path: str | Path) -> None:
    for j, value in enumerate(col["checks"]["isin"]):
        if not _value_fits(value, col["type"]):
            raise SpecError(
                path,
                f"{key}.checks.isin[{j}]",
                f"{value!r} is not a {col['type']} (column {col['name']!r})",
            )
        if col["type"] == "category" and value not in col["categories"]:
            raise SpecError(
                path,
                f"{key}.checks.isin[{j}]",
                f"{value!r} is not one of the categories of {col['name']!r}",
            )


def _check_model(spec: dict, by_name: dict, path: str | Path) -> None:
    model = spec["model"]
    if model is None:
        if not spec.get("why"):
            raise SpecError(
                path,
                "why",
                "model is none: say why in `why:` (e.g. no numeric column to predict from)",
            )
        return
    if spec.get("why"):
        raise SpecError(path, "why", "`why:` explains a missing model; this spec has a model")
    target = model["target"]
    if target not in by_name:
        raise SpecError(
            path,
            "model.target",
            f"target {target!r} is not a column of the table (columns: {list(by_name)})",
        )
    if by_name[target]["type"] not in NUMERIC_TYPES | {"bool"}:
        raise SpecError(
            path,
            "model.target",
            f"target {target!r} must be int, float or bool, not {by_name[target]['type']}",
        )
    for j, feat in enumerate(model["features"]):
        if feat not in by_name:
            raise SpecError(
                path,
                f"model.features[{j}]",
                f"feature {feat!r} is not a column of the table (columns: {list(by_name)})",
            )
        if feat == target:
            raise SpecError(
                path, f"model.features[{j}]", f"{feat!r} is the target; it cannot also be a feature"
            )
        if by_name[feat]["type"] == "str":
            raise SpecError(
                path,
                f"model.features[{j}]",
                f"feature {feat!r} is a str column; "
                "give it type category (with categories) to use it as a feature",
            )


# ---------------------------------------------------------------------------------------------
# locating the table


def find_table(spec_path: str | Path, spec: dict) -> Path:
    """The table of a spec: `file:` if given, else the one data/<name>.{md,csv,tsv,parquet}."""
    spec_path = Path(spec_path)
    folder = spec_path.parent
    if spec.get("file"):
        table = folder / spec["file"]
        if not table.is_file():
            raise SpecError(spec_path, "file", f"table {str(table)!r} not found")
        return table
    found = [folder / f"{spec_path.stem}{s}" for s in TABLE_SUFFIXES]
    found = [p for p in found if p.is_file()]
    if not found:
        raise SpecError(
            spec_path,
            "file",
            f"no table {spec_path.stem}.{{md,csv,tsv,parquet}} next to the spec in {str(folder)!r}",
        )
    if len(found) > 1:
        raise SpecError(
            spec_path,
            "file",
            f"several tables for one spec: {[p.name for p in found]}; choose one with `file:`",
        )
    return found[0]


# ---------------------------------------------------------------------------------------------
# inference


def infer_spec(path: str | Path) -> dict:
    """A starting spec for a new table: types by parsing, simple checks, a key, a model.

    Types: int if every non-empty cell parses as int, else float, else bool, else str.
    Checks: `ge: 0` on numeric columns with no negative value; `nullable` where a cell is empty.
    Key: the first str column whose values are all distinct and non-empty.
    Model: last numeric column ~ first numeric column, or none when fewer than two.
    """
    from descent.ingest import infer_column_type, read_table

    path = Path(path)
    name = validate_dataset_name(path.stem, path)
    raw = read_table(path, None)
    columns, key = [], []
    for col_name in raw.columns:
        ctype, values, empty = infer_column_type(raw.frame[col_name])
        checks: dict[str, Any] = {}
        if ctype in NUMERIC_TYPES and len(values) and (values >= 0).all():
            checks["ge"] = 0
        if empty:
            checks["nullable"] = True
        col: dict[str, Any] = {"name": col_name, "type": ctype}
        if checks:
            col["checks"] = checks
        columns.append(col)
        if ctype == "str" and not key and not empty and values.is_unique and len(values):
            key = [col_name]
    spec: dict[str, Any] = {
        "title": name.replace("_", " ").replace("-", " ").capitalize(),
        "source": path.name,
        "columns": columns,
    }
    if key:
        spec["key"] = key
    numeric = [c["name"] for c in columns if c["type"] in NUMERIC_TYPES]
    if len(numeric) >= 2:
        spec["model"] = {"target": numeric[-1], "features": [numeric[0]], "degree": 1}
    else:
        spec["model"] = "none"
        spec["why"] = f"{len(numeric)} numeric column(s): nothing to regress (inferred)"
    return spec


class _SpecDumper(yaml.SafeDumper):
    """Block style at the top, one flow-style mapping per column (as in DESIGN.md)."""


def dump_spec_yaml(spec: dict, path: str | Path | None = None) -> str:
    """YAML text of a spec (one line per column); also written to `path` when given."""
    top = {k: v for k, v in spec.items() if k not in ("name", "spec_path")}
    if top.get("model") is None and "model" in top:
        top["model"] = "none"
    parts = []
    for k, v in top.items():
        if k == "columns":
            lines = [
                "  - "
                + yaml.dump(
                    c,
                    Dumper=_SpecDumper,
                    default_flow_style=True,
                    sort_keys=False,
                    allow_unicode=True,
                    width=1_000_000,
                ).strip()
                for c in v
            ]
            parts.append("columns:\n" + "\n".join(lines) + "\n")
        elif k == "key":
            flow = yaml.safe_dump(v, default_flow_style=True, allow_unicode=True).strip()
            parts.append(f"key: {flow}\n")
        else:
            parts.append(
                yaml.dump(
                    {k: v}, Dumper=_SpecDumper, sort_keys=False, allow_unicode=True, width=100
                )
            )
    text = "".join(parts)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text
