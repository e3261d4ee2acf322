"""Tests of descent.report on the fake results tree of results_fixture."""

from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from results_fixture import FAILED, HOSTILE_TITLE, NEWLINE_COLUMN, write_results

from descent import report

META = {"variants": ["gd", "momentum", "sgd", "adam"], "config_hash": "c0ffee",
        "inputs": {"data/sleep.md": "ab" * 32}, "python": "3.11.0", "numpy": "2.0.0",
        "failures": [{"dataset": "films", "stage": "ingest", "message": "no table found"}]}


class Collector(HTMLParser):
    """Start tags, attributes and text of an HTML document; checks tag balance."""

    VOID = frozenset({"meta", "img", "br", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """The fixture results with plots, and the report built from them."""
    root = tmp_path_factory.mktemp("rep")
    info = write_results(root)
    res = info["results"]
    report.build_report(res, res / "report.html", res / "report.md", res / "summary.csv",
                        meta=META)
    html = (res / "report.html").read_text(encoding="utf-8")
    parser = Collector()
    parser.feed(html)
    parser.close()
    return {**info, "html": html, "parser": parser,
            "md": (res / "report.md").read_text(encoding="utf-8"),
            "csv": list(csv.DictReader((res / "summary.csv").open(encoding="utf-8")))}


def test_html_parses_balanced_and_has_all_datasets_and_variants(built):
    p = built["parser"]
    assert p.stack == ["html"] or p.stack == []  # everything inside <html> is closed
    text = " ".join(p.text)
    for name in [*built["datasets"], *built["failed"], "films"]:
        assert name in text
    for v in built["variants"]:
        assert re.search(rf"\b{v}\b", text)
    assert "Table 1" in text and "Reproducibility" in text


def test_html_is_self_contained(built):
    html = built["html"]
    assert "http://" not in html and "https://" not in html
    srcs = [v for k, v in built["parser"].attrs if k in ("src", "href")]
    assert srcs
    for value in srcs:
        assert value.startswith(("data:image/png;base64,", "#")), value[:40]
    assert built["parser"].tags.count("img") == 2 * 3 + 1 + 1  # 3 + contours, plus heatmap
    assert "script" not in built["parser"].tags and "link" not in built["parser"].tags


def test_hostile_title_and_newline_column_are_escaped(built):
    html = built["html"]
    assert "<script>" not in html and "alert(" in html
    assert '&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;quotes&#34;' in html
    assert HOSTILE_TITLE in " ".join(built["parser"].text)  # shown literally to the reader
    assert "Units\nSold (millions)" in html  # escaped text, newline is harmless in HTML
    md = built["md"]
    assert "<script>" not in md
    assert "Units Sold (millions)" in md and NEWLINE_COLUMN not in md
    for line in md.splitlines():  # every Markdown table line is a whole row
        if line.startswith("|"):
            assert line.endswith("|"), line


def test_table1_best_variant_and_final_cost(built):
    rows = {r["variant"]: r for r in built["csv"] if r["dataset"] == "sleep"}
    conv = {v: float(r["gap"]) for v, r in rows.items() if r["status"] == "converged"}
    best = min(conv, key=conv.get)
    loss = float(rows["gd"]["optimal_loss"])
    md_row = next(ln for ln in built["md"].splitlines() if ln.startswith("| sleep |"))
    assert f"| {loss:.6g} |" in md_row and f"| {best} |" in md_row
    assert report.fmt_gap(conv[best]) in md_row


def test_failed_datasets_listed_with_reason(built):
    text = " ".join(built["parser"].text)
    assert FAILED["message"] in text and "no table found" in text
    section = built["md"].split("## Failed datasets", 1)[1].split("\n## ", 1)[0]
    assert "| mountains | validate |" in section and "| films | ingest |" in section


def test_per_dataset_sections(built):
    text = " ".join(built["parser"].text)
    assert "Performance Index ~ 1 + Sleep Duration (hours) + Sleep Duration (hours)^2" in text
    assert "diverged at step 37" in text
    assert "flagged unstable before it ran" in text
    assert "sha256" in text and "rows rejected" in text
    coef = built["fits"]["sleep", "gd"]["coef"]
    assert f"{coef[2]:.6g}" in text


def test_provenance_from_ingest_records_and_spec(built):
    sleep = built["html"].split('id="ds-sleep"', 1)[1]
    text = re.sub(r"<[^>]+>", " ", sleep)
    assert "Sleep duration and performance" in text and "article, Table of Sleep" in text
    assert re.search(r"checks passed\s+3\b", text) and re.search(r"checks failed\s+1\b", text)
    assert "Performance Index: le 100 (1 rows)" in text and "quarantined" in text


def test_summary_csv_columns_and_numbers(built):
    rows = built["csv"]
    assert tuple(rows[0]) == report.SUMMARY_COLUMNS
    assert len(rows) == 4 * 4  # sleep, phones, mountains (failed), films (failed, meta only)
    for r in rows:
        fit = built["fits"].get((r["dataset"], r["variant"]))
        if fit is None:
            assert r["dataset"] in ("mountains", "films") and r["status"] == "failed"
            assert r["loss"] == "" and r["gap"] == ""
            continue
        for col in ("loss", "optimal_loss", "gap", "distance", "passes", "seconds"):
            assert float(r[col]) == fit[col]  # repr precision: exact round trip
        assert int(r["iterations"]) == fit["iterations"]
        assert r["status"] == fit["status"]
        assert r["lr_unstable"] == ("true" if fit["lr_unstable"] else "false")
    mom = next(r for r in rows if (r["dataset"], r["variant"]) == ("sleep", "momentum"))
    assert mom["diverged_at"] == "37" and mom["status"] == "diverged"
    sgd = next(r for r in rows if (r["dataset"], r["variant"]) == ("sleep", "sgd"))
    assert sgd["optimizer"] == "gd (batch 1)" and sgd["schedule"] == "inverse_time(decay=0.01)"
    assert sgd["penalty"] == "none"


def test_rerun_is_byte_identical(built, tmp_path):
    res = built["results"]
    report.build_report(res, tmp_path / "r.html", tmp_path / "r.md", tmp_path / "s.csv",
                        meta=META)
    assert (tmp_path / "s.csv").read_bytes() == (res / "summary.csv").read_bytes()
    assert (tmp_path / "r.html").read_bytes() == (res / "report.html").read_bytes()


def test_markdown_images_are_relative_and_exist(built):
    res = built["results"]
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", built["md"])
    assert len(links) == 8
    for link in links:
        assert not link.startswith(("/", "http")) and (res / link).is_file()


def test_footer_has_reproducibility_meta(built):
    text = " ".join(built["parser"].text)
    for value in ("c0ffee", "3.11.0", "2.0.0", "data/sleep.md", "ab" * 32, "0.1.0"):
        assert value in text


def test_messages_from_results_are_escaped(tmp_path):
    info = write_results(tmp_path, plots=False)
    res = info["results"]
    path = res / "sleep" / "fits" / "adam.json"
    fit = json.loads(path.read_text())
    fit["warnings"] = ['<img src=x onerror="alert(1)">']
    path.write_text(json.dumps(fit))
    report.build_report(res, res / "r.html", res / "r.md", res / "s.csv", meta={})
    html = (res / "r.html").read_text()
    assert "<img src=x" not in html and "&lt;img src=x onerror=" in html
    assert "<img src=x" not in (res / "r.md").read_text()
    assert "data:image" not in html  # no figures were drawn: none embedded, nothing broken


def test_best_prefers_smallest_gap_then_fewest_iterations():
    fits = {"a": {"variant": "a", "status": "converged", "gap": 1e-9, "iterations": 50},
            "b": {"variant": "b", "status": "converged", "gap": 1e-9, "iterations": 20},
            "c": {"variant": "c", "status": "diverged", "gap": -1.0, "iterations": 1},
            "d": {"variant": "d", "status": "converged", "gap": 1e-3, "iterations": 2}}
    assert report._best(fits)["variant"] == "b"
    assert report._best({"c": fits["c"]}) is None


def test_dataset_warnings_rank_and_nonconvex():
    ds = {"reference": {"rank": 2, "p": 3, "terms": ["intercept", "x", "x^2"],
                        "warnings": ["columns x and x^2 are collinear"]},
          "fits": {"gd": {"variant": "gd", "model": "linear"},
                   "peak": {"variant": "peak", "model": "peak", "restarts": {"k": 20},
                            "reference_method": "best of 64 random starts polished by Newton"}}}
    out = report.dataset_warnings(ds)
    assert any("Rank-deficient" in w and "rank 2 < 3" in w for w in out)
    nonconvex = [w for w in out if "non-convex" in w]
    assert len(nonconvex) == 1  # only the peak variant, not the dataset's linear fits
    assert "Variant peak" in nonconvex[0] and "best of 64 random starts" in nonconvex[0]
    assert "columns x and x^2 are collinear" in out


def test_formatting():
    assert report.fmt_gap(1.234e-9) == "1.2e-09"
    assert report.fmt_gap(0.0) == "0" and report.fmt_gap(None) == "—"
    assert report.fmt_num(35.446428571) == "35.4464"
    assert report.fmt_seconds(0.0123) == "12.3 ms" and report.fmt_seconds(2.5) == "2.5 s"
    assert report.fmt_int(12345) == "12,345"
    assert str(report.md_escape("a|b\nc <x> *y*")) == "a\\|b c &lt;x&gt; \\*y\\*"
    assert report.describe({"name": "step_decay", "every": 100, "factor": 0.5}) == \
        "step_decay(every=100, factor=0.5)"


def test_threshold_matrix_and_steps_to_gap(built):
    m, names, variants = report.threshold_matrix(built["results"], variants=META["variants"])
    assert names == ["phones", "sleep"] and variants == META["variants"]
    assert m.shape == (2, 4)
    j = variants.index("momentum")
    assert m[1, j] != m[1, j]  # NaN: sleep momentum diverged
    import numpy as np

    tr = {"step": np.array([0, 10, 20]), "gap": np.array([1.0, 1e-7, 1e-9]),
          "passes": np.array([0.0, 2.5, 5.0])}
    assert report.steps_to_gap(tr) == 10 and report.steps_to_gap(tr, x="passes") == 2.5
    assert np.isnan(report.steps_to_gap(tr, threshold=1e-12))


def test_report_without_fits_or_images(tmp_path):
    res = tmp_path / "results"
    (res / "bad").mkdir(parents=True)
    (res / "bad" / "error.json").write_text(json.dumps(
        {"dataset": "bad", "stage": "ingest", "message": "spec without a table"}))
    report.build_report(res, res / "r.html", res / "r.md", res / "s.csv", meta={})
    html = (res / "r.html").read_text()
    assert "spec without a table" in html and "data:image" not in html
    assert Path(res / "s.csv").read_text().splitlines()[0].startswith("dataset,variant,status")
