"""Platt scaling and classifier outputs -> probabilities: one implementation for all."""

from __future__ import annotations

import numpy as np
import pytest

from pneumoviewer.core.inference.calibration import (
    fit_platt,
    head_scores,
    outputs_to_probability,
    platt_probability,
    scores_to_probability,
)
from pneumoviewer.core.inference.manifest import ClassifierSpec


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


def test_platt_probability_matches_the_formula_and_keeps_shape():
    m = np.array([[-3.0, 0.25], [1.0, 40.0]])
    want = 1.0 / (1.0 + np.exp(-2.0 * m + 0.5))
    got = platt_probability(m, -2.0, 0.5)
    assert got.shape == (2, 2) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert float(platt_probability(0.25, -2.0, 0.5)) == 0.5


def test_outputs_to_probability_per_head():
    svm = np.array([[0.0], [2.0]], dtype=np.float32)
    p, s = outputs_to_probability(svm, head="svm")
    np.testing.assert_allclose(p, [0.5, 1 / (1 + np.exp(-2.0))], rtol=1e-12)
    assert s.tolist() == [0.0, 2.0]
    p, _ = outputs_to_probability(svm, head="svm", platt=(-1.0, 2.0))
    assert p[1] == pytest.approx(0.5)
    logits = np.array([[1.0, 3.0]])
    p, s = outputs_to_probability(logits, head="softmax", platt=(5.0, 5.0))  # ignored
    assert s.tolist() == [2.0]
    assert p[0] == pytest.approx(np.exp(3) / (np.exp(1) + np.exp(3)), rel=1e-12)


def test_scores_to_probability_reads_the_spec():
    spec = ClassifierSpec(head="svm", platt_a=-2.0, platt_b=0.5)
    p, s = scores_to_probability(np.array([[0.25]]), spec)
    assert (p.tolist(), s.tolist()) == ([0.5], [0.25])


@pytest.mark.parametrize(
    ("raw", "head", "match"),
    [
        (np.zeros((2, 2)), "svm", "one output"),
        (np.zeros((2, 1)), "softmax", "two outputs"),
        (np.zeros((2, 1)), "tree", "head must be one of svm, softmax"),
    ],
)
def test_head_scores_refuses_wrong_shapes_and_heads(raw, head, match):
    with pytest.raises(ValueError, match=match):
        head_scores(raw, head=head)
