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


def C(**kw) -> PostprocessParams:
    """The component scheme."""
    return PostprocessParams(scheme="components", **kw)


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
    mask = postprocess(prob, PostprocessParams(bottom_threshold=0.5))
    assert mask.dtype == np.bool_
    assert mask.tolist() == [[False, True, True]]


def test_threshold_monotonic():
    prob = smooth_map()
    previous = None
    counts = []
    for t in np.linspace(0.0, 1.0, 11):
        mask = postprocess(prob, PostprocessParams(bottom_threshold=float(t)))
        counts.append(int(mask.sum()))
        if previous is not None:
            assert not np.any(mask & ~previous)  # a higher threshold only removes pixels
        previous = mask
    assert counts == sorted(counts, reverse=True)
    assert counts[0] == prob.size and counts[-1] == 1  # exactly one pixel equals the max 1.0


def test_min_area_exact_counts_with_8_connectivity():
    prob = blobs_map()
    base = postprocess(prob, PostprocessParams(scheme="components", bottom_threshold=0.5))
    assert base.sum() == 100 + 9 + 5
    # min_area 5 keeps all three (the diagonal is one 8-connected component of 5 px).
    assert postprocess(prob, C(min_area=5)).sum() == 114
    # min_area 6 drops the diagonal; 10 drops the 3 x 3 too; 101 drops everything.
    assert postprocess(prob, C(min_area=6)).sum() == 109
    kept = postprocess(prob, C(min_area=10))
    assert kept.sum() == 100
    assert kept[5:15, 5:15].all()
    assert postprocess(prob, C(min_area=101)).sum() == 0


def test_min_area_zero_and_one_keep_everything():
    prob = blobs_map()
    for a in (0, 1):
        assert postprocess(prob, C(min_area=a)).sum() == 114


def test_remove_small_components_accepts_integer_masks():
    mask = (blobs_map() > 0).astype(np.uint8)
    out = remove_small_components(mask, 10)
    assert out.dtype == np.bool_ and out.sum() == 100


def test_postprocess_does_not_modify_input_and_returns_new_array():
    prob = blobs_map()
    before = prob.copy()
    mask = postprocess(prob, C(min_area=10))
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
    params = C(gate_enabled=enabled, gate_threshold=0.5)
    mask = postprocess(blobs_map(), params, class_probability=class_probability)
    assert mask.shape == (64, 64) and mask.dtype == np.bool_
    assert mask.sum() == expected_pixels


def test_nan_never_passes():
    prob = np.array([[np.nan, 1.0]], np.float32)
    for params in (PostprocessParams(bottom_threshold=0.0), C(bottom_threshold=0.0)):
        assert postprocess(prob, params).tolist() == [[False, True]]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_area": -1},
        {"min_area": 2.5},
        {"mask_threshold": float("nan")},
        {"bottom_threshold": 1.5},
        {"top_threshold": -0.1},
        {"gate_threshold": float("inf")},
        {"scheme": "watershed"},
        {"bottom_threshold": 0.4, "mask_threshold": 0.5},
    ],
)
def test_params_validation(kwargs):
    with pytest.raises(ValueError):
        PostprocessParams(**kwargs)


def test_rejects_non_2d_map():
    with pytest.raises(ValueError, match="2-D"):
        postprocess(np.zeros((2, 2, 2), np.float32), PostprocessParams())


def faint_and_confident() -> np.ndarray:
    """The issue's example: a confident 9 px blob (0.9) and a faint 100 px blob (0.5)."""
    prob = np.zeros((64, 64), np.float32)
    prob[40:43, 40:43] = 0.9  # 9 px above the top threshold
    prob[5:15, 5:15] = 0.5  # 100 px between bottom and top
    return prob


def test_issue_example_components_100_px_triplet_empty():
    prob = faint_and_confident()
    comp = postprocess(prob, C(bottom_threshold=0.4, min_area=20))
    assert int(comp.sum()) == 100  # the 9 px blob is too small, the faint one stays
    assert comp[5:15, 5:15].all()
    trip = PostprocessParams(
        scheme="triplet", top_threshold=0.75, min_area=20, bottom_threshold=0.4
    )
    assert int(postprocess(prob, trip).sum()) == 0  # only 9 px >= 0.75: fewer than 20


def test_triplet_keeps_every_pixel_above_bottom_when_enough_are_confident():
    prob = faint_and_confident()
    trip = PostprocessParams(top_threshold=0.75, min_area=9, bottom_threshold=0.4)
    mask = postprocess(prob, trip)
    assert int(mask.sum()) == 109  # 9 confident pixels are enough: both blobs at >= 0.4
    # min_area counts pixels at >= top (inclusive), not components.
    assert int(postprocess(prob, PostprocessParams(min_area=10, bottom_threshold=0.4)).sum()) == 0
    at_top = PostprocessParams(top_threshold=0.9, min_area=9, bottom_threshold=0.4)
    assert int(postprocess(prob, at_top).sum()) == 109
    # min_area 0: the triplet is the plain bottom threshold.
    assert int(postprocess(prob, PostprocessParams(bottom_threshold=0.6)).sum()) == 9


def test_default_scheme_is_triplet_and_gate_follows_decision_threshold():
    p = PostprocessParams()
    assert (p.scheme, p.bottom_threshold, p.top_threshold, p.min_area) == ("triplet", 0.5, 0.75, 0)
    assert p.gate_enabled and p.gate_threshold is None
    prob = faint_and_confident()
    # Gate None: the decision threshold. 0.45 < 0.5 -> empty; with decision 0.4 -> kept.
    assert postprocess(prob, p, class_probability=0.45).sum() == 0
    assert postprocess(prob, p, class_probability=0.45, decision_threshold=0.4).sum() == 109
    assert postprocess(prob, p, class_probability=0.5).sum() == 109
    off = PostprocessParams(gate_enabled=False)
    assert postprocess(prob, off, class_probability=0.01).sum() == 109


def test_old_name_mask_threshold_is_the_bottom_threshold():
    p = PostprocessParams(mask_threshold=0.3)
    assert p.bottom_threshold == 0.3 and p.mask_threshold == 0.3
    assert p == PostprocessParams(bottom_threshold=0.3)


def test_describe_and_to_dict_say_exactly_what_runs():
    p = PostprocessParams(top_threshold=0.75, min_area=2000, bottom_threshold=0.4)
    assert p.describe(decision_threshold=0.5) == (
        "triplet: top 0.75, min area 2000 px, bottom 0.40; gate at 0.50"
    )
    assert (
        p.describe()
        == "triplet: top 0.75, min area 2000 px, bottom 0.40; gate at the decision threshold"
    )
    c = C(bottom_threshold=0.3, min_area=64, gate_enabled=False)
    assert c.describe() == "components: threshold 0.30, min area 64 px; gate off"
    assert p.to_dict(decision_threshold=0.5) == {
        "scheme": "triplet",
        "bottom_threshold": 0.4,
        "top_threshold": 0.75,
        "min_area": 2000,
        "gate_enabled": True,
        "gate_threshold": 0.5,
    }
    assert "top_threshold" not in c.to_dict()
