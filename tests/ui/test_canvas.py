"""The canvas on its own: stored-unit window/level, presets, invert, lock, annotations, ruler."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from pneumoviewer.ui.image_canvas import ImageCanvas
from pneumoviewer.ui.windowing import FULL_RANGE, LUNG, Window


def metadata(**kw):
    base = dict(
        patient_sex="F",
        patient_age="041Y",
        age_text="41 y",
        view_position="PA",
        study_date="20190101",
        photometric="MONOCHROME2",
        patient_orientation=("L", "F"),
        window_centers=(),
        window_widths=(),
        pixel_spacing=(0.2, 0.25),
        pixel_spacing_source="Imager Pixel Spacing",
        rows=256,
        columns=512,
    )
    base.update(kw)
    return SimpleNamespace(**base)


def xray(stored=None, **md):
    """An XrayImage look-alike: 12-bit ramp (0..4095 across the columns) unless given."""
    if stored is None:
        stored = np.tile(np.arange(0, 4096, 8, dtype=np.float32), (256, 1))  # 256 x 512
    return SimpleNamespace(
        stored=stored,
        pixels=np.zeros(stored.shape, np.uint8),
        padding=None,
        metadata=metadata(**md),
    )


@pytest.fixture
def canvas(qtbot):
    c = ImageCanvas()
    qtbot.addWidget(c)
    c.resize(800, 600)
    c.show()
    qtbot.waitExposed(c)
    return c


class Drag:
    """The parts of pyqtgraph's MouseDragEvent the ViewBox uses."""

    def __init__(self, dx, dy, start, finish):
        self.d, self.start, self.finish = QPointF(dx, dy), start, finish

    def button(self):
        return Qt.MouseButton.RightButton

    def accept(self):
        pass

    def isStart(self):
        return self.start

    def isFinish(self):
        return self.finish

    def buttonDownScreenPos(self):
        return QPointF(100, 100)

    def screenPos(self):
        return QPointF(100, 100) + self.d


def test_12bit_image_opens_with_full_range_in_stored_units(qtbot, canvas):
    canvas.show_image(xray())
    assert canvas.window == Window(2044.5, 4089)  # 0..4088 stored units
    assert canvas.window_text() == "W 4,089 / L 2,044.5"
    shown = canvas.displayed_pixels()
    assert shown.dtype == np.uint8 and shown[0, 0] == 0 and shown[0, -1] == 255
    assert "W 4,089 / L 2,044.5" in canvas.annotations.status.text()


def test_file_window_is_the_default_and_presets_list_it_first(qtbot, canvas):
    canvas.show_image(xray(window_centers=(1024.0, 3000.0), window_widths=(512.0, 200.0)))
    assert [p.name for p in canvas.presets][:3] == ["File window 1", "File window 2", FULL_RANGE]
    assert canvas.window == Window(1024, 512)
    shown = canvas.displayed_pixels()
    col = np.arange(0, 4096, 8)
    assert (shown[0, col <= 768] == 0).all() and (shown[0, col > 1279] == 255).all()
    with qtbot.waitSignal(canvas.levels_changed) as sig:
        canvas.apply_preset("File window 2")
    assert sig.args == [2900.0, 3100.0] and canvas.window == Window(3000, 200)
    with pytest.raises(KeyError, match="Bone"):
        canvas.apply_preset("Bone")


def test_right_drag_moves_the_window_in_stored_units(qtbot, canvas):
    canvas.show_image(xray())
    start = canvas.window
    with qtbot.waitSignal(canvas.levels_changed):
        canvas.view.mouseDragEvent(Drag(0, 0, True, False))
        canvas.view.mouseDragEvent(Drag(-100, 40, False, True))
    k = 0.75 * 4088 / 255  # stored units per screen pixel for this image's range
    assert canvas.window.width == pytest.approx(start.width - 100 * k)
    assert canvas.window.center == pytest.approx(start.center - 40 * k)


def test_invert_and_monochrome1(qtbot, canvas):
    canvas.show_image(xray())
    normal = canvas.displayed_pixels().copy()
    canvas.set_invert(True)
    np.testing.assert_array_equal(canvas.displayed_pixels(), 255 - normal)
    canvas.set_invert(False)
    canvas.show_image(xray(photometric="MONOCHROME1"))  # stored bright air: shown dark
    np.testing.assert_array_equal(canvas.displayed_pixels(), 255 - normal)


def test_window_and_zoom_reset_per_image_unless_locked(qtbot, canvas):
    canvas.show_image(xray())
    canvas.set_window(Window(500, 100), emit=True)
    canvas.set_zoom(2.0, (100, 100))
    canvas.show_image(xray())
    assert canvas.window == Window(2044.5, 4089)
    assert canvas.zoom == pytest.approx(800 / 512 * 0.99, rel=0.05)  # fitted again
    canvas.set_locked(True)
    canvas.set_window(Window(500, 100), emit=True)
    canvas.set_zoom(2.0, (100, 100))
    canvas.show_image(xray())
    assert canvas.window == Window(500, 100)
    assert canvas.zoom == pytest.approx(2.0, rel=0.01)
    canvas.set_locked(False)
    canvas.show_image(xray())  # default window ...
    canvas.set_locked(True)
    canvas.show_image(xray(stored=np.full((256, 512), 7, np.float32)))  # ... kept as numbers
    assert canvas.window == Window(2044.5, 4089)


def test_value_under_a_still_cursor_follows_the_new_image(qtbot, canvas):
    canvas.show_image(xray())
    canvas._on_mouse_moved(canvas.view.mapViewToScene(QPointF(10.5, 3.5)))
    assert "(10, 3) = 80" in canvas.annotations.status.text()
    canvas.show_image(xray(stored=np.full((256, 512), 7, np.float32)))
    assert "(10, 3) = 7" in canvas.annotations.status.text()


def test_lung_preset_and_clahe_mode(qtbot, canvas):
    img = xray()
    clahe = np.full(img.stored.shape, 77, np.uint8)
    canvas.show_image(img, clahe=clahe)
    canvas.set_contrast(True)
    np.testing.assert_array_equal(canvas.displayed_pixels(), clahe)
    assert canvas.window_text().startswith("CLAHE W 256 / L 128")
    canvas.apply_preset(LUNG)  # presets are stored units: CLAHE goes off
    assert not canvas.contrast
    assert canvas.window.lo == pytest.approx(4088 * 0.01, abs=10)
    assert canvas.window.hi == pytest.approx(4088 * 0.65, abs=10)


@pytest.mark.parametrize(
    ("orientation", "edges"),
    [
        (("A", "F"), {"left": "P", "right": "A", "top": "H", "bottom": "F"}),
        (("P", "F"), {"left": "A", "right": "P", "top": "H", "bottom": "F"}),
        (None, {"left": "?", "right": "?", "top": "?", "bottom": "?"}),
    ],
)
def test_orientation_labels_on_the_canvas(qtbot, canvas, orientation, edges):
    canvas.show_image(xray(patient_orientation=orientation))
    shown = {side: label.text() for side, label in canvas.annotations.edges.items()}
    assert shown == edges
    assert all(label.isVisible() for label in canvas.annotations.edges.values())
    left, right = canvas.annotations.edges["left"], canvas.annotations.edges["right"]
    assert left.x() < canvas.graphics.width() / 2 < right.x()
    canvas.set_annotation_visible("orientation", False)
    assert not any(label.isVisible() for label in canvas.annotations.edges.values())


def test_patient_corner_zoom_and_pixel_value(qtbot, canvas):
    canvas.show_image(xray())
    assert canvas.annotations.patient.text() == "F · 41 y\nPA\n2019-01-01"
    canvas.one_to_one()
    assert "Zoom 100%" in canvas.annotations.status.text()
    assert canvas.value_at(10.5, 3.2) == (10, 3, 80.0)  # column 10 of the ramp: 10 * 8
    assert canvas.value_at(-1, 3) is None and canvas.value_at(512, 0) is None
    scene_pos = canvas.view.mapViewToScene(QPointF(100.5, 20.5))
    canvas._on_mouse_moved(scene_pos)
    assert "(100, 20) = 800" in canvas.annotations.status.text()
    canvas.set_annotation_visible("pixel_value", False)
    canvas.set_annotation_visible("zoom", False)
    assert canvas.annotations.status_lines() == ["W 4,089 / L 2,044.5"]
    canvas.set_annotation_visible("patient", False)
    assert not canvas.annotations.patient.isVisible()


def test_ruler_in_mm_names_its_spacing_and_is_removable(qtbot, canvas):
    canvas.show_image(xray())
    with qtbot.waitSignal(canvas.ruler_toggled, check_params_cb=lambda on: on):
        canvas.set_ruler(True)
    canvas.ruler.add((100, 50), (300, 50))  # 200 columns x 0.25 mm
    assert canvas.ruler.text() == "50.0 mm (Imager Pixel Spacing)"
    canvas.ruler.roi.movePoint(1, QPointF(100, 150))  # 100 rows x 0.2 mm
    assert canvas.ruler.distance().value == pytest.approx(20.0)
    with qtbot.waitSignal(canvas.ruler_toggled, check_params_cb=lambda on: not on):
        canvas.set_ruler(False)
    assert not canvas.ruler.active and canvas.ruler.text() == ""


def test_ruler_in_px_without_spacing_and_gone_on_next_image(qtbot, canvas):
    canvas.show_image(xray(pixel_spacing=None, pixel_spacing_source=None))
    canvas.set_ruler(True)
    canvas.ruler.add((0, 0), (30, 40))
    assert canvas.ruler.text() == "50.0 px (no pixel spacing)"
    with qtbot.waitSignal(canvas.ruler_toggled, check_params_cb=lambda on: not on):
        canvas.show_image(xray())
    assert not canvas.ruler.active
    with qtbot.waitSignal(canvas.ruler_toggled):  # context menu "Remove ROI"
        canvas.set_ruler(True)
    with qtbot.waitSignal(canvas.ruler_toggled, check_params_cb=lambda on: not on):
        canvas.ruler.roi.sigRemoveRequested.emit(canvas.ruler.roi)
    assert not canvas.ruler.active


def test_message_hides_annotations(qtbot, canvas):
    canvas.show_image(xray())
    canvas.show_message("Cannot display this image")
    assert canvas.message_text() == "Cannot display this image"
    assert not canvas.annotations.patient.isVisible()
    assert canvas.value_at(1, 1) is None


def test_a_cached_switch_reuses_the_index_of_the_same_array(qtbot, canvas):
    first, second = xray(), xray()
    canvas.show_image(first)
    index = canvas._raw.index
    canvas.show_image(second)
    assert canvas._raw.index is not index
    canvas.show_image(first)
    assert canvas._raw.index is index  # same stored array: no re-quantisation
    np.testing.assert_array_equal(canvas.displayed_pixels()[0, :3], [0, 0, 1])
