"""Reliability (issue 5): bad inputs stay local and loud, numbers stay finite, text stays text,
outputs are atomic, and runs are reproducible.

Workflow tests run the real Snakemake workflow on temporary copies (``workflow_helpers``) with
one or two tiny datasets and one or two variants; library tests call ``descent`` directly.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import html
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import (
    SLEEP_SPEC,
    SLEEP_TABLE,
    add_dataset,
    make_project,
    snakemake,
    write_config,
)

import descent
from descent import fitting
from descent import objective as obj
from descent.features import Design, build_design
from descent.jobs import atomic_path, write_json, write_npz

workflow = pytest.mark.workflow

NEWTON = {"newton": {"optimizer": "newton", "learning_rate": 1.0, "max_iter": 50}}
TOO_LARGE = {"optimizer": "gd", "lr_factor": 3.0, "max_iter": 200}

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
RAW_TAGS = (SCRIPT, IMG, "<b>bold</b>", "<img", "<script")


# --------------------------------------------------------------------------------- helpers


def output_of(done: subprocess.CompletedProcess) -> str:
    return done.stdout + done.stderr


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("descent: error:")]


def table_rows(text: str) -> set[tuple[str, ...]]:
    """Rows of the failure tables printed on the terminal: (file, line, column, value, check)."""
    rows = set()
    for line in text.splitlines():
        cells = tuple(cell.strip() for cell in line.split("|"))
        if len(cells) == 5 and not set(line) <= set("-+| "):
            rows.add(cells)
    return rows


def has_row(rows: set[tuple[str, ...]], expected: tuple[str, ...]) -> bool:
    """``expected`` among the rows; the last cell may run into the next terminal output (a job's
    stderr is not written in one piece, so Snakemake's own lines can follow on the same line)."""
    return any(row[:4] == expected[:4] and row[4].startswith(expected[4]) for row in rows)


def md_cells(line: str) -> list[str]:
    """Cells of one Markdown table row (``\\|`` is an escaped pipe, not a separator)."""
    assert line.startswith("|") and line.endswith("|"), line
    return re.split(r"(?<!\\)\|", line)[1:-1]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


class TagCollector(HTMLParser):
    """Every start tag with its attributes, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def assert_no_injected_markup(page: str) -> TagCollector:
    """No raw tag from the data, no ``<script>`` at all, no event-handler attribute."""
    for raw in (SCRIPT, IMG, "<b>bold</b>"):
        assert raw not in page, raw
    parser = TagCollector()
    parser.feed(page)
    assert "script" not in {tag for tag, _ in parser.tags}
    handlers = [(t, a) for t, a in parser.tags for name in a if name.startswith("on")]
    assert handlers == []
    assert not [a for t, a in parser.tags if t == "img" and a.get("src") == "x"]
    return parser


def section(page: str, section_id: str) -> str:
    """The unescaped text of ``<section id=...>`` of the report."""
    start = page.index(f'id="{section_id}"')
    end = page.index("</section>", start)
    return html.unescape(re.sub(r"<[^>]+>", " ", page[start:end]))


# ============================================================ 1. isolation of bad datasets

NONFINITE_CSV = "x,y\n1,2.5\n2,inf\n3,NaN\n4,1e400\n5,7\n"
NONFINITE_SPEC = {
    "title": "Non-finite cells",
    "source": "test",
    "columns": [{"name": "x", "type": "float"}, {"name": "y", "type": "float"}],
    "model": {"target": "y", "features": ["x"]},
}
BROKEN_YAML = "title: broken\nsource: test\ncolumns: [\n  - {name: x\n"
HOSTILE_BAD_CSV = f'Item,n,Score <b>bold</b>\nfirst,1,1\nsecond,2,"{IMG}"\nthird,3,3\n'
HOSTILE_BAD_SPEC = {
    "title": f"Bad {SCRIPT} table",
    "source": f"{IMG}",
    "columns": [
        {"name": "Item", "type": "str"},
        {"name": "n", "type": "float"},
        {"name": "Score <b>bold</b>", "type": "float"},
    ],
    "model": {"target": "Score <b>bold</b>", "features": ["n"]},
}
#: dataset -> (fragments of its one terminal line, (file, line, column, value, check) or None)
BROKEN = {
    "badcell": (
        "1 failure(s) in data/badcell.md",
        ("data/badcell.md", "4", "Performance Index", "seventy", "not a float"),
    ),
    "range": (
        "1 failure(s) in data/range.md",
        ("data/range.md", "5", "Performance Index", "185", "le: 100"),
    ),
    "nonfinite": (
        "3 failure(s) in data/nonfinite.csv",
        ("data/nonfinite.csv", "3", "y", "inf", "finite"),
    ),
    "yamlerr": (
        "data/yamlerr.yaml: (yaml): not valid YAML at line 4, column 3: while parsing a flow node",
        None,
    ),
    "nocol": ("data/nocol.yaml: model.features[0]: feature 'Hours slept' is not a column", None),
    "hostile-bad": (
        "1 failure(s) in data/hostile-bad.csv",
        ("data/hostile-bad.csv", "3", "Score <b>bold</b>", IMG, "not a float"),
    ),
}


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One good dataset (sleep) beside six broken ones, built with ``--keep-going``."""
    project = make_project(
        tmp_path_factory.mktemp("broken"),
        {"sleep": ("sleep.md", SLEEP_TABLE, SLEEP_SPEC)},
        variants=NEWTON,
    )
    add_dataset(
        project,
        "badcell",
        "badcell.md",
        SLEEP_TABLE.replace("| 6 | 75 |", "| 6 | seventy |"),
        SLEEP_SPEC,
    )
    add_dataset(
        project, "range", "range.md", SLEEP_TABLE.replace("| 7 | 85 |", "| 7 | 185 |"), SLEEP_SPEC
    )
    add_dataset(project, "nonfinite", "nonfinite.csv", NONFINITE_CSV, NONFINITE_SPEC)
    add_dataset(project, "yamlerr", "yamlerr.md", SLEEP_TABLE, SLEEP_SPEC)
    (project / "data" / "yamlerr.yaml").write_text(BROKEN_YAML, encoding="utf-8")
    nocol = copy.deepcopy(SLEEP_SPEC)
    nocol["model"]["features"] = ["Hours slept"]
    add_dataset(project, "nocol", "nocol.md", SLEEP_TABLE, nocol)
    add_dataset(project, "hostile-bad", "hostile-bad.csv", HOSTILE_BAD_CSV, HOSTILE_BAD_SPEC)
    done = snakemake(project, "--keep-going", check=False)
    return project, done


@workflow
def test_each_broken_dataset_fails_its_own_job_with_one_clear_line(broken):
    _, done = broken
    text = output_of(done)
    assert done.returncode != 0
    assert "Traceback (most recent call last)" not in text
    rows = table_rows(text)
    for ds, (fragment, row) in BROKEN.items():
        lines = [line for line in error_lines(text) if line.startswith(f"descent: error: {ds}: ")]
        assert len(lines) == 1, (ds, error_lines(text))
        assert lines[0].startswith(f"descent: error: {ds}: validate: {fragment}"), lines[0]
        if row is not None:
            assert has_row(rows, row), (ds, sorted(rows))
    # every bad cell of a table is reported at once, not only the first
    assert has_row(rows, ("data/nonfinite.csv", "4", "y", "NaN", "nullable"))
    assert has_row(rows, ("data/nonfinite.csv", "5", "y", "1e400", "finite"))
    # the good dataset raised nothing
    assert not [line for line in error_lines(text) if "sleep" in line]


@workflow
def test_keep_going_builds_a_report_listing_the_failed_datasets(broken):
    project, _ = broken
    results = project / "results"
    newton = json.loads((results / "sleep" / "fits" / "newton.json").read_text())
    assert newton["status"] == "converged"
    assert (results / "sleep" / "cost_curves.png").stat().st_size > 0
    page = (results / "report.html").read_text(encoding="utf-8")
    failures = section(page, "failures")
    reasons = {
        "badcell": "seventy",
        "range": "le: 100",
        "nonfinite": "finite",
        "yamlerr": "not valid YAML",
        "nocol": "Hours slept",
        "hostile-bad": IMG,
    }
    for ds, reason in reasons.items():
        assert re.search(rf"\b{re.escape(ds)}\s+validate\b", failures), ds
        assert reason in failures, (ds, reason)
    assert "sleep" not in failures
    summary = {(r["dataset"], r["variant"]): r["status"] for r in read_csv(results / "summary.csv")}
    assert summary[("sleep", "newton")] == "converged"
    for ds in ("badcell", "range", "nonfinite", "nocol", "hostile-bad"):
        assert summary[(ds, "newton")] == "failed", ds
    markdown = (results / "report.md").read_text(encoding="utf-8").splitlines()
    failed_rows = [
        line for line in markdown if line.startswith(tuple(f"| {d} | validate" for d in reasons))
    ]
    assert len(failed_rows) == len(reasons)
    assert all(len(md_cells(line)) == 3 for line in failed_rows)


@workflow
def test_html_in_a_failure_message_is_escaped_in_the_partial_report(broken):
    project, _ = broken
    page = (project / "results" / "report.html").read_text(encoding="utf-8")
    assert_no_injected_markup(page)
    assert html.escape(IMG, quote=False) in page
    assert "Score &lt;b&gt;bold&lt;/b&gt;" in page  # the column name in the failure table


@workflow
def test_a_failed_job_keeps_its_log_and_no_output_a_rerun_would_trust(broken):
    project, _ = broken
    log = (project / "logs" / "badcell" / "validate.log").read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in log
    assert "ValidationFailed" in log and "seventy" in log
    marker = json.loads((project / "results" / "badcell" / "errors" / "validate.json").read_text())
    assert marker["stage"] == "validate" and "seventy" in marker["message"]
    for name in ("validated.parquet", "validation.json", "design.npz"):
        assert not (project / "results" / "badcell" / name).exists(), name


@workflow
def test_a_rerun_after_fixing_the_data_completes_and_clears_the_failure(broken, tmp_path):
    source, _ = broken
    project = tmp_path / "project"
    shutil.copytree(source, project, symlinks=True)
    (project / "data" / "badcell.md").write_text(SLEEP_TABLE, encoding="utf-8")
    for ds in ("range", "nonfinite", "yamlerr", "nocol", "hostile-bad"):
        for path in (project / "data").glob(f"{ds}.*"):
            path.unlink()
    snakemake(project)
    results = project / "results"
    assert list((results / "badcell").glob("errors/*")) == []
    assert json.loads((results / "badcell" / "fits" / "newton.json").read_text())["status"] == (
        "converged"
    )
    page = (results / "report.html").read_text(encoding="utf-8")
    assert 'id="failures"' not in page
    statuses = {r["status"] for r in read_csv(results / "summary.csv")}
    assert statuses == {"converged"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "title: a\nsource: b\ncolumns: [\n  - {name: x\n",
            "(yaml): not valid YAML at line 4, column 3",
        ),
        (
            "title: a\ntitle: b\n",
            "(yaml): not valid YAML at line 2, column 1: duplicate key 'title'",
        ),
        ("title: 'unterminated\n", "(yaml): not valid YAML at line 2, column 1"),
        (
            "columns: [{name: x, type: float}]\nmodel: none\nwhy: test\n",
            "(top level): 'title' is a required property; (top level): 'source' is a required",
        ),
    ],
    ids=["flow-node", "duplicate-key", "unterminated-quote", "two-missing-keys"],
)
def test_a_broken_spec_is_one_line_naming_the_file_and_the_key(tmp_path, text, expected):
    from descent.spec import SpecError, load_spec

    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: {expected}"), message
    assert "\n" not in message and "<unicode string>" not in message
    assert "(top level): (top level)" not in message


def _fails(value: str) -> None:
    raise ValueError(f"bad value {value}\nsecond line of detail")


def _works(value: str) -> None:
    pass


def test_run_stage_leaves_a_marker_and_a_log_then_a_success_clears_the_marker(tmp_path, capfd):
    from descent.jobs import run_stage

    log = tmp_path / "logs" / "ds" / "validate.log"
    with pytest.raises(SystemExit) as stopped:
        run_stage(
            _fails, log=str(log), dataset="ds", label="validate", results=tmp_path / "r", value="x"
        )
    assert stopped.value.code == 1
    err = capfd.readouterr().err
    assert err.startswith("descent: error: ds: validate: bad value x\n")
    assert "Traceback" not in err
    assert "Traceback (most recent call last)" in log.read_text()
    marker = tmp_path / "r" / "ds" / "errors" / "validate.json"
    assert json.loads(marker.read_text())["message"].startswith("bad value x")
    run_stage(
        _works, log=str(log), dataset="ds", label="validate", results=tmp_path / "r", value="x"
    )
    assert not marker.exists()


def test_a_success_removes_the_empty_errors_folder(tmp_path):
    from descent.jobs import run_stage

    log = str(tmp_path / "validate.log")
    with pytest.raises(SystemExit):
        run_stage(_fails, log=log, dataset="ds", label="validate", results=tmp_path, value="x")
    run_stage(_works, log=log, dataset="ds", label="validate", results=tmp_path, value="x")
    assert not (tmp_path / "ds" / "errors").exists()


def test_the_error_message_reaches_stderr_in_one_write(tmp_path, monkeypatch):
    from descent.jobs import run_stage

    writes: list[str] = []

    class Recorder(io.StringIO):
        def write(self, text):
            writes.append(text)
            return len(text)

    monkeypatch.setattr(sys, "stderr", Recorder())
    with pytest.raises(SystemExit):
        run_stage(
            _fails,
            log=str(tmp_path / "x.log"),
            dataset="ds",
            label="validate",
            results=tmp_path,
            value="x",
        )
    assert writes == ["descent: error: ds: validate: bad value x\nsecond line of detail\n"]


# --------------------------------------------------- workflow-level mistakes stop at once


def _orphan_table(p):
    (p / "data" / "orphan.csv").write_text("a,b\n1,2\n", encoding="utf-8")


def _orphan_spec(p):
    (p / "data" / "ghost.yaml").write_text(yaml.safe_dump(SLEEP_SPEC), encoding="utf-8")


def _spec_file(value):
    def mutate(p):
        spec = {**SLEEP_SPEC, "file": value}
        (p / "data" / "sleep.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")

    return mutate


def _variants(variants, **extra):
    return lambda p: write_config(p, variants, **extra)


def _raw_config(text):
    return lambda p: (p / "config" / "config.yaml").write_text(text, encoding="utf-8")


WORKFLOW_MISTAKES = [
    pytest.param(
        _orphan_table, ["data/orphan.csv", "table without a spec"], id="table-without-spec"
    ),
    pytest.param(
        _orphan_spec, ["data/ghost.yaml", "spec without a table"], id="spec-without-table"
    ),
    pytest.param(
        lambda p: add_dataset(p, "Bad Name", "Bad Name.md", SLEEP_TABLE, SLEEP_SPEC),
        ["data/Bad Name.yaml", "invalid dataset name 'Bad Name'"],
        id="invalid-dataset-name",
    ),
    pytest.param(
        lambda p: add_dataset(p, "..evil", "..evil.md", SLEEP_TABLE, SLEEP_SPEC),
        ["data/..evil.yaml", "invalid dataset name '..evil'"],
        id="dotdot-dataset",
    ),
    pytest.param(
        lambda p: (p / "data" / "sleep.csv").write_text("a,b\n1,2\n"),
        ["data/sleep.yaml", "several tables", "sleep.csv"],
        id="two-tables-one-spec",
    ),
    pytest.param(
        _variants(NEWTON, colour="red"), ["config/config.yaml", "'colour'"], id="unknown-config-key"
    ),
    pytest.param(
        _variants({"newton": {**NEWTON["newton"], "learnin_rate": 1}}),
        ["config/config.yaml", "variants.newton", "'learnin_rate'"],
        id="unknown-variant-key",
    ),
    pytest.param(
        _variants({"gd": {"optimizer": "gd", "learning_rate": -0.1}}),
        ["config/config.yaml", "variants.gd.learning_rate", "-0.1"],
        id="negative-learning-rate",
    ),
    pytest.param(
        _variants({"gd": {"optimizer": "gd", "lr_factor": -1}}),
        ["config/config.yaml", "variants.gd.lr_factor", "-1"],
        id="negative-lr-factor",
    ),
    pytest.param(
        _variants({"gd": {"optimizer": "sgdx"}}),
        ["config/config.yaml", "variants.gd.optimizer", "'sgdx'"],
        id="unknown-optimizer",
    ),
    pytest.param(
        _variants({"gd": {"optimizer": "gd", "datasets": ["nope"]}}),
        ["config/config.yaml", "variants.gd.datasets", "'nope'"],
        id="variant-for-missing-dataset",
    ),
    pytest.param(
        _variants({"../evil": {"optimizer": "gd"}}),
        ["config/config.yaml", "variants", "'../evil'"],
        id="dotdot-variant",
    ),
    pytest.param(
        _variants(NEWTON, datasets=["../evil"]),
        ["config/config.yaml", "datasets", "'../evil'"],
        id="dotdot-dataset-in-config",
    ),
    pytest.param(
        _spec_file("../../etc/passwd"),
        ["data/sleep.yaml", "file", "'../../etc/passwd'", "outside"],
        id="spec-file-outside-data",
    ),
    pytest.param(
        _spec_file("/etc/passwd"),
        ["data/sleep.yaml", "file", "'/etc/passwd'", "outside"],
        id="spec-file-absolute",
    ),
    pytest.param(
        _variants({"gd": {"optimizer": "gd", "penalty": {"alpha": -1}}}),
        ["config/config.yaml", "variants.gd.penalty.alpha", "-1"],
        id="negative-alpha-names-its-key",
    ),
    pytest.param(
        _variants({"gd": {"optimizer": "gd", "schedule": {"name": "nope"}}}),
        ["config/config.yaml", "variants.gd.schedule.name", "'nope'"],
        id="unknown-schedule-names-it",
    ),
    pytest.param(
        _raw_config("gap_target: 1.0e-6\nvariants: [\n  gd: {\n"),
        ["config/config.yaml", "line"],
        id="config-yaml-syntax-error",
    ),
]


@workflow
@pytest.mark.parametrize(("mutate", "fragments"), WORKFLOW_MISTAKES)
def test_a_workflow_level_mistake_stops_at_once_with_one_line(tmp_path, mutate, fragments):
    project = make_project(
        tmp_path, {"sleep": ("sleep.md", SLEEP_TABLE, SLEEP_SPEC)}, variants=NEWTON
    )
    mutate(project)
    done = snakemake(project, "--dry-run", check=False)
    text = output_of(done)
    assert done.returncode != 0
    assert "Traceback" not in text
    lines = error_lines(text)
    assert len(lines) == 1, text[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert not (project / "results").exists()


# ================================================================ 2. numerical faults


def design_of(columns: dict[str, np.ndarray], target: str, degree: int = 1) -> Design:
    """A design from plain arrays through the real spec path (``build_design``)."""
    spec = {
        "columns": [{"name": name, "type": "float"} for name in columns],
        "model": {
            "target": target,
            "features": [name for name in columns if name != target],
            "degree": degree,
        },
    }
    return build_design(pd.DataFrame(columns), spec)


def fit(design: Design, variant: dict) -> tuple[dict, dict, list[str]]:
    """``fit_variant`` with every warning an error; also the design warnings of the reference."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stats = fitting.compute_stats(design)
        record, trace = fitting.fit_variant(design, stats, "v", variant)
        problem, _ = fitting.standardized_problem(design, stats, None)
        notes = fitting.design_warnings(design, obj.condition(problem))
    return record, trace, notes


def min_norm_reference(design: Design) -> np.ndarray:
    """The minimum-norm least-squares solution in standardized coordinates, in original units,
    computed independently with ``np.linalg.lstsq``."""
    X, y = np.asarray(design.X, dtype=float), np.asarray(design.y, dtype=float)
    center, scale = X.mean(axis=0), X.std(axis=0)
    center[0], scale[0] = 0.0, 1.0  # intercept column
    scale[scale < 1e-12 * np.abs(X).max(axis=0)] = 1.0  # a constant column stays as it is
    y_center, y_scale = y.mean(), (y.std() or 1.0)
    v = np.linalg.lstsq((X - center) / scale, (y - y_center) / y_scale, rcond=None)[0]
    w = y_scale * v / scale
    w[0] = y_scale * v[0] - np.dot(w[1:], center[1:]) + y_center
    return w


def loss(design: Design, coef) -> float:
    return 0.5 * float(np.mean((design.y - design.X @ np.asarray(coef)) ** 2))


RNG = np.random.default_rng(5)
X1 = np.arange(1.0, 9.0)
Y1 = 3.0 + 2.0 * X1 + 0.1 * RNG.normal(size=8)
GD = {"optimizer": "gd", "max_iter": 20000}
NEWTON_V = NEWTON["newton"]


def test_divergence_is_a_status_with_finite_coefficients_and_no_warning():
    record, trace, _ = fit(
        design_of({"x": X1, "y": Y1}, "y"), {"optimizer": "gd", "lr_factor": 3, "max_iter": 500}
    )
    assert record["status"] == "diverged"
    assert isinstance(record["diverged_at"], int) and 0 <= record["diverged_at"] <= 500
    assert "diverged" in record["message"]
    assert record["lr_unstable"] is True
    assert np.all(np.isfinite(record["coef"]))
    assert np.isfinite(record["loss"]) and record["loss"] > record["optimal_loss"]
    assert len(trace["loss"]) >= 1


@pytest.mark.parametrize("variant", [GD, NEWTON_V], ids=["gd", "newton"])
def test_duplicated_feature_fits_and_the_reference_is_the_minimum_norm_solution(variant):
    design = design_of({"x": X1, "x copy": X1.copy(), "y": Y1}, "y")
    record, _, notes = fit(design, variant)
    assert record["status"] == "converged"
    lstsq = np.linalg.lstsq(design.X, design.y, rcond=None)[0]
    assert record["optimal_loss"] == pytest.approx(loss(design, lstsq), rel=1e-9)
    np.testing.assert_allclose(record["optimal_coef"], min_norm_reference(design), rtol=1e-8)
    # the two copies share the slope equally (the minimum-norm split)
    assert record["optimal_coef"][1] == pytest.approx(record["optimal_coef"][2], rel=1e-9)
    np.testing.assert_allclose(record["coef"], record["optimal_coef"], rtol=1e-6)
    assert any("rank 2 < 3" in n and "minimum-norm" in n for n in notes), notes


def test_collinear_features_fit_to_the_exact_loss():
    design = design_of({"x": X1, "z": 3.0 * X1 - 1.0, "y": Y1}, "y")
    record, _, notes = fit(design, GD)
    assert record["status"] == "converged"
    lstsq = np.linalg.lstsq(design.X, design.y, rcond=None)[0]
    assert record["loss"] == pytest.approx(loss(design, lstsq), rel=1e-8)
    np.testing.assert_allclose(record["optimal_coef"], min_norm_reference(design), rtol=1e-8)
    assert any("minimum-norm" in n for n in notes)


@pytest.mark.parametrize("variant", [GD, NEWTON_V], ids=["gd", "newton"])
def test_fewer_rows_than_coefficients_gives_the_minimum_norm_solution(variant):
    columns = {
        "x": X1[:3],
        "a": np.array([1.0, 5, 2]),
        "b": np.array([3.0, 1, 4]),
        "c": np.array([0.0, 2, 7]),
        "y": Y1[:3],
    }
    design = design_of(columns, "y")
    record, _, notes = fit(design, variant)
    assert record["status"] == "converged"
    np.testing.assert_allclose(record["optimal_coef"], min_norm_reference(design), rtol=1e-8)
    np.testing.assert_allclose(record["coef"], record["optimal_coef"], rtol=1e-6, atol=1e-9)
    assert record["optimal_loss"] == pytest.approx(0.0, abs=1e-20)
    assert any("fewer rows (3) than coefficients (5)" in n for n in notes), notes


def test_constant_target_fits_the_mean():
    design = design_of({"x": X1, "y": np.full(8, 5.0)}, "y")
    record, _, notes = fit(design, GD)
    assert record["status"] == "converged"
    np.testing.assert_allclose(record["coef"], [5.0, 0.0], atol=1e-12)
    assert record["loss"] == 0.0 and record["gap"] == 0.0
    assert any("target is constant" in n for n in notes)


def test_constant_feature_is_flagged_and_gets_no_weight():
    design = design_of({"x": X1, "c": np.full(8, 7.0), "y": Y1}, "y")
    record, _, notes = fit(design, GD)
    assert record["status"] == "converged"
    assert record["coef"][2] == 0.0
    exact = np.linalg.lstsq(np.column_stack([np.ones(8), X1]), Y1, rcond=None)[0]
    np.testing.assert_allclose(record["coef"][:2], exact, rtol=1e-8)
    assert any("feature 'c' is constant" in n for n in notes)


# A well-posed problem, rescaled: (feature scale, target scale). The exact answer is known.
EXTREMES = {
    "feature-1e300": (1e300, 1.0),
    "feature-1e-300": (1e-300, 1.0),
    "target-1e300": (1.0, 1e300),
    "target-1e-300": (1.0, 1e-300),
}


@pytest.mark.parametrize(
    "case",
    [
        "feature-1e300",
        "feature-1e-300",
        "target-1e300",
        "target-1e-300",
    ],
)
def test_extreme_magnitudes_leak_no_warning_and_stay_finite(case):
    """A well-posed problem rescaled by 1e±300: no warning, no exception, finite coefficients,
    and a converged fit has a finite gap (the loss itself may not be representable)."""
    x_scale, y_scale = EXTREMES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        design = design_of({"x": X1 * x_scale, "y": Y1 * y_scale}, "y")
    record, trace, _ = fit(design, NEWTON_V)  # any warning raises here
    assert record["status"] in {"converged", "max_iter", "diverged"}
    assert np.all(np.isfinite(record["coef"])) and np.all(np.isfinite(record["optimal_coef"]))
    assert record["message"]
    if record["status"] == "converged":
        assert np.isfinite(record["gap"]) and abs(record["gap"]) < 1e-6, record["gap"]
        assert np.isfinite(record["distance_std"])
    assert np.all(np.isfinite(trace["loss"]))


@pytest.mark.parametrize(
    "case",
    [
        "feature-1e300",
        "feature-1e-300",
        "target-1e300",
        "target-1e-300",
    ],
)
def test_extreme_magnitudes_give_the_exact_optimum(case):
    x_scale, y_scale = EXTREMES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the previous test is about warnings
        design = design_of({"x": X1 * x_scale, "y": Y1 * y_scale}, "y")
        stats = fitting.compute_stats(design)
        record, _ = fitting.fit_variant(design, stats, "v", NEWTON_V)
    exact = np.linalg.lstsq(np.column_stack([np.ones(8), X1]), Y1, rcond=None)[0]
    exact = exact * y_scale / np.array([1.0, x_scale])
    np.testing.assert_allclose(record["optimal_coef"], exact, rtol=1e-6)
    assert record["status"] == "converged"
    np.testing.assert_allclose(record["coef"], exact, rtol=1e-6)


def test_non_finite_cells_are_validation_failures_not_warnings(tmp_path):
    """NaN, ±inf and an overflowing literal are each reported; nothing leaks a warning."""
    from descent.ingest import ingest_and_validate
    from descent.schema import ValidationFailed

    (tmp_path / "t.csv").write_text(
        "x,y\n1,2\n2,inf\n3,-inf\n4,1e400\n5,NaN\n6,\n7,1e308\n8,1.5e308\n", encoding="utf-8"
    )
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(NONFINITE_SPEC), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        outcome = ingest_and_validate(tmp_path / "t.yaml")
    with pytest.raises(ValidationFailed) as failed:
        outcome.raise_if_failed()
    rows = table_rows(str(failed.value))
    for line, value, check in [
        ("3", "inf", "finite"),
        ("4", "-inf", "finite"),
        ("5", "1e400", "finite"),
        ("6", "NaN", "nullable"),
        ("7", "''", "nullable"),
    ]:
        assert (str(tmp_path / "t.csv"), line, "y", value, check) in rows, sorted(rows)
    profile = outcome.report["columns"]["y"]
    assert profile["non_finite"] == 3 and profile["nulls"] == 2
    assert profile["max"] == 1.5e308
    assert np.isfinite(profile["mean"])


# ==================================================================== 3. hostile text

NAME = f"Name {SCRIPT}"
SIZE = 'Size "ft²" | <b>bold</b> $x^{$'
PRICE = f"Price ($) & {IMG} in €"
HOSTILE_TITLE = f'Houses {SCRIPT}\nsecond line "quoted" — ünïcødé ✓'
HOSTILE_SOURCE = f"{IMG} 'single' \"double\" & more"


def hostile_dataset() -> tuple[str, str, dict]:
    rows = [
        [f"Ünïcødé {SCRIPT}", 50, 100.5],
        [f'"quoted" {IMG}', 70, 141],
        ["café | pipe", 90, 179.5],
        ["plain's\nsecond line", 110, 222],
        ["$x$ & $y$", 130, 259.9],
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([NAME, SIZE, PRICE])
    writer.writerows(rows)
    spec = {
        "title": HOSTILE_TITLE,
        "source": HOSTILE_SOURCE,
        "columns": [
            {"name": NAME, "type": "str", "checks": {"unique": True}},
            {"name": SIZE, "type": "float"},
            {"name": PRICE, "type": "float"},
        ],
        "model": {"target": PRICE, "features": [SIZE]},
    }
    return "hostile.csv", buffer.getvalue(), spec


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    project = make_project(
        tmp_path_factory.mktemp("hostile"), {"hostile": hostile_dataset()}, variants=NEWTON
    )
    snakemake(project)
    return project


@workflow
def test_hostile_text_reaches_the_html_report_escaped(hostile):
    page = (hostile / "results" / "report.html").read_text(encoding="utf-8")
    parser = assert_no_injected_markup(page)
    for escaped in (
        "Houses &lt;script&gt;alert(1)&lt;/script&gt;",
        "&lt;img src=x onerror=alert(1)&gt;",
        "&lt;b&gt;bold&lt;/b&gt;",
        "ünïcødé ✓",
        "€",
    ):
        assert escaped in page, escaped
    text = " ".join(parser.text)
    assert "Houses <script>alert(1)</script>" in text  # what a reader sees: the literal text
    assert 'Size "ft²" | <b>bold</b> $x^{$' in text
    assert "<title>" in page and SCRIPT not in page.split("</title>")[0]


@workflow
def test_hostile_text_does_not_break_the_markdown_report(hostile):
    markdown = (hostile / "results" / "report.md").read_text(encoding="utf-8")
    for raw in RAW_TAGS:
        assert raw not in markdown, raw
    lines = markdown.splitlines()
    assert not [line for line in lines if line.startswith("second line")]  # newline folded
    row = next(line for line in lines if line.startswith("| hostile |"))
    assert len(md_cells(row)) == 7, row
    assert "Houses &lt;script&gt;" in row
    term = next(line for line in lines if line.startswith('| Size "ft²"'))
    assert len(md_cells(term)) == 3, term  # the pipe in the column name is escaped
    header = next(line for line in lines if line.startswith("## Houses"))
    assert header.endswith("(hostile)")


@workflow
def test_hostile_names_survive_into_results_unchanged(hostile):
    reference = json.loads((hostile / "results" / "hostile" / "reference.json").read_text())
    assert reference["terms"] == ["intercept", SIZE]
    assert reference["target"] == PRICE
    summary = read_csv(hostile / "results" / "summary.csv")
    assert [(r["dataset"], r["status"]) for r in summary] == [("hostile", "converged")]


# ==================================================================== 4. atomic outputs

CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from descent.jobs import write_json, write_npz
    kind, target = sys.argv[1], sys.argv[2]
    if kind == "json":
        data = {"values": np.arange(300_000, dtype=float) / 7.0, "version": 2}
        write_json(target, {"values": [1.0, 2.0], "version": 1})
        print("ready", flush=True)
        while True:
            write_json(target, data)
    else:
        data = {"a": np.arange(10_000_000, dtype=float), "b": np.ones(5)}
        write_npz(target, {"a": np.arange(3.0), "b": np.ones(5)})
        print("ready", flush=True)
        while True:
            write_npz(target, data)
    """
)


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # renamed over the target meanwhile
        return 0


def kill_mid_write(folder: Path, kind: str) -> Path:
    """Start a child rewriting ``folder/out.{kind}`` in a loop; SIGKILL it while a temporary
    file beside the target is being filled. Returns the target."""
    target = folder / f"out.{kind}"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, kind, str(target)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(size_of(p) > 0 for p in folder.glob(f".out.{kind}.*")):
                break
        else:
            pytest.fail("the child never started a write")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return target


def test_write_json_killed_mid_write_leaves_the_old_or_the_new_file_never_a_torn_one(tmp_path):
    target = kill_mid_write(tmp_path, "json")
    data = json.loads(target.read_text(encoding="utf-8"))  # complete and parseable
    assert data["version"] in (1, 2)
    assert len(data["values"]) == (2 if data["version"] == 1 else 300_000)
    # what the killed job left is a hidden temporary, never the target's name
    assert {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")} == {"out.json"}


def test_write_npz_killed_mid_write_leaves_the_old_or_the_new_file_never_a_torn_one(tmp_path):
    target = kill_mid_write(tmp_path, "npz")
    with np.load(target, allow_pickle=False) as data:
        a, b = data["a"], data["b"]
    assert len(a) in (3, 10_000_000) and a[-1] == len(a) - 1
    np.testing.assert_array_equal(b, np.ones(5))
    assert {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")} == {"out.npz"}


def test_an_exception_inside_atomic_path_leaves_no_target_and_no_temporary(tmp_path):
    target = tmp_path / "sub" / "out.json"
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as tmp:
        tmp.write_text('{"half": ', encoding="utf-8")
        raise RuntimeError("boom")
    assert list((tmp_path / "sub").iterdir()) == []
    # and an existing target is left as it was
    write_json(target, {"ok": True})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("torn", encoding="utf-8")
        raise RuntimeError("boom")
    assert json.loads(target.read_text()) == {"ok": True}
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["out.json"]


def test_write_npz_failing_midway_leaves_no_file(tmp_path):
    class Unconvertible:
        def __array__(self, dtype=None, copy=None):
            raise ValueError("cannot convert")

    target = tmp_path / "trace.npz"
    with pytest.raises(ValueError, match="cannot convert"):
        write_npz(target, {"good": np.arange(100_000.0), "bad": Unconvertible()})
    assert list(tmp_path.iterdir()) == []


# ============================================================= 5. reproducibility (+ numerics)

TWINS_MD = (
    "| x | x copy | y |\n| 1 | 1 | 2.1 |\n| 2 | 2 | 3.9 |\n| 3 | 3 | 6.2 |\n| 4 | 4 | 7.8 |\n"
)
TWINS_SPEC = {
    "title": "Duplicated feature",
    "source": "test",
    "columns": [
        {"name": "x", "type": "float"},
        {"name": "x copy", "type": "float"},
        {"name": "y", "type": "float"},
    ],
    "model": {"target": "y", "features": ["x", "x copy"]},
}
REPRO_VARIANTS = {**NEWTON, "too-large": TOO_LARGE}


def repro_project(tmp: Path) -> Path:
    project = make_project(
        tmp,
        {
            "sleep": ("sleep.md", SLEEP_TABLE, SLEEP_SPEC),
            "twins": ("twins.md", TWINS_MD, TWINS_SPEC),
        },
        variants=REPRO_VARIANTS,
    )
    snakemake(project)
    return project


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    return (
        repro_project(tmp_path_factory.mktemp("first")),
        repro_project(tmp_path_factory.mktemp("second")),
    )


@workflow
def test_two_clean_runs_give_identical_traces_and_validation(two_runs):
    first, second = two_runs
    traces = sorted((first / "results").glob("*/fits/*.trace.npz"))
    assert len(traces) == 4
    for path in traces:
        other = second / path.relative_to(first)
        with np.load(path) as a, np.load(other) as b:
            assert sorted(a.files) == sorted(b.files), path
            for key in a.files:
                assert a[key].dtype == b[key].dtype, (path, key)
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{path}: {key}")
    for ds in ("sleep", "twins"):
        for name in ("validation.json", "reference.json"):
            one = (first / "results" / ds / name).read_bytes()
            assert one == (second / "results" / ds / name).read_bytes(), (ds, name)


@workflow
def test_the_report_states_version_config_hash_and_input_checksums(two_runs):
    first = two_runs[0]
    pages = [(p / "results" / "report.html").read_text(encoding="utf-8") for p in two_runs]
    for page, project in zip(pages, two_runs, strict=True):
        text = html.unescape(re.sub(r"<[^>]+>", " ", page))
        assert re.search(rf"descent\s+{re.escape(descent.__version__)}\b", text)
        for table in ("sleep.md", "twins.md"):
            digest = hashlib.sha256((project / "data" / table).read_bytes()).hexdigest()
            assert digest in page, table
    hashes = [
        re.search(r"config hash\s+([0-9a-f]{16})\b", html.unescape(re.sub(r"<[^>]+>", " ", page)))
        for page in pages
    ]
    assert hashes[0] and hashes[1] and hashes[0].group(1) == hashes[1].group(1)
    markdown = (first / "results" / "report.md").read_text(encoding="utf-8")
    assert f"| descent | {descent.__version__} |" in markdown
    assert f"| config hash | {hashes[0].group(1)} |" in markdown


@workflow
def test_divergence_and_rank_deficiency_in_the_workflow(two_runs):
    results = two_runs[0] / "results"
    summary = {(r["dataset"], r["variant"]): r for r in read_csv(results / "summary.csv")}
    for ds in ("sleep", "twins"):
        diverged = summary[(ds, "too-large")]
        assert diverged["status"] == "diverged" and diverged["diverged_at"] != "", diverged
        fit_record = json.loads((results / ds / "fits" / "too-large.json").read_text())
        assert all(np.isfinite(fit_record["coef"]))
        assert summary[(ds, "newton")]["status"] == "converged"
    reference = json.loads((results / "twins" / "reference.json").read_text())
    assert any("minimum-norm" in note for note in reference["warnings"]), reference["warnings"]
    assert reference["coef"][1] == pytest.approx(reference["coef"][2], rel=1e-9)
    assert "minimum-norm" in (results / "report.html").read_text(encoding="utf-8")
