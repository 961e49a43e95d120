from __future__ import annotations

import numpy as np
import pytest

from model_training.calibration import fit_platt, platt_probability


def test_platt_recovers_known_parameters():
    rng = np.random.default_rng(0)
    a_true, b_true = -2.0, 0.5
    m = rng.normal(0, 1.5, 40_000)
    y = rng.random(m.size) < platt_probability(m, a_true, b_true)
    a, b = fit_platt(m, y)
    assert a == pytest.approx(a_true, abs=0.08)
    assert b == pytest.approx(b_true, abs=0.06)


def test_platt_uses_smoothed_targets_on_separable_data():
    # perfectly separated margins: without Platt's target smoothing a would run to -inf
    m = np.array([-2.0, -1.0, 1.0, 2.0])
    y = np.array([0, 0, 1, 1])
    a, b = fit_platt(m, y)
    p = platt_probability(m, a, b)
    assert np.isfinite(a) and a < 0
    # targets (N+ + 1)/(N+ + 2) = 0.75 and 1/(N- + 2) = 0.25 bound the fit
    assert p[3] < 0.95 and p[0] > 0.05
    assert p[2] > 0.5 > p[1]


def test_platt_probability_is_stable_for_large_inputs():
    p = platt_probability(np.array([-1e4, 1e4]), 1.0, 0.0)
    assert p.tolist() == [1.0, 0.0]
