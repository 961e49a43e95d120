"""Maps kept at the model's size give the numbers of the former full-resolution cache.

Before #12 the worker quantised the engine's full-resolution map (float map at the model's
size -> bilinear resize -> clip -> ``round(p * 255)``); now it quantises the model-size map
and the viewer resizes on demand (:func:`upsample_probability`). Same arithmetic order, so:

* exactly equal whenever the model-size map is already on the ``k/255`` grid;
* otherwise each full-resolution value is within one uint8 level, and a mask pixel can
  differ only where the former value lies within one level of the threshold. The test with
  the demo model checks that bound pixel by pixel and measures the effect on area and Dice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pneumoviewer.core.preprocessing import resize_probability
from pneumoviewer.ui.cache import (
    AnalysisResult,
    dequantise_probability,
    quantise_probability,
    upsample_probability,
)

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "resources" / "models" / "demo"
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def former_full_map(small: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """What the viewer cached before #12 (engine resize + clip, then worker quantisation)."""
    full = resize_probability(small, shape)
    np.clip(full, 0.0, 1.0, out=full)
    return dequantise_probability(quantise_probability(full))


def test_exactly_equal_on_the_grid():
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (256, 256)).astype(np.float32) / np.float32(255)
    small = dequantise_probability(quantise_probability(small))  # model output on the grid
    ours = upsample_probability(quantise_probability(small), (1024, 1024))
    np.testing.assert_array_equal(ours, former_full_map(small, (1024, 1024)))
    res = AnalysisResult("x", None, quantise_probability(small), image_shape=(1024, 1024))
    np.testing.assert_array_equal(res.full_map(), ours)


def test_within_one_level_on_smooth_maps():
    y, x = np.mgrid[0:256, 0:256].astype(np.float32)
    small = 1.0 / (1.0 + np.exp(-(x - 128.3) / 7.7 - (y - 90.1) / 13.1))
    shape = (1024, 1000)  # not square: a different factor per axis
    ours = upsample_probability(quantise_probability(small), shape)
    former = former_full_map(small, shape)
    assert ours.shape == shape and ours.dtype == np.float32
    assert np.abs(ours - former).max() <= 1 / 255 + 1e-6


@pytest.mark.skipif(not (DEMO / "manifest.json").is_file(), reason="demo model not built")
def test_demo_model_masks_areas_and_dice_match_the_former_cache(samples_dir, sample_csv):
    from pneumoviewer.core.dicom_io import load_xray
    from pneumoviewer.core.ground_truth import read_rle_csv
    from pneumoviewer.core.inference.engine import InferenceEngine
    from pneumoviewer.core.metrics import dice

    engine = InferenceEngine(DEMO, device="cpu")
    gt = read_rle_csv(sample_csv)
    flipped_total = area_total = 0
    worst_dice = 0.0
    paths = sorted(samples_dir.glob("*.dcm"))
    for path in paths[:2] + paths[-3:]:  # 2 without pneumothorax, 3 with
        img = load_xray(path)
        pred = engine.predict(img.pixels)
        assert pred.map_at_model_size.shape == (256, 256)
        ours = upsample_probability(quantise_probability(pred.map_at_model_size), img.pixels.shape)
        # predict's map (the engine's) is the viewer's map, bit for bit (one truth, #7)
        np.testing.assert_array_equal(pred.probability_map, ours)
        # the former cache: the float model-size map resized, then quantised
        full = np.clip(resize_probability(pred.map_at_model_size, img.pixels.shape), 0, 1)
        former = dequantise_probability(quantise_probability(full))
        assert np.abs(ours - former).max() <= 1 / 255 + 1e-6
        truth = gt.mask(img.image_id, img.pixels.shape)
        for t in THRESHOLDS:
            m_former, m_ours = former >= t, ours >= t
            flipped = m_former != m_ours
            # only pixels within one level of the threshold may differ
            assert np.all(np.abs(former[flipped] - t) <= 1 / 255 + 1e-6)
            band = np.count_nonzero(np.abs(former - t) <= 1 / 255 + 1e-6)
            assert abs(int(m_ours.sum()) - int(m_former.sum())) <= band
            flipped_total += int(flipped.sum())
            area_total += int(m_former.sum())
            if truth is not None:
                d = abs(
                    dice(m_ours, truth, empty_score=1.0) - dice(m_former, truth, empty_score=1.0)
                )
                worst_dice = max(worst_dice, float(d))
    # measured with the demo model: ~0.05 % of the mask pixels, Dice within 1e-3
    assert flipped_total <= 0.002 * area_total
    assert worst_dice <= 1e-3
