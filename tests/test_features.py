"""Tests for descent.features: design building, standardization and its exact inverse, I/O."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from descent.features import (
    Design,
    build_design,
    from_original,
    load_design,
    penalty_weights,
    save_design,
    standardize,
    std_penalty_weights,
    to_original,
)
from descent.objective import LeastSquares, loss_in_original_units

SLEEP = pd.DataFrame(
    {
        "Sleep Duration (hours)": [4.0, 5, 6, 7, 8, 9],
        "Performance Index": [55.0, 65, 75, 85, 95, 80],
    }
)
SLEEP_SPEC = {
    "columns": [
        {"name": "Sleep Duration (hours)", "type": "float"},
        {"name": "Performance Index", "type": "float"},
    ],
    "model": {
        "target": "Performance Index",
        "features": ["Sleep Duration (hours)"],
        "degree": 2,
    },
}


def mixed_frame() -> tuple[pd.DataFrame, dict]:
    """A small table with every column type and its spec."""
    df = pd.DataFrame(
        {
            "size": ["small", "large", "medium", "small"],
            "colour": ["red", "green", "blue", "green"],
            "age": [1, 2, 3, 4],
            "used": [True, False, True, True],
            "name": ["b", "a", "c", "a"],
            "price": [10.0, 20.0, 15.0, 12.5],
        }
    )
    spec = {
        "columns": [
            {"name": "size", "type": "category", "categories": ["small", "medium", "large"],
             "ordered": True},
            {"name": "colour", "type": "category", "categories": ["red", "green", "blue"]},
            {"name": "age", "type": "int"},
            {"name": "used", "type": "bool"},
            {"name": "name", "type": "str"},
            {"name": "price", "type": "float"},
        ],
        "model": {
            "target": "price",
            "features": ["age", "size", "colour", "used", "name"],
            "degree": 3,
        },
    }
    return df, spec


def test_sleep_polynomial_terms_and_values():
    design = build_design(SLEEP, SLEEP_SPEC)
    assert design.terms == ["intercept", "Sleep Duration (hours)", "Sleep Duration (hours)^2"]
    x = np.arange(4.0, 10.0)
    np.testing.assert_array_equal(design.X, np.column_stack([np.ones(6), x, x**2]))
    np.testing.assert_array_equal(design.y, [55, 65, 75, 85, 95, 80])
    assert design.target == "Performance Index"
    assert design.intercept
    np.testing.assert_allclose(design.center, [0.0, x.mean(), (x**2).mean()])
    np.testing.assert_allclose(design.scale, [1.0, x.std(), (x**2).std()])


def test_mixed_types_one_hot_ordinal_bool_and_str():
    df, spec = mixed_frame()
    design = build_design(df, spec)
    assert design.terms == [
        "intercept",
        "age", "age^2", "age^3",
        "size",
        "colour=green", "colour=blue",
        "used",
        "name=b", "name=c",
    ]
    expected = np.array(
        [
            [1, 1, 1, 1, 0, 0, 0, 1, 1, 0],
            [1, 2, 4, 8, 2, 1, 0, 0, 0, 0],
            [1, 3, 9, 27, 1, 0, 1, 1, 0, 1],
            [1, 4, 16, 64, 0, 1, 0, 1, 0, 0],
        ],
        dtype=float,
    )
    np.testing.assert_array_equal(design.X, expected)


def test_no_intercept_means_no_centering():
    spec = {**SLEEP_SPEC, "model": {**SLEEP_SPEC["model"], "intercept": False, "degree": 1}}
    design = build_design(SLEEP, spec)
    assert design.terms == ["Sleep Duration (hours)"]
    assert not design.intercept
    np.testing.assert_array_equal(design.center, [0.0])
    with pytest.raises(ValueError, match="intercept"):
        to_original(np.ones(1), np.ones(1), np.ones(1), intercept=False)


def test_categorical_column_with_pandas_category_dtype():
    df, spec = mixed_frame()
    df["colour"] = df["colour"].astype("category")
    np.testing.assert_array_equal(build_design(df, spec).X, build_design(*mixed_frame()).X)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda df, spec: df.drop(columns=["age"]), "'age' is missing"),
        (lambda df, spec: df.assign(price=["a", "b", "c", "d"]), "'price' must be numeric"),
        (lambda df, spec: df.assign(colour=["red", "pink", "red", "red"]), "'colour'"),
        (lambda df, spec: df.assign(age=[1, None, 3, 4]), "'age' has missing values"),
        (lambda df, spec: df.assign(used=[True, "maybe", True, False]), "'used'"),
    ],
)
def test_bad_tables_raise_naming_the_column(mutate, message):
    df, spec = mixed_frame()
    with pytest.raises(ValueError, match=message):
        build_design(mutate(df, spec), spec)


def test_bad_specs_raise_clear_errors():
    df, spec = mixed_frame()
    spec["columns"][2]["type"] = "complex"
    with pytest.raises(ValueError, match="column 'age': unknown type 'complex'"):
        build_design(df, spec)
    df, spec = mixed_frame()
    spec["model"]["target"] = "name"
    spec["model"]["features"].remove("name")
    with pytest.raises(ValueError, match="target column 'name' must be int or float"):
        build_design(df, spec)
    df, spec = mixed_frame()
    spec["model"]["features"].append("weight")
    with pytest.raises(ValueError, match="'weight' is not declared"):
        build_design(df, spec)
    with pytest.raises(ValueError, match="model: none"):
        build_design(df, {**spec, "model": "none"})
    with pytest.raises(ValueError, match="degree"):
        build_design(df, {**spec, "model": {**spec["model"], "degree": 0}})


def test_standardize_gives_zero_mean_unit_std_and_keeps_constant_columns():
    df, spec = mixed_frame()
    df["const"] = 0.1
    spec["columns"].append({"name": "const", "type": "float"})
    spec["model"]["features"].append("const")
    design = build_design(df, spec)
    assert design.terms[-3:] == ["const", "const^2", "const^3"]
    X_std, center, scale = standardize(design, chunk_rows=3)
    np.testing.assert_array_equal(center, design.center)
    np.testing.assert_array_equal(X_std[:, 0], 1.0)
    np.testing.assert_allclose(X_std[:, 1:-3].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(X_std[:, 1:-3].std(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(scale[-3:], 1.0)  # constant columns: std ≈ 0 → scale 1
    np.testing.assert_allclose(X_std[:, -3:], 0.0, atol=1e-15)


def test_penalty_weights_and_their_standardized_form():
    l1, l2 = penalty_weights(["intercept", "x", "x^2"], alpha=0.4, l1_ratio=0.25)
    np.testing.assert_allclose(l1, [0.0, 0.1, 0.1])
    np.testing.assert_allclose(l2, [0.0, 0.3, 0.3])
    l1s, l2s = std_penalty_weights(l1, l2, np.array([1.0, 2.0, 4.0]))
    np.testing.assert_allclose(l1s, [0.0, 0.05, 0.025])
    np.testing.assert_allclose(l2s, [0.0, 0.075, 0.01875])
    with pytest.raises(ValueError):
        penalty_weights(["x"], alpha=1.0, l1_ratio=1.5)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(3, 30),
    k=st.integers(1, 4),
    alpha=st.floats(0.0, 2.0),
    l1_ratio=st.floats(0.0, 1.0),
    intercept=st.booleans(),
)
def test_back_transform_preserves_predictions_and_objective(seed, n, k, alpha, l1_ratio, intercept):
    rng = np.random.default_rng(seed)
    raw = rng.normal(rng.uniform(-50, 50, k), rng.uniform(0.01, 20, k), size=(n, k))
    X = np.column_stack([np.ones(n), raw]) if intercept else raw
    terms = (["intercept"] if intercept else []) + [f"x{j}" for j in range(k)]
    center = X.mean(axis=0) if intercept else np.zeros(X.shape[1])
    scale = X.std(axis=0)
    if intercept:
        center[0], scale[0] = 0.0, 1.0
    design = Design(X, rng.standard_normal(n), terms, "y", center, scale, intercept)
    X_std, _, _ = standardize(design)
    w_std = rng.standard_normal(X.shape[1]) * 3
    w = to_original(w_std, center, scale, intercept)
    pred = X_std @ w_std
    np.testing.assert_allclose(X @ w, pred, rtol=1e-9, atol=1e-9 * np.abs(pred).max())
    back = from_original(w, center, scale, intercept)
    np.testing.assert_allclose(back, w_std, rtol=1e-9, atol=1e-9)
    l1, l2 = penalty_weights(terms, alpha, l1_ratio)
    l1s, l2s = std_penalty_weights(l1, l2, scale)
    original = loss_in_original_units(X, design.y, w, l1, l2)
    standardized = LeastSquares(X_std, design.y, l1_weights=l1s, l2_weights=l2s).value(w_std)
    assert standardized == pytest.approx(original, rel=1e-9)


def test_save_and_load_round_trip_with_memmap(tmp_path):
    df, spec = mixed_frame()
    design = build_design(df, spec)
    path = tmp_path / "design.npz"
    save_design(path, design)
    assert path.exists()
    mapped = load_design(path)
    assert isinstance(mapped.X, np.memmap)
    in_memory = load_design(path, mmap=False)
    assert not isinstance(in_memory.X, np.memmap)
    for loaded in (mapped, in_memory):
        np.testing.assert_array_equal(loaded.X, design.X)
        np.testing.assert_array_equal(loaded.y, design.y)
        np.testing.assert_array_equal(loaded.center, design.center)
        np.testing.assert_array_equal(loaded.scale, design.scale)
        assert loaded.terms == design.terms
        assert loaded.target == design.target
        assert loaded.intercept is True
    with np.load(path) as data:  # still a plain npz for any other reader
        assert set(data.files) == {"X", "y", "terms", "target", "center", "scale", "intercept"}
