from __future__ import annotations

import numpy as np
import pytest

from model_training.postsearch import search_postprocess


def _case():
    truth = np.zeros((32, 32), bool)
    truth[8:20, 8:20] = True
    prob = np.where(truth, 0.65, 0.1).astype(np.float32)
    prob[28:30, 28:30] = 0.9  # a 4-pixel false positive speck
    empty = np.zeros((32, 32), bool)
    noisy = np.full((32, 32), 0.1, np.float32)
    noisy[2:12, 2:12] = 0.8  # a large false positive on a negative image
    return [prob, noisy], [truth, empty]


def test_search_finds_threshold_and_min_area():
    maps, truths = _case()
    res = search_postprocess(
        maps,
        truths,
        scheme="components",
        thresholds=(0.5, 0.7),
        min_areas=(0, 16),
        full_shape=(64, 64),
    )
    # threshold 0.7 would lose the true region, min area 16 removes the speck;
    # the negative image's 100-pixel blob survives either way -> its Dice is 0
    assert (res.scheme, res.mask_threshold, res.min_area) == ("components", 0.5, 16)
    assert res.top_threshold is None and res.gate_enabled
    assert res.min_area_full == 64  # 16 px at 32x32 is 64 px at 64x64
    assert res.kaggle_mean_dice == pytest.approx(0.5)
    assert res.gate_threshold is None
    assert len(res.table) == 4


def test_search_uses_the_classification_gate():
    maps, truths = _case()
    res = search_postprocess(
        maps,
        truths,
        class_probabilities=[0.9, 0.2],
        scheme="components",
        thresholds=(0.5,),
        min_areas=(16,),
        gates=(None, 0.5),
    )
    # gating the negative image (p=0.2 < 0.5) empties its mask: Dice 1 there
    assert res.gate_enabled and res.gate_threshold == 0.5
    assert [r["gate_threshold"] for r in res.table] == [None, 0.5]
    assert res.kaggle_mean_dice == pytest.approx(1.0)
    assert res.dice_positive == pytest.approx(1.0)


def test_search_needs_matching_inputs():
    with pytest.raises(ValueError):
        search_postprocess([], [])


def test_triplet_search_on_the_issue_example():
    # A positive image whose truth is a faint 100 px region plus a confident 9 px core, and a
    # negative image with a faint 100 px blob and a confident 9 px speck.
    truth = np.zeros((32, 32), bool)
    truth[2:12, 2:12] = True
    pos = np.where(truth, 0.5, 0.05).astype(np.float32)
    pos[4:9, 4:9] = 0.9  # 25 confident pixels inside the truth
    neg = np.full((32, 32), 0.05, np.float32)
    neg[15:25, 15:25] = 0.5
    neg[28:31, 28:31] = 0.9  # 9 confident pixels
    res = search_postprocess(
        [pos, neg],
        [truth, np.zeros((32, 32), bool)],
        thresholds=(0.4, 0.6),
        top_thresholds=(0.75,),
        min_areas=(0, 20),
        full_shape=(64, 64),
    )
    # (top 0.75, min area 20, bottom 0.4): the positive keeps its 100 px (Dice 1), the
    # negative has only 9 confident pixels -> empty (Dice 1). No component rule does both.
    assert (res.scheme, res.top_threshold, res.min_area, res.mask_threshold) == (
        "triplet",
        0.75,
        20,
        0.4,
    )
    assert res.min_area_full == 80 and res.kaggle_mean_dice == 1.0
    assert res.gate_enabled and res.gate_threshold is None
    assert len(res.table) == 4  # 1 top x 2 areas x 2 bottoms
    comp = search_postprocess(
        [pos, neg],
        [truth, np.zeros((32, 32), bool)],
        scheme="components",
        thresholds=(0.4, 0.6),
        min_areas=(0, 20),
    )
    assert comp.kaggle_mean_dice < 1.0


def test_default_gate_is_the_decision_threshold():
    maps, truths = _case()
    res = search_postprocess(
        maps,
        truths,
        class_probabilities=[0.9, 0.2],
        thresholds=(0.5,),
        top_thresholds=(0.6,),
        min_areas=(0,),
        decision_threshold=0.5,
    )
    assert res.gate_enabled and res.gate_threshold is None  # None: the decision threshold
    assert [r["gate_threshold"] for r in res.table] == [0.5]
    assert res.kaggle_mean_dice > 0.9  # the negative (p 0.2) is gated to empty


def test_search_rejects_an_unknown_scheme():
    maps, truths = _case()
    with pytest.raises(ValueError, match="scheme"):
        search_postprocess(maps, truths, scheme="watershed")
