"""Window/level rules (Qt-free): presets, stored units, look-up tables, invert, lock, drag."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

from pneumoviewer.core.dicom_io import load_xray
from pneumoviewer.ui.windowing import (
    FULL_RANGE,
    LUNG,
    MEDIASTINUM,
    StoredIndex,
    Window,
    default_window,
    display_lut,
    drag_window,
    file_presets,
    image_presets,
    next_window,
    render,
    value_stats,
)
from tests.core import dicom_factory as factory


def stored_of(path) -> np.ndarray:
    """Stored units as core.dicom_io will provide them (Modality LUT applied, float32)."""
    image = load_xray(path)
    stored = getattr(image, "stored", None)
    if stored is not None:
        return stored
    ds = pydicom.dcmread(path)
    return apply_modality_lut(ds.pixel_array, ds).astype(np.float32)


def ramp12() -> np.ndarray:
    return np.tile(np.arange(0, 4096, 16, dtype=np.uint16), (8, 1))  # 8 x 256, 0..4080


def test_file_window_reproduces_the_loaders_pixels_12bit(tmp_path):
    pixels = ramp12()
    path = factory.write_image(tmp_path / "w.dcm", pixels, bits_stored=12, window=(2048, 1024))
    index = StoredIndex.from_stored(stored_of(path))
    assert index.exact and index.offset == 0.0 and index.size == 4081
    shown = render(index, Window(2048, 1024))
    np.testing.assert_array_equal(shown, load_xray(path).pixels)


def test_window_after_rescale_is_in_rescaled_units(tmp_path):
    pixels = ramp12()
    path = factory.write_image(
        tmp_path / "r.dcm", pixels, bits_stored=12, rescale=(1, -1024), window=(0, 1024)
    )
    stored = stored_of(path)
    assert stored.min() == -1024 and stored.max() == 4080 - 1024
    index = StoredIndex.from_stored(stored)
    assert index.offset == -1024.0
    np.testing.assert_array_equal(render(index, Window(0, 1024)), load_xray(path).pixels)


def test_monochrome1_default_matches_loader_and_invert_flips_it(tmp_path):
    pixels = ramp12()
    path = factory.write_image(
        tmp_path / "m1.dcm", pixels, bits_stored=12, photometric="MONOCHROME1", window=(2048, 1024)
    )
    index = StoredIndex.from_stored(stored_of(path))
    shown = render(index, Window(2048, 1024), invert=True)  # MONOCHROME1: air dark
    np.testing.assert_array_equal(shown, load_xray(path).pixels)
    np.testing.assert_array_equal(render(index, Window(2048, 1024)), 255 - shown)


def test_display_lut_linear_function_edges():
    w = Window(100, 11)  # linear on (94.5, 104.5] (DICOM: c - 0.5 -/+ (w - 1) / 2)
    values = np.array([0, 94.5, 95, 99.5, 104.5, 104.6, 4000])
    lut = display_lut(values, w)
    assert lut.dtype == np.uint8
    assert lut.tolist() == [0, 0, 13, 128, 255, 255, 255]
    assert display_lut(values, w, invert=True).tolist() == [255, 255, 242, 127, 0, 0, 0]
    step = display_lut(np.array([99, 99.6, 101]), Window(100, 1))  # width 1: a step
    assert step.tolist() == [0, 255, 255]


def test_stored_index_quantises_non_integer_or_wide_ranges():
    wide = np.array([[0.0, 100_000.0], [50_000.0, 25_000.0]], np.float32)
    idx = StoredIndex.from_stored(wide)
    assert not idx.exact and idx.size == 65536 and idx.index.dtype == np.uint16
    np.testing.assert_allclose(idx.values()[idx.index], wide, atol=idx.step / 2 + 1e-3)
    fractional = np.array([[0.5, 1.25]], np.float32)
    assert not StoredIndex.from_stored(fractional).exact
    with_nan = np.array([[np.nan, 3.0, 5.0]], np.float32)
    assert StoredIndex.from_stored(with_nan).index.tolist() == [[0, 0, 2]]
    flat = StoredIndex.from_stored(np.full((2, 2), 7, np.int16))
    assert flat.size == 1 and flat.offset == 7.0


def test_presets_for_a_file_with_two_windows(tmp_path):
    pixels = ramp12()
    ds = factory.make_image(pixels, bits_stored=12)
    ds.WindowCenter = [2048, 1000]
    ds.WindowWidth = [4096, 500]
    path = factory.write(ds, tmp_path / "two.dcm")
    md = load_xray(path).metadata
    centers = getattr(md, "window_centers", None) or (2048.0, 1000.0)  # core field pending
    widths = getattr(md, "window_widths", None) or (4096.0, 500.0)
    meta = SimpleNamespace(window_centers=centers, window_widths=widths, photometric="MONOCHROME2")
    presets = image_presets(meta, value_stats(stored_of(path)))
    names = [p.name for p in presets]
    assert names == ["File window 1", "File window 2", FULL_RANGE, LUNG, MEDIASTINUM]
    assert presets[0].window == Window(2048, 4096) and presets[1].window == Window(1000, 500)
    assert presets[2].window == Window(2040.5, 4081)  # DICOM linear: 0 black, 4080 white
    assert default_window(presets) == Window(2048, 4096)


def test_presets_without_file_window_default_to_full_range_excluding_padding():
    stored = np.arange(100, dtype=np.float32).reshape(10, 10)
    padding = np.zeros((10, 10), bool)
    padding[0] = True  # values 0..9 are padding
    presets = image_presets(SimpleNamespace(), value_stats(stored, padding))
    assert [p.name for p in presets] == [FULL_RANGE, LUNG, MEDIASTINUM]
    assert default_window(presets) == Window(55, 90)  # 10..99, padding excluded
    assert file_presets((100.0,), (0.0,)) == []  # unusable width dropped
    assert [p.name for p in file_presets((1.0,), (5.0,))] == ["File window"]


def test_lung_window_is_dark_half_and_follows_monochrome1():
    stored = np.arange(1000, dtype=np.float32).reshape(10, 100)
    stats = value_stats(stored)
    mono2 = {p.name: p.window for p in image_presets(SimpleNamespace(), stats)}
    lung, mediastinum = mono2[LUNG], mono2[MEDIASTINUM]
    assert lung.lo == pytest.approx(9.99, abs=0.5) and lung.hi == pytest.approx(649.35, abs=0.5)
    assert mediastinum.lo == pytest.approx(349.65, abs=0.5)
    assert mediastinum.hi == pytest.approx(994.0, abs=0.5)
    mono1 = {
        p.name: p.window
        for p in image_presets(SimpleNamespace(photometric="MONOCHROME1"), stats)
    }
    # MONOCHROME1: air is high stored values, so the lung window sits at the top.
    assert mono1[LUNG].lo == pytest.approx(349.65, abs=0.5)
    assert mono1[LUNG].hi == pytest.approx(989.0, abs=0.5)


def test_lock_keeps_the_window_and_unlocked_resets_it():
    presets = image_presets(SimpleNamespace(), value_stats(np.arange(256.0).reshape(16, 16)))
    mine = Window(100, 50)
    assert next_window(mine, locked=True, presets=presets) == mine
    assert next_window(mine, locked=False, presets=presets) == Window(128, 256)
    assert next_window(None, locked=True, presets=presets) == Window(128, 256)


def test_drag_scales_with_the_stored_range():
    start = Window(127.5, 255)
    narrower = drag_window(start, -100, 0, 255)
    assert narrower == Window(127.5, 255 - 75)
    assert drag_window(start, 0, 40, 255).center == pytest.approx(127.5 - 30)
    # 12 bits: the same drag moves 16x as many stored units
    assert drag_window(Window(2048, 4095), -100, 0, 4080).width == pytest.approx(4095 - 1200)
    assert drag_window(start, -10_000, 0, 255).width == 1.0


def test_display_level_conversion_round_trip():
    w = Window(2048, 1024)
    lo, hi = w.to_display_levels(0, 4095)
    assert (lo, hi) == (pytest.approx(1536 * 255 / 4095), pytest.approx(2560 * 255 / 4095))
    back = Window.from_display_levels(lo, hi, 0, 4095)
    assert back.center == pytest.approx(2048) and back.width == pytest.approx(1024)
    assert w.label() == "W 1,024 / L 2,048"
    assert Window(0.5, 1.25).label() == "W 1.25 / L 0.5"


def test_full_range_window_is_min_max_scaling(tmp_path):
    pixels = ramp12()
    path = factory.write_image(tmp_path / "plain.dcm", pixels, bits_stored=12)  # no window
    stored = stored_of(path)
    presets = image_presets(SimpleNamespace(), value_stats(stored))
    shown = render(StoredIndex.from_stored(stored), default_window(presets))
    np.testing.assert_array_equal(shown, load_xray(path).pixels)
    assert shown.min() == 0 and shown.max() == 255


def test_padding_is_black_and_out_of_the_range(tmp_path):
    stored = np.tile(np.arange(100, 200, dtype=np.float32), (4, 1))
    padding = np.zeros(stored.shape, bool)
    padding[:, :10] = True
    stored[:, :10] = -2000  # Pixel Padding Value far below the anatomy
    index = StoredIndex.from_stored(stored, padding)
    assert index.padded and index.offset == 110 and index.size == 90
    window = default_window(image_presets(SimpleNamespace(), value_stats(stored, padding)))
    shown = render(index, window)
    assert (shown[:, :10] == 0).all() and shown[0, 10] == 0 and shown[0, -1] == 255
    inverted = render(index, window, invert=True)
    assert (inverted[:, :10] == 0).all() and inverted[0, 10] == 255  # padding stays black


def test_loader_padding_matches(tmp_path):
    pixels = ramp12()
    ds = factory.make_image(pixels, bits_stored=12)
    ds.PixelPaddingValue = 0
    path = factory.write(ds, tmp_path / "pad.dcm")
    image = load_xray(path)
    if getattr(image, "padding", None) is None:
        pytest.skip("core.dicom_io without padding")
    index = StoredIndex.from_stored(image.stored, image.padding)
    presets = image_presets(image.metadata, value_stats(image.stored, image.padding))
    np.testing.assert_array_equal(render(index, default_window(presets)), image.pixels)


def test_value_stats_ignore_non_finite_values():
    stored = np.array([[np.nan, 1.0, 2.0, np.inf, 3.0]], np.float32)
    stats = value_stats(stored)
    assert (stats.vmin, stats.vmax) == (1.0, 3.0)
    assert value_stats(np.full((2, 2), np.nan, np.float32)).vmax == 0.0
