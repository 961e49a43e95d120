from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pneumoviewer.core.metrics import (
    SUMMARY_KEYS,
    ImageOutcome,
    SummaryAccumulator,
    classification_metrics,
    dice,
    kaggle_mean_dice,
    roc_auc,
    summarise,
)

P = np.array([[1, 1, 1, 0]], bool)  # 3 pixels
T = np.array([[0, 0, 1, 1]], bool)  # 2 pixels, 1 in common with P
EMPTY = np.zeros((1, 4), bool)


def test_dice_hand_computed():
    # 2 * |P & T| / (|P| + |T|) = 2 * 1 / (3 + 2) = 0.4
    assert dice(P, T) == pytest.approx(0.4)
    assert dice(T, P) == pytest.approx(0.4)
    assert dice(P, P) == 1.0
    assert dice(P, ~P) == 0.0


def test_dice_empty_cases():
    assert dice(EMPTY, EMPTY) == 1.0
    assert dice(EMPTY, EMPTY, empty_score=0.0) == 0.0
    assert dice(EMPTY, T) == 0.0  # 2 * 0 / (0 + 2)
    assert dice(P, EMPTY) == 0.0


def test_dice_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shape"):
        dice(P, np.zeros((2, 2), bool))


def test_kaggle_mean_dice_hand_computed():
    # Images: empty/empty -> 1; empty prediction, non-empty truth -> 0; P vs T -> 0.4.
    # Mean = (1 + 0 + 0.4) / 3 = 0.4666...
    preds = [EMPTY, EMPTY, P]
    truths = [EMPTY, T, T]
    assert kaggle_mean_dice(preds, truths) == pytest.approx(1.4 / 3)
    # Generators work too (consumed once).
    assert kaggle_mean_dice(iter(preds), (t for t in truths)) == pytest.approx(1.4 / 3)


def test_kaggle_mean_dice_length_mismatch_and_empty():
    with pytest.raises(ValueError, match="length"):
        kaggle_mean_dice([EMPTY, EMPTY], [EMPTY])
    assert math.isnan(kaggle_mean_dice([], []))


def test_roc_auc_hand_computed():
    # Positives 0.35, 0.8 vs negatives 0.1, 0.4: pairs won 0.35>0.1, 0.8>0.1, 0.8>0.4;
    # lost 0.35<0.4 -> 3 / 4.
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)


def test_roc_auc_ties_count_half():
    # Ranks: 0.2 -> 1, 0.5, 0.5 -> 2.5 each, 0.9 -> 4. Positives: 2.5 + 4 = 6.5.
    # U = 6.5 - 2 * 3 / 2 = 3.5; AUC = 3.5 / (2 * 2) = 0.875
    # (pairs: tie 0.5/0.5 = 1/2, 0.5>0.2, 0.9>0.5, 0.9>0.2).
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == pytest.approx(0.875)
    assert roc_auc([1, 0, 1, 0], [0.3] * 4) == pytest.approx(0.5)


def test_roc_auc_extremes_and_one_class():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == 0.0
    assert math.isnan(roc_auc([1, 1, 1], [0.1, 0.2, 0.3]))
    assert math.isnan(roc_auc([], []))


def test_roc_auc_rejects_bad_input():
    with pytest.raises(ValueError):
        roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError):
        roc_auc([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError):
        roc_auc([0, 1, 1], [0.1, 0.2])


def test_classification_metrics_hand_computed():
    y = [1, 1, 1, 0, 0, 0, 0]
    s = [0.9, 0.6, 0.2, 0.7, 0.1, 0.3, 0.5]
    m = classification_metrics(y, s, threshold=0.5)
    # Called positive (score >= 0.5): 0.9, 0.6 (TP), 0.7, 0.5 (FP); negative: 0.2 (FN),
    # 0.1, 0.3 (TN).
    assert (m.tp, m.fp, m.tn, m.fn) == (2, 2, 2, 1)
    assert m.accuracy == pytest.approx(4 / 7)
    assert m.sensitivity == pytest.approx(2 / 3)
    assert m.specificity == pytest.approx(2 / 4)
    # AUC: 0.9 beats all 4 negatives, 0.6 beats 3 (0.1, 0.3, 0.5), 0.2 beats 1 (0.1):
    # 8 of 3 * 4 = 12 pairs.
    assert m.auc == pytest.approx(8 / 12)


def test_classification_metrics_to_dict_is_json_safe():
    m = classification_metrics([1, 1], [0.2, 0.9])
    d = m.to_dict()
    assert d["specificity"] is None and d["auc"] is None  # no negatives
    assert d["sensitivity"] == 0.5 and d["tp"] == 1 and d["fn"] == 1
    assert set(d) == {"accuracy", "sensitivity", "specificity", "auc", "tp", "fp", "tn", "fn"}
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert (m.tp, m.fp, m.tn, m.fn) == (1, 0, 0, 1) and m.accuracy == 0.5


def _outcomes() -> list[ImageOutcome]:
    return [
        ImageOutcome("a", True, 0.9, True, 0.6),  # TP
        ImageOutcome("b", True, 0.3, False, 0.0),  # FN
        ImageOutcome("c", False, 0.2, False, 1.0),  # TN
        ImageOutcome("d", False, 0.4, True, 0.0),  # FP (positive call from a lower threshold)
        ImageOutcome("e", None, 0.5, True, None),  # no ground truth
        ImageOutcome("f", True, None, None, None),  # not analysed
        ImageOutcome("g", True, 0.99, True, 0.9, refused=True),  # refused by the quality gate
    ]


def test_summarise_hand_computed():
    s = summarise(_outcomes())
    assert (s.n_images, s.n_analysed, s.n_refused, s.n_evaluated) == (7, 5, 1, 4)
    assert (s.n_truth_positive, s.n_truth_negative, s.n_with_dice) == (2, 2, 4)
    assert (s.tp, s.fp, s.tn, s.fn) == (1, 1, 1, 1)
    assert s.accuracy == 0.5 and s.sensitivity == 0.5 and s.specificity == 0.5
    # AUC of the probabilities: positives 0.9, 0.3 vs negatives 0.2, 0.4: 3 of 4 pairs.
    assert s.auc == pytest.approx(0.75)
    assert s.dice_positive == pytest.approx((0.6 + 0.0) / 2)
    assert s.kaggle_mean_dice == pytest.approx((0.6 + 0.0 + 1.0 + 0.0) / 4)


def test_summary_calls_come_from_the_outcome_not_the_probability():
    # p = 0.9 but called negative (e.g. a segmenter-only rule): counted as FN, not TP.
    s = summarise([ImageOutcome("x", True, 0.9, False, None)])
    assert (s.tp, s.fn) == (0, 1)


def test_summary_auc_needs_every_probability_and_nan_becomes_null():
    s = summarise(
        [ImageOutcome("a", True, None, True, 1.0), ImageOutcome("b", False, None, False, 1.0)]
    )
    assert s.accuracy == 1.0 and math.isnan(s.auc)
    d = s.to_dict()
    assert tuple(d) == SUMMARY_KEYS
    assert d["auc"] is None and d["dice_positive"] == 1.0
    assert json.loads(json.dumps(d, allow_nan=False)) == d


def test_empty_summary_is_all_undefined():
    s = summarise([])
    assert (s.n_images, s.n_evaluated, s.tp) == (0, 0, 0)
    for key in ("accuracy", "sensitivity", "specificity", "auc", "dice_positive"):
        assert math.isnan(getattr(s, key))


def test_accumulator_replaces_by_image_id_and_equals_summarise():
    acc = SummaryAccumulator()
    for o in _outcomes():
        acc.add(o)
    assert len(acc) == 7 and "a" in acc
    assert acc.summary() == summarise(_outcomes())
    acc.add(ImageOutcome("b", True, 0.3, True, 0.5))  # thresholds moved: b is now a TP
    s = acc.summary()
    assert (s.tp, s.fn, s.n_images) == (2, 0, 7)
    acc.discard("b")
    acc.discard("nope")
    assert acc.summary().n_images == 6 and [o.image_id for o in acc][:2] == ["a", "c"]
    acc.clear()
    assert len(acc) == 0
