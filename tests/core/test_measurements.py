from __future__ import annotations

import math

import numpy as np
import pytest

from pneumoviewer.core.measurements import (
    Distance,
    area_cm2,
    compare_masks,
    format_area,
    measure_distance,
)


def test_distance_uses_column_spacing_for_x_and_row_spacing_for_y():
    # Pixel Spacing (row, column) = (0.2, 0.25) mm: 100 columns = 25 mm, 100 rows = 20 mm.
    horizontal = measure_distance((10, 50), (110, 50), (0.2, 0.25), "Pixel Spacing")
    vertical = measure_distance((10, 50), (10, 150), (0.2, 0.25), "Pixel Spacing")
    assert horizontal == Distance(pytest.approx(25.0), "mm", "Pixel Spacing")
    assert vertical.value == pytest.approx(20.0)
    diagonal = measure_distance((0, 0), (24, 40), (0.2, 0.25), "Imager Pixel Spacing")
    assert diagonal.value == pytest.approx(math.hypot(24 * 0.25, 40 * 0.2))  # 6-8-10
    assert diagonal.label() == "10.0 mm (Imager Pixel Spacing)"


def test_distance_in_pixels_without_usable_spacing():
    for spacing in (None, (0.0, 0.2), (float("nan"), 0.2), ("x", 1)):
        d = measure_distance((0, 0), (3, 4), spacing, "Pixel Spacing")
        assert (d.value, d.unit, d.source) == (5.0, "px", None)
    assert measure_distance((0, 0), (3, 4), None).label() == "5.0 px (no pixel spacing)"
    assert measure_distance((1, 1), (1, 1), (0.1, 0.1), "Pixel Spacing").label() == (
        "0.0 mm (Pixel Spacing)"
    )


def test_area_cm2_and_format():
    # 10,000 px of 0.2 x 0.25 mm = 500 mm² = 5 cm²
    assert area_cm2(10_000, (0.2, 0.25)) == pytest.approx(5.0)
    assert area_cm2(10_000, None) is None
    assert area_cm2(10_000, (-1.0, 0.2)) is None
    assert format_area(10_000, 5.0) == "5.00 cm² (10,000 px)"
    assert format_area(1234, None) == "1,234 px"
    assert format_area(None, None) == "—"


def test_compare_masks_counts_areas_and_dice():
    truth = np.zeros((100, 100), bool)
    pred = np.zeros((100, 100), bool)
    truth[10:30, 10:30] = True  # 400 px
    pred[20:40, 10:30] = True  # 400 px, 200 in common with the truth
    c = compare_masks(pred, truth, (0.5, 0.5))
    assert (c.truth_px, c.predicted_px, c.true_positive_px) == (400, 400, 200)
    assert (c.false_positive_px, c.false_negative_px) == (200, 200)
    assert c.dice == pytest.approx(2 * 200 / 800)
    assert c.truth_cm2 == pytest.approx(400 * 0.25 / 100)  # 1 cm²
    rows = dict(c.rows())
    assert rows["Ground-truth area"] == "1.00 cm² (400 px)"
    assert rows["False positive"] == "200 px" and rows["Dice"] == "0.500"


def test_compare_masks_without_spacing_and_empty_masks():
    empty = np.zeros((8, 8), np.uint8)
    c = compare_masks(empty, empty)
    assert c.dice == 1.0 and c.truth_cm2 is None and c.predicted_px == 0
    assert dict(c.rows())["Predicted area"] == "0 px"
    assert compare_masks(empty, empty, empty_score=0.0).dice == 0.0
    with pytest.raises(ValueError, match="shape"):
        compare_masks(np.zeros((2, 2), bool), np.zeros((3, 3), bool))
