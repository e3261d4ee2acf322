"""Every table of the article round-trips from data/ to the exact printed values."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from descent.ingest import run_ingest_validate
from descent.spec import find_table, load_spec

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
ARTICLE = Path(os.environ.get(
    "DESCENT_ARTICLE", ROOT.parent / "shared" / "reference" / "gradient-descent-article.txt"))

CAPTIONS = {
    "Table of Famous Mountain Heights": "mountains",
    "Table of Sleep Duration and Performance": "sleep",
    "Table of Smartphone Sales": "smartphones",
    "Table of Film Grossing": "films",
    "Table of Environmental Impact": "food",
    "Table of Programming Languages Popularity": "programming",
    "Table of Olympic Medal Distribution": "olympics",
    "Table of Car Fuel Efficiency": "cars",
    "Table of Social Media Users": "social_media",
}
MODELS = {
    "table1": None,
    "mountains": ("Height (m)", ["Climbing Difficulty"], 1),
    "sleep": ("Performance Index", ["Sleep Duration (hours)"], 2),
    "smartphones": ("Market Share (%)", ["Units Sold (millions)"], 1),
    "films": ("Box Office Revenue (billions)", ["Year"], 1),
    "food": None,
    "programming": ("Year 2025 (Projected)", ["Year 2020"], 1),
    "olympics": ("Gold", ["Silver", "Bronze"], 1),
    "cars": ("Highway MPG", ["City MPG"], 1),
    "social_media": None,
}

pytestmark = pytest.mark.skipif(not ARTICLE.is_file(), reason=f"article not found at {ARTICLE}")


def article_blocks() -> dict[str, list[bytes]]:
    """The article's tables as lists of raw lines (bytes), keyed by dataset name."""
    lines = ARTICLE.read_bytes().split(b"\n")
    blocks: dict[str, list[bytes]] = {}
    caption = None
    for i, line in enumerate(lines):
        if line.startswith(b"Table of "):
            caption = line.decode()
        elif line.startswith(b"|") and not lines[i - 1].startswith(b"|"):
            end = i
            while end < len(lines) and lines[end].startswith(b"|"):
                end += 1
            blocks[CAPTIONS[caption]] = lines[i:end]
    return blocks


def article_cells(name: str) -> list[list[str]]:
    """Header + rows of one article table, cells as printed (padding and edge pipes removed)."""
    if name == "table1":  # whitespace-separated: header "Dataset Cost Function", rows "X Y v"
        lines = ARTICLE.read_text("utf-8").split("\n")
        i = lines.index("Dataset Cost Function")
        return [lines[i].split(" ", 1)] + [lines[i + k].rsplit(" ", 1) for k in (1, 2)]
    return [[c.strip() for c in ln.decode().strip().strip("|").split("|")]
            for ln in article_blocks()[name]]


def test_article_has_the_expected_tables():
    assert set(article_blocks()) == set(CAPTIONS.values())
    assert {p.stem for p in DATA.glob("*.yaml")} == set(MODELS)


@pytest.mark.parametrize("name", sorted(CAPTIONS.values()))
def test_data_file_is_a_byte_copy_of_the_article(name):
    assert (DATA / f"{name}.md").read_bytes() == b"\n".join(article_blocks()[name]) + b"\n"


def test_tricky_bytes_are_kept():
    assert b"| Cho Oyu | 8,188 | Nepal, China | Moderately Difficult|\n" in (
        DATA / "mountains.md").read_bytes()
    assert b"| United States | 1,061| 859 | 748 |" in (DATA / "olympics.md").read_bytes()
    assert "Episode VII \u2013 The Force".encode() in (DATA / "films.md").read_bytes()
    assert (DATA / "table1.md").read_text("utf-8") == (
        "| Dataset | Cost Function |\n| Dataset A | 0.5 |\n| Dataset B | 0.7 |\n")


def _same(printed: str, value, ctype: str) -> bool:
    if ctype in ("int", "float"):
        return Decimal(printed.replace(",", "")) == Decimal(repr(value.item()))
    return isinstance(value, str) and value == printed


@pytest.mark.parametrize("name", sorted(MODELS))
def test_round_trip_every_cell(name, tmp_path):
    spec_path = DATA / f"{name}.yaml"
    spec = load_spec(spec_path)
    assert find_table(spec_path, spec) == DATA / f"{name}.md"
    out = tmp_path / "validated.parquet"
    outcome = run_ingest_validate(spec_path, out, tmp_path / "validation.json",
                                  tmp_path / "rejected.csv")
    assert outcome.report["status"] == "passed"
    assert outcome.report["rows"] == {"read": 6 if name != "table1" else 2,
                                      "kept": 6 if name != "table1" else 2, "rejected": 0,
                                      "with_failures": 0}
    frame = pd.read_parquet(out)
    header, *rows = article_cells(name)
    assert list(frame.columns) == header
    assert len(frame) == len(rows)
    types = {c["name"]: c["type"] for c in spec["columns"]}
    for i, row in enumerate(rows):
        for column, printed in zip(header, row, strict=True):
            value = frame[column].iloc[i]
            assert _same(printed, value, types[column]), (name, i, column, printed, value)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models(name):
    spec = load_spec(DATA / f"{name}.yaml")
    expected = MODELS[name]
    if expected is None:
        assert spec["model"] is None and spec["why"]
    else:
        model = spec["model"]
        assert (model["target"], model["features"], model["degree"]) == expected
        assert model["intercept"] is True


def test_difficulty_is_an_ordered_category(tmp_path):
    out = tmp_path / "v.parquet"
    run_ingest_validate(DATA / "mountains.yaml", out, tmp_path / "v.json")
    col = pd.read_parquet(out)["Climbing Difficulty"]
    assert col.cat.ordered
    assert list(col.cat.categories) == ["Moderately Difficult", "Difficult", "Challenging",
                                        "Very Difficult", "Extremely Difficult"]
    assert col.cat.codes.tolist() == [4, 3, 2, 3, 1, 0]
