"""The real workflow, run by Snakemake on temporary copies with small datasets.

One module-scoped run serves the read-only checks; tests that change inputs work on their own
copy. Numbers are checked against an independent NumPy least-squares fit.
"""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import yaml
from workflow_helpers import (
    ROOT,
    SMALL_VARIANTS,
    add_dataset,
    make_project,
    planned_jobs,
    snakemake,
    write_config,
)

pytestmark = pytest.mark.workflow

SLEEP_X = np.array([4, 5, 6, 7, 8, 9], dtype=float)
SLEEP_Y = np.array([55, 65, 75, 85, 95, 80], dtype=float)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Two datasets × three variants, built once."""
    project = make_project(tmp_path_factory.mktemp("built"))
    snakemake(project)
    return project


def read_summary(project: Path) -> list[dict[str, str]]:
    with open(project / "results" / "summary.csv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_every_output_of_the_layout_exists(built):
    results = built / "results"
    for name in ("report.html", "report.md", "summary.csv", "heatmap.png"):
        assert (results / name).stat().st_size > 0, name
    for ds in ("sleep", "cars"):
        for name in (
            "validation.json",
            "reference.json",
            "design.npz",
            "cost_curves.png",
            "fit.png",
            "lr_schedules.png",
            "contours.png",
        ):
            assert (results / ds / name).stat().st_size > 0, (ds, name)
        for variant in SMALL_VARIANTS:
            assert (results / ds / "fits" / f"{variant}.json").exists()
            assert (results / ds / "fits" / f"{variant}.trace.npz").exists()
    assert (built / "logs" / "sleep" / "fit_newton.log").exists()


def test_fits_hold_the_exact_optimum(built):
    design = np.column_stack([np.ones(6), SLEEP_X, SLEEP_X**2])
    exact = np.linalg.lstsq(design, SLEEP_Y, rcond=None)[0]
    optimal_loss = 0.5 * np.mean((SLEEP_Y - design @ exact) ** 2)
    reference = json.loads((built / "results/sleep/reference.json").read_text())
    assert reference["terms"] == ["intercept", "Sleep Duration (hours)", "Sleep Duration (hours)^2"]
    np.testing.assert_allclose(reference["coef"], exact, rtol=1e-9)
    assert reference["loss"] == pytest.approx(optimal_loss, rel=1e-12)
    newton = json.loads((built / "results/sleep/fits/newton.json").read_text())
    assert newton["status"] == "converged"
    np.testing.assert_allclose(newton["coef"], exact, rtol=1e-8)
    # the reported gap is what the reported coefficients give
    loss = 0.5 * np.mean((SLEEP_Y - design @ np.array(newton["coef"])) ** 2)
    assert newton["loss"] == pytest.approx(loss, rel=1e-12)
    assert newton["gap"] == pytest.approx((loss - optimal_loss) / optimal_loss, abs=1e-12)


def test_summary_has_one_row_per_dataset_and_variant(built):
    rows = read_summary(built)
    assert {(r["dataset"], r["variant"]) for r in rows} == {
        (ds, v) for ds in ("sleep", "cars") for v in SMALL_VARIANTS
    }
    required = {
        "dataset",
        "variant",
        "status",
        "iterations",
        "loss",
        "optimal_loss",
        "gap",
        "seconds",
    }
    assert required <= set(rows[0])
    for row in rows:
        assert row["status"] in {"converged", "max_iter", "diverged", "failed"}
        fit = json.loads(
            (built / "results" / row["dataset"] / "fits" / f"{row['variant']}.json").read_text()
        )
        assert float(row["gap"]) == fit["gap"]
        assert float(row["loss"]) == fit["loss"]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.sources: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids.add(attributes["id"])
        for key in ("src", "href"):
            if attributes.get(key):
                self.sources.append(attributes[key])

    def handle_data(self, data):
        self.text.append(data)


def test_report_parses_is_self_contained_and_names_every_dataset(built):
    html = (built / "results" / "report.html").read_text(encoding="utf-8")
    parser = _Collector()
    parser.feed(html)
    text = " ".join(parser.text)
    for ds in ("sleep", "cars"):
        assert ds in text
    for variant in SMALL_VARIANTS:
        assert variant in text
    external = [s for s in parser.sources if not (s.startswith("data:") or s.startswith("#"))]
    assert external == []
    assert "http://" not in html and "https://" not in html
    assert sum(s.startswith("data:image/png;base64,") for s in parser.sources) >= 9


def test_nothing_changed_means_nothing_runs(built):
    assert planned_jobs(built) == {}


def test_full_dry_run_of_the_default_config_plans_every_job():
    """The repository's own data/ and config: every dataset, every applicable variant."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    specs = sorted((ROOT / "data").glob("*.yaml"))
    fitted = [p.stem for p in specs if isinstance(yaml.safe_load(p.read_text()).get("model"), dict)]
    expected_fits = sum(
        1
        for ds in fitted
        for settings in config["variants"].values()
        if not settings.get("datasets") or ds in settings["datasets"]
    )
    counts = planned_jobs(ROOT, "--forceall")
    assert counts["validate"] == len(specs)
    assert counts["design"] == len(fitted)
    assert counts["fit"] == expected_fits
    assert counts["plot_dataset"] == len(fitted)
    assert counts["report"] == 1
    assert len(config["variants"]) >= 12


def test_adding_a_dataset_reruns_only_its_jobs(tmp_path):
    project = make_project(tmp_path, variants={"newton": SMALL_VARIANTS["newton"]})
    snakemake(project)
    table = "| x | y |\n| 1 | 2.1 |\n| 2 | 3.9 |\n| 3 | 6.2 |\n| 4 | 7.8 |\n"
    spec = {
        "title": "New",
        "source": "test",
        "columns": [{"name": "x", "type": "float"}, {"name": "y", "type": "float"}],
        "model": {"target": "y", "features": ["x"]},
    }
    add_dataset(project, "fresh", "fresh.md", table, spec)
    counts = planned_jobs(project)
    assert counts == {
        "validate": 1,
        "design": 1,
        "fit": 1,
        "plot_dataset": 1,
        "plot_heatmap": 1,
        "report": 1,
        "all": 1,
    }
    snakemake(project)
    assert (project / "results" / "fresh" / "fits" / "newton.json").exists()
    assert planned_jobs(project) == {}


def test_changing_one_variant_reruns_that_variant_only(tmp_path):
    variants = {
        "batch-gd": {"optimizer": "gd"},
        "newton": {"optimizer": "newton", "learning_rate": 1.0, "max_iter": 50},
    }
    project = make_project(tmp_path, variants=variants)
    snakemake(project)
    write_config(project, {**variants, "batch-gd": {"optimizer": "gd", "lr_factor": 0.5}})
    counts = planned_jobs(project)
    assert counts["fit"] == 2  # batch-gd on both datasets, newton untouched
    assert counts.get("validate", 0) == 0 and counts.get("design", 0) == 0


def test_two_clean_runs_give_identical_numbers(built, tmp_path):
    """Reproducibility: everything but timing fields is byte-identical."""
    again = make_project(tmp_path)
    snakemake(again)
    first, second = read_summary(built), read_summary(again)
    for a, b in zip(first, second, strict=True):
        a.pop("seconds"), b.pop("seconds")
        assert a == b
    for path in (built / "results").glob("*/fits/*.json"):
        one = json.loads(path.read_text())
        two = json.loads((again / path.relative_to(built)).read_text())
        one.pop("seconds"), two.pop("seconds")
        assert one == two
