"""The canvas bound to the view model's display state, both ways, with no main window."""

from __future__ import annotations

import numpy as np
import pytest

from pneumoviewer.ui.image_canvas import ImageCanvas
from pneumoviewer.ui.view_model import ViewModel
from pneumoviewer.ui.windowing import Window
from tests.ui.test_canvas import xray


@pytest.fixture
def bound(qtbot):
    canvas = ImageCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(800, 600)
    canvas.show()
    qtbot.waitExposed(canvas)
    vm = ViewModel()
    canvas.bind_view_model(vm)
    return canvas, vm


def test_window_flows_both_ways_in_stored_units(qtbot, bound):
    canvas, vm = bound
    canvas.show_image(xray())
    vm.display.window_center, vm.display.window_width = 1000.0, 400.0
    assert canvas.window == Window(1000, 400)
    canvas.set_window(Window(3000, 100), emit=True)  # as a right-drag or preset does
    assert (vm.display.window_center, vm.display.window_width) == (3000.0, 100.0)
    canvas.reset_levels()
    assert vm.display.window_center is None and canvas.window == Window(2044.5, 4089)


def test_new_image_resets_unless_locked(qtbot, bound):
    canvas, vm = bound
    vm.show("a")
    canvas.show_image(xray())
    canvas.set_window(Window(3000, 100), emit=True)
    vm.show("b")  # the controllers select, then the pixels arrive
    canvas.show_image(xray())
    assert canvas.window == Window(2044.5, 4089) and vm.display.window_center is None
    vm.display.lock = True
    assert canvas.is_locked()
    canvas.set_window(Window(3000, 100), emit=True)
    canvas.set_zoom(2.0, (50, 50))
    vm.show("c")
    canvas.show_image(xray())
    assert canvas.window == Window(3000, 100)
    assert canvas.zoom == pytest.approx(2.0, rel=0.01)
    assert vm.display.zoom == pytest.approx(2.0, rel=0.01)


def test_invert_clahe_and_toggles_follow_the_model(qtbot, bound):
    canvas, vm = bound
    img = xray()
    canvas.show_image(img, clahe=np.full(img.stored.shape, 9, np.uint8))
    before = canvas.displayed_pixels().copy()
    vm.display.invert = True
    np.testing.assert_array_equal(canvas.displayed_pixels(), 255 - before)
    vm.display.clahe = True
    assert canvas.contrast and (canvas.displayed_pixels() == 255 - 9).all()
    vm.display.clahe = False
    vm.display.show_orientation = False
    assert not canvas.annotations.edges["left"].isVisible()
    vm.display.show_patient = False
    assert not canvas.annotations.patient.isVisible()
    vm.display.show_pixel_value = False
    vm.display.show_zoom = False
    assert canvas.annotations.status_lines() == [canvas.window_text()]


def test_ruler_follows_the_model_and_reports_removal(qtbot, bound):
    canvas, vm = bound
    canvas.show_image(xray())
    vm.display.ruler = True
    assert canvas.ruler.active and canvas.ruler.text().endswith("mm (Imager Pixel Spacing)")
    canvas.ruler.roi.sigRemoveRequested.emit(canvas.ruler.roi)  # its context menu
    assert not canvas.ruler.active and vm.display.ruler is False
    vm.display.ruler = True
    canvas.show_image(xray())  # the ruler is per image
    assert not canvas.ruler.active and vm.display.ruler is False


def test_zoom_from_the_model(qtbot, bound):
    canvas, vm = bound
    canvas.show_image(xray())
    vm.display.pan = (256.0, 128.0)
    vm.display.zoom = 1.0
    assert canvas.zoom == pytest.approx(1.0, rel=0.01)
    centre = canvas.view.viewRect().center()
    assert (centre.x(), centre.y()) == (pytest.approx(256, abs=1), pytest.approx(128, abs=1))
    vm.display.zoom = None  # fit
    assert canvas.zoom == pytest.approx(800 / 512 * 0.99, rel=0.05)
