"""The canvas overlay item repaints only the rectangle where a new overlay differs."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRectF

from pneumoviewer.ui.widgets.overlay_item import OverlayItem, changed_box


def _overlay(box=None, shape=(64, 80)):
    rgba = np.zeros((*shape, 4), np.uint8)
    if box is not None:
        x, y, w, h = box
        rgba[y : y + h, x : x + w] = (255, 200, 0, 128)
    return rgba


def test_changed_box_bounds_exactly_the_differing_pixels():
    old = _overlay((10, 5, 20, 10))
    new = old.copy()
    assert changed_box(old, new) is None
    new[7, 40] = (1, 2, 3, 4)  # one pixel outside the old region
    new[30, 12, 3] = 9  # only the alpha of another
    assert changed_box(old, new) == (12, 7, 29, 24)  # x 12..40, y 7..30


def test_set_image_of_the_same_shape_asks_for_the_changed_rectangle_only(qtbot, monkeypatch):
    item = OverlayItem()
    updates = []
    monkeypatch.setattr(item, "update", lambda *a: updates.append(a))
    item.setImage(_overlay((10, 5, 20, 10)))
    assert item.boundingRect() == QRectF(0, 0, 80, 64)
    assert updates == [()]  # first image: everything
    updates.clear()
    item.setImage(_overlay((10, 5, 25, 10)))  # the region grew by 5 columns
    assert updates == [(QRectF(30, 5, 5, 10),)]
    updates.clear()
    item.setImage(_overlay((10, 5, 25, 10)))  # equal: nothing to repaint
    assert updates == []
    item.setImage(_overlay(shape=(32, 32)))  # another shape: everything again
    assert updates == [()] and item.boundingRect() == QRectF(0, 0, 32, 32)
    item.image[0:2, 0:3] = 255  # changed in place, then told where
    updates.clear()
    item.updateImage(rect=(0, 0, 3, 2))
    assert updates == [(QRectF(0, 0, 3, 2),)]
    item.clear()
    assert item.image is None and item.boundingRect() == QRectF()


def test_the_qimage_shows_the_array_without_a_copy(qtbot):
    item = OverlayItem()
    rgba = _overlay((1, 1, 2, 2))
    item.setImage(rgba)
    assert item.qimage.pixelColor(1, 1).getRgb() == (255, 200, 0, 128)
    rgba[1, 1] = (0, 0, 255, 255)  # the same memory
    assert item.qimage.pixelColor(1, 1).getRgb() == (0, 0, 255, 255)
    with pytest.raises(ValueError, match="RGBA"):
        item.setImage(np.zeros((4, 4), np.uint8))
