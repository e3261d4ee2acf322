"""Learning-rate schedules against hand-computed values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from descent.optim.schedules import (
    SCHEDULES,
    PlateauSchedule,
    constant,
    cosine_annealing,
    exponential_decay,
    inverse_time,
    make_schedule,
    step_decay,
)


def test_constant():
    assert [constant(0.3)(t) for t in (0, 1, 1000)] == [0.3, 0.3, 0.3]


def test_step_decay_hand_values():
    s = step_decay(1.0, every=10, factor=0.5)
    assert [s(t) for t in (0, 9, 10, 19, 20, 35)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.125]


def test_exponential_decay_hand_values():
    s = exponential_decay(2.0, rate=0.1)
    assert s(0) == 2.0
    assert s(10) == pytest.approx(2.0 * math.exp(-1.0), rel=1e-15)
    assert exponential_decay(2.0, rate=0.0)(100) == 2.0


def test_inverse_time_hand_values():
    s = inverse_time(1.0, decay=0.5)
    assert [s(t) for t in (0, 1, 2, 6)] == [1.0, 1 / 1.5, 0.5, 0.25]


def test_cosine_annealing_without_restarts_hand_values():
    s = cosine_annealing(1.0, period=10, min_lr=0.1)
    assert s(0) == 1.0
    assert s(5) == pytest.approx(0.55, rel=1e-15)  # half way: min + (max - min)/2
    assert s(10) == pytest.approx(0.1) and s(500) == pytest.approx(0.1)


def test_cosine_warm_restarts_with_constant_period():
    s = cosine_annealing(1.0, period=4, restarts=True)
    expected = [1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5, 0.5 * (1 + math.cos(3 * math.pi / 4))]
    for t in range(12):
        assert s(t) == pytest.approx(expected[t % 4], abs=1e-15)


def test_cosine_warm_restarts_with_growing_periods():
    # T_0 = 2, T_1 = 4, T_2 = 8: restarts at steps 0, 2, 6, 14 (SGDR, Loshchilov & Hutter 2017)
    s = cosine_annealing(1.0, period=2, restarts=True, period_mult=2)
    for restart in (0, 2, 6, 14):
        assert s(restart) == pytest.approx(1.0)
    assert s(1) == pytest.approx(0.5)
    assert s(4) == pytest.approx(0.5)  # 2 steps into a 4-step cycle
    assert s(10) == pytest.approx(0.5)  # 4 steps into an 8-step cycle
    assert s(5) == pytest.approx(0.5 * (1 + math.cos(3 * math.pi / 4)))


@settings(max_examples=50, deadline=None)
@given(st.floats(1e-3, 10), st.integers(1, 50), st.floats(0, 1), st.booleans(),
       st.sampled_from([1.0, 1.5, 2.0, 3.0]), st.integers(0, 5000))
def test_cosine_stays_within_bounds(lr0, period, frac, restarts, mult, step):
    s = cosine_annealing(lr0, period, lr0 * frac, restarts=restarts, period_mult=mult)
    assert lr0 * frac - 1e-12 <= s(step) <= lr0 + 1e-12


@settings(max_examples=40, deadline=None)
@given(st.floats(1e-4, 5), st.integers(1, 30), st.floats(0.05, 1), st.integers(0, 3000))
def test_decays_are_positive_and_non_increasing(lr0, every, factor, step):
    for s in (step_decay(lr0, every, factor), exponential_decay(lr0, factor),
              inverse_time(lr0, factor)):
        assert 0 <= s(step + 1) <= s(step) <= lr0


def test_plateau_schedule_reduces_after_patience_and_respects_min_lr():
    s = PlateauSchedule(1.0, factor=0.5, patience=2, threshold=0.01, min_lr=0.3)
    assert s(0) == 1.0
    assert not s.observe(10.0)  # first observation sets the best
    assert not s.observe(9.0)  # improvement > 1%: reset
    assert not s.observe(8.95) and not s.observe(8.99)  # two bad ones: within patience
    assert s.observe(8.98) and s(123) == 0.5  # third bad one: reduce
    for _ in range(3):
        s.observe(100.0)
    assert s(0) == 0.3  # clipped at min_lr
    for _ in range(3):
        assert not s.observe(100.0)
    assert s.reductions == 2
    s.reset()
    assert s(0) == 1.0 and s.reductions == 0


def test_bad_arguments_raise_value_error():
    for build in (lambda: step_decay(1.0, 0), lambda: step_decay(1.0, 5, factor=1.5),
                  lambda: constant(0.0), lambda: exponential_decay(1.0, -1.0),
                  lambda: cosine_annealing(1.0, 10, min_lr=2.0),
                  lambda: cosine_annealing(1.0, 10, period_mult=0.5),
                  lambda: PlateauSchedule(1.0, factor=1.0),
                  lambda: PlateauSchedule(1.0, patience=-1)):
        with pytest.raises(ValueError):
            build()


def test_make_schedule_dispatch_and_errors():
    assert set(SCHEDULES) == {"constant", "step_decay", "exponential_decay", "inverse_time",
                              "cosine_annealing", "reduce_on_plateau"}
    assert make_schedule("step_decay", 1.0, every=2)(2) == 0.5
    assert isinstance(make_schedule("reduce_on_plateau", 0.1, patience=3), PlateauSchedule)
    with pytest.raises(ValueError, match="unknown schedule 'linear'; valid: constant"):
        make_schedule("linear", 1.0)
    with pytest.raises(ValueError, match="bad option for schedule 'step_decay'"):
        make_schedule("step_decay", 1.0, every=2, gamma=0.1)
