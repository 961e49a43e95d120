from __future__ import annotations

import cv2
import numpy as np
import pytest

from pneumoviewer.core.postprocessing import (
    PostprocessParams,
    postprocess,
    remove_small_components,
)


def smooth_map(shape=(256, 256), seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 4)
    return ((m - m.min()) / (m.max() - m.min())).astype(np.float32)


def blobs_map() -> np.ndarray:
    """A 100 px square, a 9 px square and a 5 px diagonal line (one 8-connected piece)."""
    prob = np.zeros((64, 64), np.float32)
    prob[5:15, 5:15] = 0.9  # 10 x 10 = 100 px
    prob[40:43, 40:43] = 0.8  # 3 x 3 = 9 px
    for i in range(5):
        prob[20 + i, 50 + i] = 0.7  # diagonal: 5 px, connected only through corners
    return prob


def test_threshold_is_inclusive():
    prob = np.array([[0.49, 0.5, 0.51]], np.float32)
    mask = postprocess(prob, PostprocessParams(mask_threshold=0.5))
    assert mask.dtype == np.bool_
    assert mask.tolist() == [[False, True, True]]


def test_threshold_monotonic():
    prob = smooth_map()
    previous = None
    counts = []
    for t in np.linspace(0.0, 1.0, 11):
        mask = postprocess(prob, PostprocessParams(mask_threshold=float(t)))
        counts.append(int(mask.sum()))
        if previous is not None:
            assert not np.any(mask & ~previous)  # a higher threshold only removes pixels
        previous = mask
    assert counts == sorted(counts, reverse=True)
    assert counts[0] == prob.size and counts[-1] == 1  # exactly one pixel equals the max 1.0


def test_min_area_exact_counts_with_8_connectivity():
    prob = blobs_map()
    base = postprocess(prob, PostprocessParams(mask_threshold=0.5))
    assert base.sum() == 100 + 9 + 5
    # min_area 5 keeps all three (the diagonal is one 8-connected component of 5 px).
    assert postprocess(prob, PostprocessParams(min_area=5)).sum() == 114
    # min_area 6 drops the diagonal; 10 drops the 3 x 3 too; 101 drops everything.
    assert postprocess(prob, PostprocessParams(min_area=6)).sum() == 109
    kept = postprocess(prob, PostprocessParams(min_area=10))
    assert kept.sum() == 100
    assert kept[5:15, 5:15].all()
    assert postprocess(prob, PostprocessParams(min_area=101)).sum() == 0


def test_min_area_zero_and_one_keep_everything():
    prob = blobs_map()
    for a in (0, 1):
        assert postprocess(prob, PostprocessParams(min_area=a)).sum() == 114


def test_remove_small_components_accepts_integer_masks():
    mask = (blobs_map() > 0).astype(np.uint8)
    out = remove_small_components(mask, 10)
    assert out.dtype == np.bool_ and out.sum() == 100


def test_postprocess_does_not_modify_input_and_returns_new_array():
    prob = blobs_map()
    before = prob.copy()
    mask = postprocess(prob, PostprocessParams(min_area=10))
    np.testing.assert_array_equal(prob, before)
    assert not np.shares_memory(mask, prob)


@pytest.mark.parametrize(
    ("enabled", "class_probability", "expected_pixels"),
    [
        (True, 0.3, 0),  # 0.3 < 0.5: gate empties the mask
        (True, 0.5, 114),  # not below the gate threshold
        (True, None, 114),  # no classifier output: gate cannot act
        (False, 0.3, 114),  # gate disabled
    ],
)
def test_gate(enabled, class_probability, expected_pixels):
    params = PostprocessParams(gate_enabled=enabled, gate_threshold=0.5)
    mask = postprocess(blobs_map(), params, class_probability=class_probability)
    assert mask.shape == (64, 64) and mask.dtype == np.bool_
    assert mask.sum() == expected_pixels


def test_nan_never_passes():
    prob = np.array([[np.nan, 1.0]], np.float32)
    assert postprocess(prob, PostprocessParams(mask_threshold=0.0)).tolist() == [[False, True]]


@pytest.mark.parametrize(
    "kwargs", [{"min_area": -1}, {"min_area": 2.5}, {"mask_threshold": float("nan")}]
)
def test_params_validation(kwargs):
    with pytest.raises(ValueError):
        PostprocessParams(**kwargs)


def test_rejects_non_2d_map():
    with pytest.raises(ValueError, match="2-D"):
        postprocess(np.zeros((2, 2, 2), np.float32), PostprocessParams())
