from __future__ import annotations

import cv2
import numpy as np
import pytest

from pneumoviewer.core.overlay import (
    LayerStyle,
    OverlayStyle,
    compose_overlay,
    compose_rgba,
    legend_entries,
    outline,
    outline_thickness,
)

# Opacities chosen so alpha * 255 is an integer: 0.6 -> 153, 0.4 -> 102.
STYLE = OverlayStyle(
    ground_truth=LayerStyle((100, 0, 200), opacity=0.6),
    prediction=LayerStyle((250, 250, 0), opacity=0.4),
)


def four_regions():
    """Column 0: neither, 1: ground truth only, 2: prediction only, 3: both."""
    gt = np.array([[False, True, False, True]] * 2)
    pred = np.array([[False, False, True, True]] * 2)
    return gt, pred


def test_compose_overlay_exact_rgba_per_region():
    gt, pred = four_regions()
    out = compose_overlay(gt.shape, ground_truth=gt, prediction=pred, style=STYLE)
    assert out.shape == (2, 4, 4) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert out[0, 0].tolist() == [0, 0, 0, 0]  # neither: transparent
    assert out[0, 1].tolist() == [100, 0, 200, 153]  # truth only
    assert out[0, 2].tolist() == [250, 250, 0, 102]  # prediction only
    # Both, prediction "over" truth: A = 0.4 + 0.6 * (1 - 0.4) = 0.76 -> 193.8 -> 194
    # R = (250 * 0.4 + 100 * 0.36) / 0.76 = 136 / 0.76 = 178.9 -> 179
    # G = (250 * 0.4 + 0) / 0.76 = 131.6 -> 132
    # B = (0 + 200 * 0.36) / 0.76 = 94.7 -> 95
    assert out[0, 3].tolist() == [179, 132, 95, 194]
    np.testing.assert_array_equal(out[0], out[1])


def test_compose_rgba_exact_values_over_gray():
    gt, pred = four_regions()
    base = np.full(gt.shape, 100, np.uint8)
    out = compose_rgba(base, ground_truth=gt, prediction=pred, style=STYLE)
    assert out.shape == (2, 4, 4) and out.dtype == np.uint8
    assert out[0, 0].tolist() == [100, 100, 100, 255]
    # Truth only, A = 153: R = (100*102 + 100*153)/255 = 100, G = 100*102/255 = 40,
    # B = (100*102 + 200*153)/255 = 160.
    assert out[0, 1].tolist() == [100, 40, 160, 255]
    # Prediction only, A = 102: R = G = (100*153 + 250*102)/255 = 160, B = 100*153/255 = 60.
    assert out[0, 2].tolist() == [160, 160, 60, 255]
    # Both: same as blending truth then prediction: (100, 40, 160) then 0.4 of (250, 250, 0)
    # -> R = 60 + 100 = 160, G = 24 + 100 = 124, B = 96 + 0 = 96.
    assert out[0, 3].tolist() == [160, 124, 96, 255]


def test_compose_rgba_without_masks_is_the_gray_image():
    base = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    out = compose_rgba(base)
    np.testing.assert_array_equal(out[..., 0], base)
    np.testing.assert_array_equal(out[..., 1], base)
    np.testing.assert_array_equal(out[..., 2], base)
    assert (out[..., 3] == 255).all()


def test_compose_rgba_matches_float_blending_within_one():
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    gt = rng.random((64, 64)) > 0.5
    pred = rng.random((64, 64)) > 0.5
    style = OverlayStyle()
    out = compose_rgba(base, ground_truth=gt, prediction=pred, style=style).astype(float)
    ref = np.repeat(base[..., None], 3, axis=2).astype(float)
    for mask, layer in ((gt, style.ground_truth), (pred, style.prediction)):
        a = layer.opacity
        ref[mask] = ref[mask] * (1 - a) + np.array(layer.color) * a
    assert np.abs(out[..., :3] - ref).max() <= 1.5


def test_hidden_layer_is_not_drawn():
    gt, pred = four_regions()
    style = OverlayStyle(
        ground_truth=LayerStyle((100, 0, 200), opacity=0.6, visible=False),
        prediction=STYLE.prediction,
    )
    out = compose_overlay(gt.shape, ground_truth=gt, prediction=pred, style=style)
    assert out[0, 1].tolist() == [0, 0, 0, 0]
    assert out[0, 3].tolist() == [250, 250, 0, 102]


def test_outline_has_fewer_pixels_and_lies_on_boundary():
    mask = np.zeros((1024, 1024), bool)
    mask[300:500, 400:600] = True  # 200 x 200 square
    assert outline_thickness(mask.shape) == 3
    ring = outline(mask)
    # 200^2 - 194^2 = 40000 - 37636: a band of 3 px along the inside of the edge.
    assert ring.sum() == 2364
    assert not np.any(ring & ~mask)
    assert not ring[303:497, 403:597].any()  # nothing in the interior
    # Every outline pixel is within 3 px of the background.
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_C, 3)
    assert dist[ring].max() <= 3

    style = OverlayStyle(prediction=LayerStyle((255, 215, 0), outline=True))
    filled = compose_overlay(mask.shape, ground_truth=None, prediction=mask, style=OverlayStyle())
    outlined = compose_overlay(mask.shape, ground_truth=None, prediction=mask, style=style)
    assert (outlined[..., 3] > 0).sum() == 2364 < (filled[..., 3] > 0).sum() == 40000


def test_outline_closed_at_image_border():
    mask = np.zeros((100, 100), bool)
    mask[:10, :10] = True  # touches the top-left corner
    ring = outline(mask, thickness=1)
    assert ring[0, :10].all() and ring[:10, 0].all()
    assert ring.sum() == 100 - 64  # 10^2 - 8^2


def test_difference_mode_colours():
    gt, pred = four_regions()
    style = OverlayStyle(difference=True, difference_opacity=0.6)
    out = compose_overlay(gt.shape, ground_truth=gt, prediction=pred, style=style)
    assert out[0, 0].tolist() == [0, 0, 0, 0]  # true negative
    assert out[0, 1].tolist() == [*style.fn_color, 153]  # truth only: missed
    assert out[0, 2].tolist() == [*style.fp_color, 153]  # prediction only: false alarm
    assert out[0, 3].tolist() == [*style.tp_color, 153]
    assert len({style.tp_color, style.fp_color, style.fn_color}) == 3


def test_difference_mode_without_truth_falls_back_to_prediction_layer():
    _, pred = four_regions()
    style = OverlayStyle(prediction=LayerStyle((250, 250, 0), opacity=0.4), difference=True)
    out = compose_overlay(pred.shape, ground_truth=None, prediction=pred, style=style)
    assert out[0, 2].tolist() == [250, 250, 0, 102]
    assert out[0, 0, 3] == 0


def test_default_colours_purple_truth_yellow_prediction():
    style = OverlayStyle()
    assert style.ground_truth.color == (168, 60, 220)
    assert style.prediction.color == (255, 215, 0)


def test_legend_entries():
    style = OverlayStyle()
    assert legend_entries(style, have_truth=True, have_prediction=True) == [
        ("Ground truth", (168, 60, 220)),
        ("Prediction", (255, 215, 0)),
    ]
    assert legend_entries(style, have_truth=False, have_prediction=True) == [
        ("Prediction", (255, 215, 0))
    ]
    assert legend_entries(style, have_truth=False, have_prediction=False) == []
    diff = OverlayStyle(difference=True)
    assert [e[0] for e in legend_entries(diff, have_truth=True, have_prediction=True)] == [
        "True positive",
        "False positive",
        "False negative",
    ]
    assert legend_entries(diff, have_truth=False, have_prediction=True) == [
        ("Prediction", (255, 215, 0))
    ]


def test_shape_mismatch_and_bad_base_raise():
    with pytest.raises(ValueError, match="prediction"):
        compose_overlay((4, 4), ground_truth=None, prediction=np.zeros((4, 5), bool), style=STYLE)
    with pytest.raises(ValueError, match="uint8"):
        compose_rgba(np.zeros((4, 4), np.float32))


@pytest.mark.parametrize(
    "kwargs", [{"color": (256, 0, 0)}, {"color": (1, 2)}, {"color": (1, 2, 3), "opacity": 1.5}]
)
def test_layer_style_validation(kwargs):
    with pytest.raises(ValueError):
        LayerStyle(**kwargs)


def test_paint_stack_class_and_rgba_layers_and_overlap_legend():
    from pneumoviewer.core.overlay import (
        DIFFERENCE_COLORS,
        ClassPaint,
        MaskPaint,
        RGBAPaint,
        compose,
        compose_on,
        legend,
    )

    a = np.zeros((4, 4), bool)
    a[:2] = True
    b = np.zeros((4, 4), bool)
    b[1:3] = True
    code = np.zeros((4, 4), np.uint8)
    code[:, 3] = 2
    heat = np.zeros((4, 4, 4), np.uint8)
    heat[3, 0] = (10, 20, 30, 255)  # an opaque RGBA pixel wins over everything below
    paints = [
        MaskPaint("A", a, (200, 0, 0), 1.0),
        MaskPaint("B", b, (0, 0, 200), 0.5),
        ClassPaint(code, (("one", (1, 1, 1)), ("two", (0, 250, 0))), 1.0),
        RGBAPaint(heat, (("heat", (10, 20, 30)),)),
    ]
    out = compose((4, 4), paints)
    assert out[0, 0].tolist() == [200, 0, 0, 255]  # A only
    assert out[1, 0].tolist() == [100, 0, 100, 255]  # B (0.5) over A (opaque)
    assert out[2, 0].tolist() == [0, 0, 200, 128]  # B only
    assert out[0, 3].tolist() == [0, 250, 0, 255]  # class 2 on top of A
    assert out[3, 0].tolist() == [10, 20, 30, 255]
    assert out[3, 1, 3] == 0
    on = compose_on(np.full((4, 4), 50, np.uint8), paints)
    assert on[3, 1].tolist() == [50, 50, 50, 255]
    assert on[0, 0].tolist() == [200, 0, 0, 255]
    names = [label for label, _ in legend(paints, shape=(4, 4))]
    assert names[:5] == ["A", "B", "one", "two", "heat"]
    assert "Overlap (A + B)" in names and "Overlap (A + two)" in names
    assert "Overlap (A + one)" not in names  # class 1 is never drawn
    assert DIFFERENCE_COLORS["fp"] != (224, 160, 78)


def test_legend_entries_name_the_overlap_colour():
    gt = np.zeros((4, 4), bool)
    gt[:2] = True
    pred = np.zeros((4, 4), bool)
    pred[1:3] = True
    style = OverlayStyle()
    out = compose_overlay(gt.shape, ground_truth=gt, prediction=pred, style=style)
    entries = legend_entries(
        style, have_truth=True, have_prediction=True, ground_truth=gt, prediction=pred
    )
    assert entries[2] == ("Overlap", tuple(int(v) for v in out[1, 0, :3]))
    assert entries[2][1] != style.fp_color


def test_more_than_256_combinations_compose_the_same_colours_as_few():
    """Stacks past 256 combinations take the wide-code path and still draw each pixel's
    own combination; the overlap legend counts only combinations that appear."""
    from pneumoviewer.core.overlay import ClassPaint, MaskPaint, compose_with_legend

    rng = np.random.default_rng(7)
    classes = tuple((f"c{k}", (k * 12, 255 - k * 12, 90)) for k in range(1, 21))
    code_a = rng.integers(0, 21, (32, 32), dtype=np.uint8)
    code_b = rng.integers(0, 21, (32, 32), dtype=np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[:4, :4] = True
    wide = [ClassPaint(code_a, classes, 0.5), ClassPaint(code_b, classes, 0.5)]  # 441 codes
    wide_rgba, wide_legend = compose_with_legend((32, 32), wide)
    for y, x in [(0, 0), (5, 9), (17, 3), (31, 31)]:
        # the same pixel composed alone (one pixel, 2 paints of 1 class each: 4 codes)
        one = []
        for code in (code_a, code_b):
            k = int(code[y, x])
            one.append(
                ClassPaint(np.array([[1 if k else 0]], np.uint8), (classes[max(k, 1) - 1],), 0.5)
            )
        narrow, _ = compose_with_legend((1, 1), one)
        assert wide_rgba[y, x].tolist() == narrow[0, 0].tolist()
    present = {(int(a), int(b)) for a, b in zip(code_a.ravel(), code_b.ravel(), strict=True)}
    n_overlaps = sum(1 for a, b in present if a and b)
    assert sum(label.startswith("Overlap") for label, _c in wide_legend) == n_overlaps
    on_top, _ = compose_with_legend((32, 32), [wide[0], MaskPaint("m", mask, (255, 0, 0), 1.0)])
    alone, _ = compose_with_legend((32, 32), [wide[0]])
    assert on_top[0, 0].tolist() == [255, 0, 0, 255]  # the opaque mask hides the class
    assert (on_top[~mask] == alone[~mask]).all()
