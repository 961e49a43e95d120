from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from pneumoviewer.core.preprocessing import (
    ClaheParams,
    clahe,
    fill_padding,
    normalise,
    resize_image,
    resize_probability,
    to_model_input,
)


def low_contrast_image(h: int = 256, w: int = 256) -> np.ndarray:
    """A smooth ramp (100..120) with faint texture (+-3): low local contrast."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(100, 120, w)[None, :].repeat(h, axis=0)
    texture = cv2.GaussianBlur(rng.normal(0, 3, (h, w)), (0, 0), 2) * 3
    return np.clip(ramp + texture, 0, 255).astype(np.uint8)


def local_std(img: np.ndarray, k: int = 15) -> float:
    """Mean over pixels of the standard deviation in a k x k window."""
    x = img.astype(np.float64)
    m = cv2.blur(x, (k, k))
    m2 = cv2.blur(x * x, (k, k))
    return float(np.sqrt(np.maximum(m2 - m * m, 0)).mean())


def test_clahe_params_round_trip_through_json():
    p = ClaheParams(clip_limit=3.5, tile_grid=(4, 6))
    d = json.loads(json.dumps(p.to_dict()))
    assert d == {"clip_limit": 3.5, "tile_grid": [4, 6]}
    q = ClaheParams.from_dict(d)
    assert q == p
    assert hash(q) == hash(p)
    assert ClaheParams.from_dict({}) == ClaheParams()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"clip_limit": 0},
        {"clip_limit": float("nan")},
        {"clip_limit": "high"},
        {"tile_grid": (0, 8)},
        {"tile_grid": (8,)},
        {"tile_grid": (8, 2.5)},
        {"tile_grid": (8, None)},
        {"tile_grid": 8},
    ],
)
def test_clahe_params_rejects_invalid(kwargs):
    with pytest.raises(ValueError):
        ClaheParams(**kwargs)


def test_clahe_params_from_dict_rejects_unknown_key():
    with pytest.raises(ValueError, match="clip"):
        ClaheParams.from_dict({"cliplimit": 2.0})


def test_clahe_increases_local_contrast():
    img = low_contrast_image()
    out = clahe(img, ClaheParams(clip_limit=2.0, tile_grid=(8, 8)))
    assert out.shape == img.shape and out.dtype == np.uint8 and out.flags.c_contiguous
    assert local_std(out) > 2.0 * local_std(img)


def test_clahe_is_deterministic_and_matches_opencv():
    img = low_contrast_image()
    p = ClaheParams(clip_limit=3.0, tile_grid=(4, 4))
    a = clahe(img, p)
    b = clahe(img, p)
    ref = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(4, 4)).apply(img)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, ref)
    # The parameters matter: another clip limit gives another image.
    assert not np.array_equal(a, clahe(img, ClaheParams(clip_limit=1.0, tile_grid=(4, 4))))


def test_clahe_identical_across_threads():
    img = low_contrast_image()
    p = ClaheParams()
    ref = clahe(img, p)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: clahe(img, p), range(16)))
    for r in results:
        np.testing.assert_array_equal(r, ref)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((8, 8), np.float32), np.zeros((8, 8, 3), np.uint8), np.zeros((0, 8), np.uint8)],
)
def test_clahe_rejects_non_gray_uint8(bad):
    with pytest.raises(ValueError, match="image"):
        clahe(bad)


def test_to_model_input_constant_image_exact():
    img = np.full((100, 80), 51, np.uint8)  # 51 / 255 = 0.2
    x = to_model_input(img, size=64, clahe_params=None, mean=0.5, std=0.25, channels=3)
    assert x.shape == (3, 64, 64)
    assert x.dtype == np.float32
    assert x.flags.c_contiguous
    # (0.2 - 0.5) / 0.25 = -1.2 everywhere, in every channel.
    np.testing.assert_allclose(x, -1.2, atol=1e-6)


def test_to_model_input_uses_area_averaging():
    block = np.array(
        [[0, 16, 32, 48], [64, 80, 96, 112], [128, 144, 160, 176], [192, 208, 224, 240]]
    )
    img = np.tile(block, (16, 16)).astype(np.uint8)  # 64 x 64 of 4 x 4 blocks
    x = to_model_input(img, size=16, clahe_params=None, mean=0.0, std=1.0, channels=1)
    assert x.shape == (1, 16, 16)
    # INTER_AREA averages each 4 x 4 block: mean = 120, so 120 / 255.
    np.testing.assert_allclose(x, 120 / 255, atol=1e-6)


def test_to_model_input_applies_clahe_before_resize():
    img = low_contrast_image(128, 128)
    p = ClaheParams()
    x = to_model_input(img, size=64, clahe_params=p, mean=0.0, std=1.0, channels=2)
    expected = cv2.resize(clahe(img, p), (64, 64), interpolation=cv2.INTER_AREA) / 255.0
    np.testing.assert_allclose(x[0], expected, atol=1e-6)
    np.testing.assert_array_equal(x[0], x[1])


@pytest.mark.parametrize("kwargs", [{"std": 0.0}, {"channels": 0}, {"mean": float("nan")}])
def test_to_model_input_rejects_bad_normalisation(kwargs):
    args = {"size": 8, "clahe_params": None, "mean": 0.5, "std": 0.25, "channels": 1} | kwargs
    with pytest.raises(ValueError):
        to_model_input(np.zeros((16, 16), np.uint8), **args)


def test_resize_image_down_area_up_linear_and_identity():
    img = np.tile(np.array([[0, 255], [255, 0]], np.uint8), (8, 8))  # 16 x 16 checker
    down = resize_image(img, 8)
    assert down.shape == (8, 8)
    np.testing.assert_array_equal(down, 128)  # (0 + 255 + 255 + 0) / 4 = 127.5 -> 128
    up = resize_image(np.array([[0, 200]], np.uint8), (1, 4))
    assert up.shape == (1, 4)
    assert up[0, 0] == 0 and up[0, -1] == 200 and 0 < up[0, 1] < up[0, 2] < 200
    assert resize_image(img, (16, 16)) is img


def test_resize_probability_bilinear_float32():
    prob = np.array([[0.0, 1.0], [0.0, 1.0]], np.float32)
    out = resize_probability(prob, (6, 8))
    assert out.shape == (6, 8) and out.dtype == np.float32 and out.flags.c_contiguous
    assert out.min() >= 0.0 and out.max() <= 1.0
    # Left-to-right ramp, identical in every row.
    assert np.all(np.diff(out[0]) >= 0) and out[0, 0] == 0.0 and out[0, -1] == 1.0
    np.testing.assert_array_equal(out, np.repeat(out[:1], 6, axis=0))
    const = resize_probability(np.full((4, 4), 0.3, np.float64), (9, 7))
    assert const.dtype == np.float32
    np.testing.assert_allclose(const, 0.3, atol=1e-7)


def test_resize_probability_rejects_bad_input():
    with pytest.raises(ValueError):
        resize_probability(np.zeros((4, 4), np.uint8), (8, 8))
    with pytest.raises(ValueError):
        resize_probability(np.zeros((4, 4, 1), np.float32), (8, 8))


def test_normalise_matches_to_model_input_and_accepts_float_planes():
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (32, 32), dtype=np.uint8)
    x = to_model_input(img, size=32, clahe_params=None, mean=0.4, std=0.2, channels=3)
    np.testing.assert_array_equal(normalise(img, mean=0.4, std=0.2, channels=3), x)
    flipped = normalise(img[:, ::-1].astype(np.float32), mean=0.4, std=0.2, channels=1)
    np.testing.assert_array_equal(flipped[0], x[0][:, ::-1])
    # 255 -> (1 - 0.4) / 0.2 = 3, 0 -> -2
    np.testing.assert_allclose(
        normalise(np.array([[0, 255]], np.uint8), mean=0.4, std=0.2, channels=1),
        [[[-2, 3]]],
        atol=1e-6,
    )


# --- padding (issue #7 §4) -------------------------------------------------------------------


def padded(value: int, border: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """The low-contrast image framed by ``border`` pixels of ``value``, and the frame mask."""
    img = low_contrast_image(200, 200)
    out = np.full((200 + 2 * border, 200 + 2 * border), value, dtype=np.uint8)
    out[border:-border, border:-border] = img
    mask = np.ones(out.shape, dtype=bool)
    mask[border:-border, border:-border] = False
    return out, mask


def test_fill_padding_takes_the_nearest_image_pixel():
    img = np.arange(25, dtype=np.uint8).reshape(5, 5)
    mask = np.zeros((5, 5), dtype=bool)
    mask[0, :] = True
    mask[:, 4] = True
    filled = fill_padding(img, mask)
    np.testing.assert_array_equal(filled[~mask], img[~mask])
    np.testing.assert_array_equal(filled[0, :4], img[1, :4])  # the row below
    np.testing.assert_array_equal(filled[1:, 4], img[1:, 3])  # the column to the left
    assert not fill_padding(img, np.ones((5, 5), dtype=bool)).any()


def test_clahe_leaves_padding_out():
    black, mask = padded(0)
    white, _ = padded(255)
    params = ClaheParams(clip_limit=4.0, tile_grid=(8, 8))
    a = clahe(black, params, padding=mask)
    b = clahe(white, params, padding=mask)
    np.testing.assert_array_equal(a, b)  # the padding's value plays no part
    assert not a[mask].any()  # padding is 0 (black) afterwards
    # Without the mask, the white frame changes the equalisation of the image itself.
    naive = clahe(white, params)
    assert np.abs(naive[~mask].astype(int) - a[~mask].astype(int)).max() > 5
    # No padding pixel in the mask: identical to plain CLAHE.
    np.testing.assert_array_equal(
        clahe(black, params, padding=np.zeros_like(mask)), clahe(black, params)
    )


def test_model_input_padding_is_black_with_and_without_clahe():
    black, mask = padded(0)
    white, _ = padded(255)
    kwargs = {"size": black.shape[0], "mean": 0.5, "std": 0.25, "channels": 1}
    for params in (None, ClaheParams()):
        a = to_model_input(black, clahe_params=params, padding=mask, **kwargs)
        b = to_model_input(white, clahe_params=params, padding=mask, **kwargs)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a[0][mask], (0.0 - 0.5) / 0.25)  # 0 = black, normalised
    with pytest.raises(ValueError, match="padding"):
        to_model_input(black, clahe_params=None, padding=mask[1:], **kwargs)
