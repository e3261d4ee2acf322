"""Tests for the ``descent`` command line (descent.cli.main) and descent.synthetic."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from descent.cli import main
from descent.optim.aliases import OPTIMIZERS
from descent.spec import load_spec
from descent.synthetic import make_synthetic, true_coefficients

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
CONFIG = ROOT / "config" / "config.yaml"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def sleep(tmp_path):
    for suffix in (".md", ".yaml"):
        shutil.copy(DATA / f"sleep{suffix}", tmp_path / f"sleep{suffix}")
    return tmp_path / "sleep.md"


# --- descent fit ---------------------------------------------------------------------------------


def test_fit_prints_coefficients_next_to_the_optimum_and_the_gap(capsys, sleep):
    code, out, err = run(capsys, "fit", sleep, "--spec", sleep.with_suffix(".yaml"),
                         "--variant", "newton", "--config", CONFIG)
    assert code == 0, err
    assert "status         converged" in out
    for term in ("intercept", "Sleep Duration (hours)", "Sleep Duration (hours)^2"):
        assert term in out
    assert "exact optimum" in out
    gap = float(next(line for line in out.splitlines() if line.startswith("gap")).split()[1])
    assert abs(gap) < 1e-10
    assert "-53.75" in out  # the exact intercept of the article's parabola


def test_fit_json_is_the_record(capsys, sleep):
    code, out, _ = run(capsys, "fit", sleep, "--variant", "adam", "--config", CONFIG, "--json")
    assert code == 0
    record = json.loads(out)
    assert record["variant"] == "adam" and record["config"]["optimizer"] == "adam"
    assert record["terms"] == ["intercept", "Sleep Duration (hours)", "Sleep Duration (hours)^2"]
    assert record["status"] in {"converged", "max_iter"}
    assert record["gap"] >= 0 and len(record["coef"]) == 3


def test_fit_ad_hoc_and_overrides(capsys, sleep):
    code, out, _ = run(capsys, "fit", sleep, "--optimizer", "momentum", "--lr-factor", "0.5",
                       "--option", "momentum=0.8", "--max-iter", "7", "--json")
    assert code == 0
    record = json.loads(out)
    assert record["variant"] == "ad-hoc"
    assert record["config"]["options"] == {"momentum": 0.8}
    assert record["iterations"] == 7 and record["status"] == "max_iter"
    code, out, _ = run(capsys, "fit", sleep, "--variant", "gd-step-decay", "--config", CONFIG,
                       "--schedule", "{name: step_decay, every: 5}", "--alpha", "0.1", "--json")
    record = json.loads(out)
    assert record["config"]["schedule"] == {"name": "step_decay", "every": 5}
    assert record["config"]["penalty"] == {"alpha": 0.1}


# --- descent init-spec, variants -----------------------------------------------------------------


def test_init_spec_writes_a_loadable_spec_and_refuses_to_overwrite(capsys, tmp_path):
    table = tmp_path / "cars.md"
    shutil.copy(DATA / "cars.md", table)
    code, out, _ = run(capsys, "init-spec", table)
    assert code == 0 and "wrote" in out
    spec = load_spec(tmp_path / "cars.yaml")
    assert [c["name"] for c in spec["columns"]] == ["Car Model", "City MPG", "Highway MPG"]
    assert spec["model"]["target"] == "Highway MPG"
    code, _, err = run(capsys, "init-spec", table)
    assert code == 1 and "--force" in err
    assert run(capsys, "init-spec", table, "--force")[0] == 0
    code, _, _ = run(capsys, "init-spec", table, "-o", tmp_path / "other.yaml")
    assert code == 0 and load_spec(tmp_path / "other.yaml")["file"] == "cars.md"
    code, out, err = run(capsys, "fit", table, "--spec", tmp_path / "other.yaml",
                         "--optimizer", "newton", "--learning-rate", "1")
    assert code == 0, err


def test_variants_lists_every_optimizer_and_variant(capsys):
    code, out, _ = run(capsys, "variants", "--config", CONFIG)
    assert code == 0
    for name, about in OPTIMIZERS.items():
        assert f"  {name} " in out and about in out
    for name in yaml.safe_load(CONFIG.read_text())["variants"]:
        assert f"  {name} " in out


# --- descent make-synthetic ----------------------------------------------------------------------


def test_make_synthetic_then_fit_recovers_the_coefficients(capsys, tmp_path):
    out_file = tmp_path / "synth.parquet"
    code, out, err = run(capsys, "make-synthetic", out_file, "--rows", 5000, "--features", 4,
                         "--seed", 7, "--noise", 0.01)
    assert code == 0, err
    assert "true coefficients" in out
    truth = true_coefficients(4, 7)
    assert load_spec(out_file.with_suffix(".yaml"))["model"]["features"] == ["x1", "x2", "x3",
                                                                                "x4"]
    code, out, err = run(capsys, "fit", out_file, "--variant", "newton", "--config", CONFIG,
                         "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["status"] == "converged" and abs(record["gap"]) < 1e-6
    np.testing.assert_allclose(record["coef"], list(truth.values()), atol=1e-3)
    code, _, err = run(capsys, "make-synthetic", out_file, "--rows", 10, "--features", 2)
    assert code == 1 and "--force" in err


def test_synthetic_is_written_in_chunks_and_reproducible(tmp_path):
    a = make_synthetic(tmp_path / "a.parquet", 1001, 3, seed=5, noise=0.5, chunk_rows=100)
    b = make_synthetic(tmp_path / "b.parquet", 1001, 3, seed=5, noise=0.5, chunk_rows=100)
    assert a == b == true_coefficients(3, 5)
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(tmp_path / "a.parquet").metadata
    assert meta.num_rows == 1001 and meta.num_row_groups == 11
    frame_a = pd.read_parquet(tmp_path / "a.parquet")
    pd.testing.assert_frame_equal(frame_a, pd.read_parquet(tmp_path / "b.parquet"))
    assert list(frame_a.columns) == ["x1", "x2", "x3", "y"]


# --- errors: one line, non-zero exit, never a traceback ------------------------------------------


@pytest.fixture
def broken(tmp_path, sleep):
    (tmp_path / "bad.md").write_text("| Sleep Duration (hours) | Performance Index |\n"
                                     "| 4 | 55 |\n| x | 65 |\n| 30 | 75 |\n", encoding="utf-8")
    shutil.copy(sleep.with_suffix(".yaml"), tmp_path / "bad.yaml")
    (tmp_path / "broken.yaml").write_text("title: [\n", encoding="utf-8")
    (tmp_path / "nomodel.yaml").write_text(
        (DATA / "sleep.yaml").read_text().split("model:")[0] + "model: none\nwhy: a test\n",
        encoding="utf-8")
    return tmp_path


ERRORS = {
    "missing table": (["fit", "{d}/nope.md", "--optimizer", "gd"], "nope.md not found"),
    "missing spec": (["fit", "{d}/sleep.md", "--spec", "{d}/nope.yaml", "--optimizer", "gd"],
                     "nope.yaml not found"),
    "bad spec": (["fit", "{d}/sleep.md", "--spec", "{d}/broken.yaml", "--optimizer", "gd"],
                 "not valid YAML"),
    "no model": (["fit", "{d}/sleep.md", "--spec", "{d}/nomodel.yaml", "--optimizer", "gd"],
                 "nothing to fit"),
    "unknown variant": (["fit", "{d}/sleep.md", "--variant", "nope", "--config", str(CONFIG)],
                        "unknown variant 'nope'"),
    "missing config": (["fit", "{d}/sleep.md", "--variant", "adam", "--config", "{d}/no.yaml"],
                       "config file"),
    "unknown optimizer": (["fit", "{d}/sleep.md", "--optimizer", "nope"], "unknown optimizer"),
    "bad option": (["fit", "{d}/sleep.md", "--optimizer", "gd", "--option", "beta=1"],
                   "unknown option"),
    "bad schedule": (["fit", "{d}/sleep.md", "--optimizer", "gd", "--schedule", "step_decay"],
                     "schedule 'step_decay'"),
    "bad penalty": (["fit", "{d}/sleep.md", "--optimizer", "gd", "--l1-ratio", "2"],
                    "--l1-ratio"),
    "nothing to fit": (["fit", "{d}/sleep.md"], "--variant NAME"),
    "bad synthetic name": (["make-synthetic", "{d}/Bad Name.parquet", "--rows", "3",
                            "--features", "1"], "invalid dataset name"),
    "unknown command": (["frobnicate"], "invalid choice"),
    "missing argument": (["make-synthetic", "{d}/x.parquet", "--rows", "3"], "--features"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_are_one_line(capsys, broken, case):
    argv, expected = ERRORS[case]
    code, _, err = run(capsys, *[a.format(d=broken) for a in argv])
    assert code != 0
    assert err.startswith("descent: error: ") and err.count("\n") == 1, err
    assert expected in err
    assert "Traceback" not in err


def test_validation_failure_prints_the_failure_table(capsys, broken):
    code, out, err = run(capsys, "fit", broken / "bad.md", "--optimizer", "gd")
    assert code == 1 and out == ""
    first, *table = err.splitlines()
    assert first == f"descent: error: validation failed: 2 failure(s) in {broken / 'bad.md'}"
    assert any("not a float" in line for line in table)
    assert any("le: 24" in line for line in table)
    assert "Traceback" not in err


# --- as a program --------------------------------------------------------------------------------


def test_program_in_a_subprocess(sleep):
    done = subprocess.run([sys.executable, "-m", "descent.cli", "fit", str(sleep), "--variant",
                           "newton", "--config", str(CONFIG)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "gap" in done.stdout and "converged" in done.stdout
    script = Path(sys.executable).with_name("descent")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "descent.cli"]
    done = subprocess.run([*command, "fit", str(sleep.with_name("nope.md")), "--optimizer", "gd"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("descent: error: ") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


# --- the tutorial ------------------------------------------------------------------------------


def test_tutorial_prints_what_it_says(capsys, monkeypatch):
    """docs/tutorial.md: each python block prints the text block after it, the console block
    is what `descent fit` prints (timings aside)."""
    pytest.importorskip("sklearn")
    import itertools
    import re

    monkeypatch.chdir(ROOT)
    blocks = re.findall(r"```(\w+)\n(.*?)```", (ROOT / "docs" / "tutorial.md").read_text(), re.S)
    namespace: dict = {}
    checked = 0
    for (kind, code), (next_kind, expected) in itertools.pairwise(blocks):
        if kind == "python" and next_kind == "text":
            exec(code, namespace)
            assert capsys.readouterr().out == expected
            checked += 1
    for kind, body in blocks:
        if kind == "console":
            command, *expected = body.splitlines()
            assert main(command.removeprefix("$ descent ").split()) == 0
            untimed = [re.sub(r"[\d.]+ s\)", "s)", line) for line in expected]
            assert [re.sub(r"[\d.]+ s\)", "s)", line)
                    for line in capsys.readouterr().out.splitlines()] == untimed
            checked += 1
    assert checked == 4
