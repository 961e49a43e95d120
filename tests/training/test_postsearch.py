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
        maps, truths, thresholds=(0.5, 0.7), min_areas=(0, 16), full_shape=(64, 64)
    )
    # threshold 0.7 would lose the true region, min area 16 removes the speck;
    # the negative image's 100-pixel blob survives either way -> its Dice is 0
    assert res.mask_threshold == 0.5 and res.min_area == 16
    assert res.min_area_full == 64  # 16 px at 32x32 is 64 px at 64x64
    assert res.kaggle_dice == pytest.approx(0.5)
    assert res.gate_threshold is None
    assert len(res.table) == 4


def test_search_uses_the_classification_gate():
    maps, truths = _case()
    res = search_postprocess(
        maps,
        truths,
        class_probabilities=[0.9, 0.2],
        thresholds=(0.5,),
        min_areas=(16,),
        gates=(0.5,),
    )
    # gating the negative image (p=0.2 < 0.5) empties its mask: Dice 1 there
    assert res.gate_threshold == 0.5
    assert res.kaggle_dice == pytest.approx(1.0)
    assert res.dice_positive == pytest.approx(1.0)


def test_search_needs_matching_inputs():
    with pytest.raises(ValueError):
        search_postprocess([], [])
