"""Tests of descent.plots: valid, deterministic PNGs written atomically, readable labels."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from results_fixture import VARIANTS, _run, datasets

from descent import plots

pytestmark = pytest.mark.filterwarnings("error")  # no RuntimeWarning/UserWarning may leak

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the IHDR chunk of a PNG, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[list[dict], dict]]:
    """Fits and traces of the fixture's two datasets (sleep has a diverged run)."""
    out = {}
    for ds in datasets():
        pairs = [_run(ds, v) for v in VARIANTS]
        out[ds.name] = ([f for f, _ in pairs], {v: t for v, (_, t) in zip(VARIANTS, pairs,
                                                                         strict=True)})
    return out


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Texts of each figure handed to save_figure (legend, axes texts, titles); still written."""
    seen: list[dict] = []
    real = plots.save_figure

    def save_and_record(fig, out_path):
        seen.append({
            "legend": [t.get_text() for lg in fig.legends for t in lg.get_texts()],
            "texts": [t.get_text() for ax in fig.axes for t in ax.texts],
            "titles": [ax.get_title() for ax in fig.axes],
        })
        return real(fig, out_path)

    monkeypatch.setattr(plots, "save_figure", save_and_record)
    return seen


def test_cost_curves_png_deterministic_and_marks_divergence(tmp_path, runs, captured):
    fits, traces = runs["sleep"]
    a = plots.cost_curves(fits, traces, tmp_path / "a.png", title="sleep")
    b = plots.cost_curves(fits, traces, tmp_path / "b.png", title="sleep")
    assert a.read_bytes() == b.read_bytes()
    w, h = png_size(a)
    assert 1200 < w < 2000 and 300 < h < 600
    legend = captured[0]["legend"]
    assert "momentum (diverged @ step 37)" in legend
    assert "sgd (max_iter)" in legend and "gd" in legend
    assert any("1e-6" in t for t in captured[0]["texts"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]  # no temp files


def test_cost_curves_single_panel_is_narrower(tmp_path, runs):
    fits, traces = runs["phones"]
    both = png_size(plots.cost_curves(fits, traces, tmp_path / "both.png"))
    one = png_size(plots.cost_curves(fits, traces, tmp_path / "one.png", x="passes"))
    assert one[0] < both[0] * 0.75


def test_cost_curves_skips_runs_without_trace(tmp_path, runs, captured):
    fits, traces = runs["phones"]
    failed = {"variant": "newton", "status": "failed"}
    plots.cost_curves([*fits, failed], traces, tmp_path / "c.png")
    assert not any(t.startswith("newton") for t in captured[0]["legend"])


def test_fit_plot_one_feature_curve(tmp_path):
    x = np.arange(4.0, 10.0)
    y = np.array([55.0, 65, 75, 85, 95, 80])
    grid = np.linspace(4, 9, 50)
    preds = {"gd": 50 + 3 * grid, "adam": 49 + 3 * grid, "diverged": np.full(50, np.inf)}
    out = plots.fit_plot(y, preds, tmp_path / "fit.png", x=x, grid=grid, optimum=50 + 3 * grid,
                         feature="Sleep Duration (hours)", target="Revenue ($) in $M")
    png_size(out)


def test_fit_plot_subsamples_large_data_and_says_so(tmp_path, captured):
    rng = np.random.default_rng(1)
    y = rng.normal(size=6000)
    preds = {"gd": y + 0.1, "sgd": y - 0.1}
    a = plots.fit_plot(y, preds, tmp_path / "a.png", optimum=y, target="y")
    b = plots.fit_plot(y, preds, tmp_path / "b.png", optimum=y, target="y")
    assert a.read_bytes() == b.read_bytes()
    assert "5,000 of 6,000" in captured[0]["titles"][0]


def test_subsample_is_seeded_sorted_and_unique():
    a = plots._subsample(10_000, 5000, seed=3)
    assert np.array_equal(a, plots._subsample(10_000, 5000, seed=3))
    assert a.size == 5000 and np.all(np.diff(a) > 0)
    assert plots._subsample(100, 5000, seed=3) is None


def test_lr_schedules(tmp_path, runs):
    _, traces = runs["sleep"]
    traces = {**traces, "newton": {"step": np.arange(3), "lr": np.zeros(3)}}  # not drawable
    w, h = png_size(plots.lr_schedules(traces, tmp_path / "lr.png"))
    assert w > 500 and h > 300


def test_contours_callable_and_grid_give_same_size(tmp_path, runs):
    _, traces = runs["phones"]
    paths = {v: t["path"] for v, t in traces.items()}
    opt = paths["gd"][-1]

    def loss(w):
        return float((w[0] - opt[0]) ** 2 + 3 * (w[1] - opt[1]) ** 2)

    ends = np.array([[opt[0] + 0.1, opt[1]], [opt[0], opt[1] - 0.1]])
    a = plots.contours(loss, paths, opt, tmp_path / "a.png", endpoints={"gd": ends})
    g0, g1 = np.linspace(-1, 14, 60), np.linspace(-1, 6, 50)
    W0, W1 = np.meshgrid(g0, g1)
    Z = (W0 - opt[0]) ** 2 + 3 * (W1 - opt[1]) ** 2
    b = plots.contours((g0, g1, Z), paths, opt, tmp_path / "b.png", endpoints=ends)
    assert png_size(a)[1] == png_size(b)[1]


def test_heatmap_marks_never_with_dash(tmp_path, captured):
    m = np.array([[400.0, np.nan, 12_500.0], [3.0, 150.0, np.nan]])
    out = plots.heatmap(m, ["sleep", "phones"], ["gd", "sgd", "adam"], tmp_path / "h.png")
    png_size(out)
    texts = captured[0]["texts"]
    assert texts.count("—") == 2
    assert {"400", "12.5k", "3", "150"} <= set(texts)


def test_heatmap_all_never(tmp_path):
    out = plots.heatmap(np.full((1, 2), np.nan), ["a"], ["gd", "sgd"], tmp_path / "h.png")
    png_size(out)


def test_variant_styles_distinct_beyond_palette():
    styles = plots.variant_styles([f"v{i}" for i in range(12)])
    pairs = {(s["color"], s["linestyle"]) for s in styles.values()}
    assert len(pairs) == 12


def test_failed_save_leaves_no_temp_file_and_closes(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    fig = plt.figure()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(fig, "savefig", boom)
    with pytest.raises(OSError, match="disk full"):
        plots.save_figure(fig, tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []
    assert not plt.fignum_exists(fig.number)


def test_matplotlib_only_in_plots():
    code = "import sys, descent.report; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
