"""What the workflow runs: datasets found in ``data/`` and the variants of the config.

Imported by ``workflow/rules/common.smk``. Mistakes that concern the whole workflow (a table
without a spec, a spec without a table, an invalid name, a bad config key) raise
:class:`WorkflowConfigError` with one line naming the file and the key. A spec that exists but
is broken inside is *not* such a mistake: its own ingest job fails with the full message, so
the other datasets still run under ``--keep-going``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TABLE_SUFFIXES = (".md", ".csv", ".tsv", ".parquet")
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")
NUMERIC_TYPES = {"int", "float"}


class WorkflowConfigError(ValueError):
    """A mistake that stops the whole workflow before any job runs."""


@dataclass
class Dataset:
    """One table and its spec, as far as planning jobs needs to know."""

    name: str
    spec: Path
    table: Path
    model: dict[str, Any] | None = None
    columns: list[dict[str, Any]] = field(default_factory=list)
    why: str = ""

    @property
    def fit(self) -> bool:
        """Whether the spec asks for a regression (``model: none`` or a broken spec do not)."""
        return isinstance(self.model, dict)

    def accepts(self, variant: dict[str, Any]) -> bool:
        """Whether a variant applies: its ``datasets`` list, and the peak family needs exactly
        one numeric feature."""
        if not self.fit or (variant.get("datasets") and self.name not in variant["datasets"]):
            return False
        if variant.get("family", "linear") != "peak":
            return True
        features = self.model.get("features", []) if self.model else []
        types = {c.get("name"): c.get("type") for c in self.columns if isinstance(c, dict)}
        return len(features) == 1 and types.get(features[0]) in NUMERIC_TYPES


def check_name(name: str, where: Path) -> None:
    """Dataset and variant names become file names: ``[a-z0-9][a-z0-9_-]*`` only."""
    if not NAME_PATTERN.fullmatch(name):
        raise WorkflowConfigError(
            f"{where}: invalid dataset name {name!r}: use lower-case letters, digits, '_' and '-'"
            " (starting with a letter or digit)"
        )


def read_spec_loosely(path: Path) -> dict[str, Any] | None:
    """The spec as YAML, or None when it does not parse (its ingest job reports why)."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return None
    return loaded if isinstance(loaded, dict) else None


def table_of(spec_path: Path, spec: dict[str, Any] | None) -> Path | None:
    """The table a spec describes: its ``file:`` key, else the one ``data/<name>.<ext>``."""
    if spec and spec.get("file"):
        candidate = (spec_path.parent / str(spec["file"])).resolve()
        if spec_path.parent.resolve() not in candidate.parents:
            raise WorkflowConfigError(
                f"{spec_path}: file: {spec['file']!r} is outside {spec_path.parent}"
            )
        return candidate if candidate.exists() else None
    found = [spec_path.with_suffix(s) for s in TABLE_SUFFIXES if spec_path.with_suffix(s).exists()]
    for table in found:  # a symbolic link must not lead a job outside the data folder
        if spec_path.parent.resolve() not in table.resolve().parents:
            raise WorkflowConfigError(f"{table}: links outside {spec_path.parent}")
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise WorkflowConfigError(
            f"{spec_path}: several tables match ({names}); set file: in the spec"
        )
    return found[0] if found else None


def discover_datasets(data_dir: Path, only: Iterable[str] | None = None) -> dict[str, Dataset]:
    """Every ``data/<name>.yaml`` with its table; orphans on either side are errors."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise WorkflowConfigError(f"{data_dir}: data folder not found")
    datasets: dict[str, Dataset] = {}
    claimed: set[Path] = set()
    for spec_path in sorted(data_dir.glob("*.yaml")):
        check_name(spec_path.stem, spec_path)
        spec = read_spec_loosely(spec_path)
        table = table_of(spec_path, spec)
        if table is None:
            raise WorkflowConfigError(
                f"{spec_path}: spec without a table (no {spec_path.stem}.md/.csv/.tsv/.parquet)"
            )
        claimed.add(table.resolve())
        model = spec.get("model") if spec else None
        columns = spec.get("columns", []) if spec else []
        why = str(spec.get("why", "")) if spec else "the spec does not parse (see its validate job)"
        datasets[spec_path.stem] = Dataset(spec_path.stem, spec_path, table, model, columns, why)
    for table in sorted(p for s in TABLE_SUFFIXES for p in data_dir.glob(f"*{s}")):
        if table.resolve() not in claimed:
            raise WorkflowConfigError(
                f"{table}: table without a spec (add {table.with_suffix('.yaml').name})"
            )
    if only is not None:
        missing = sorted(set(only) - set(datasets))
        if missing:
            raise WorkflowConfigError(
                f"config/config.yaml: datasets: no spec for {missing} in {data_dir}"
            )
        datasets = {name: datasets[name] for name in only}
    if not datasets:
        raise WorkflowConfigError(f"{data_dir}: no dataset specs (*.yaml) found")
    return datasets


def config_errors(config: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Every schema violation as ``key.path: message`` (jsonschema alone omits the path)."""
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    return [describe(innermost(e)) for e in errors]


def innermost(error: Any) -> Any:
    """For a ``oneOf``, the branch error that says what is wrong: the deepest one, preferring a
    violated bound or pattern over "not of type null" or "not 'auto'"."""
    while error.context:
        relevant = [e for e in error.context if e.validator not in ("const", "type", "enum")]
        pool = relevant or error.context
        error = max(pool, key=lambda e: (len(e.absolute_path), -len(e.message)))
    return error


def describe(error: Any) -> str:
    """``key.path: message``, with jsonschema's wording made plainer."""
    where = ".".join(map(str, error.absolute_path)) or "(top level)"
    message = error.message
    if error.validator == "additionalProperties":
        message = message.replace("were unexpected", "are not known keys").replace(
            "was unexpected", "is not a known key"
        )
    return f"{where}: {message}"


def effective_variants(config: dict[str, Any], schema_path: Path | None = None) -> dict[str, dict]:
    """Each variant with the config's ``defaults`` under it; errors name the key."""
    if schema_path is not None:
        schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
        problems = config_errors(config, schema)
        if problems:
            raise WorkflowConfigError(f"config/config.yaml: {problems[0]}")
    defaults = {k: v for k, v in (config.get("defaults") or {}).items() if k != "datasets"}
    variants = {}
    for name, settings in (config.get("variants") or {}).items():
        if not NAME_PATTERN.fullmatch(str(name)):
            raise WorkflowConfigError(f"config/config.yaml: variants.{name}: invalid variant name")
        variants[str(name)] = {**defaults, **(settings or {})}
    return variants


def check_variant_datasets(variants: dict[str, dict], datasets: dict[str, Dataset]) -> None:
    """A variant restricted to a dataset that does not exist is a typo, not an empty set."""
    for name, settings in variants.items():
        unknown = sorted(set(settings.get("datasets") or []) - set(datasets))
        if unknown:
            raise WorkflowConfigError(
                f"config/config.yaml: variants.{name}.datasets: no dataset {unknown[0]!r} "
                f"(known: {', '.join(sorted(datasets))})"
            )


def check_yaml_syntax(path: str | Path) -> None:
    """A config file that is not valid YAML, as one line with its line and column."""
    path = Path(path)
    if not path.exists():
        return
    try:
        yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise WorkflowConfigError(f"{path}: not UTF-8 ({error.reason})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise WorkflowConfigError(f"{path}: not valid YAML{where}: {problem}") from None


def descent_code_hash() -> str:
    """sha256 of the descent package's source files (what every job runs)."""
    import hashlib

    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.suffix in {".py", ".j2", ".yaml"} and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
