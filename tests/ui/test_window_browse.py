"""Browsing without a model: list, canvas pixels, ground-truth overlay, contrast, problems."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from pneumoviewer.core.dicom_io import load_xray
from pneumoviewer.core.ground_truth import read_rle_csv
from pneumoviewer.core.preprocessing import ClaheParams, clahe
from tests.ui.conftest import open_and_wait, show_row_and_wait

POSITIVE = "1.2.276.0.7230010.3.1.4.8323329.1314.1517875167.222290"


def test_sample_folder_lists_ten_rows_with_truth(qtbot, window, samples_dir):
    open_and_wait(qtbot, window, samples_dir)
    model = window.study_list.model
    assert model.rowCount() == 10
    truths = [r.truth for r in model.rows]
    assert truths.count(True) == 5 and truths.count(False) == 5
    assert window.problems.count() == 0
    assert window.gt_label.text() == "Ground truth: train-rle-sample.csv (10 of 10 images)"


def test_selected_row_shows_its_pixels(qtbot, window, samples_dir):
    open_and_wait(qtbot, window, samples_dir)
    row = window.study_list.model.rows[3]
    show_row_and_wait(qtbot, window, row.image_id)
    expected = load_xray(row.path).pixels
    shown = window.canvas.displayed_pixels()
    assert shown.dtype == np.uint8 and shown.flags.c_contiguous
    np.testing.assert_array_equal(shown, expected)
    # no window in these files: the default window is the stored values' full range, as a
    # DICOM linear-function window [min, max + 1) (integer stored values)
    stored = load_xray(row.path).stored
    lo, hi = float(stored.min()), float(stored.max())
    assert window.canvas.levels == pytest.approx((lo, hi + 1))
    assert window.metadata_panel.values["image_id"].toolTip() == row.image_id


def test_ground_truth_overlay_pixels_equal_mask_area(qtbot, window, samples_dir, sample_csv):
    open_and_wait(qtbot, window, samples_dir)
    show_row_and_wait(qtbot, window, POSITIVE)
    mask = read_rle_csv(sample_csv).mask(POSITIVE, (1024, 1024))
    overlay = window.canvas.overlay
    assert overlay.shape == (1024, 1024, 4) and overlay.dtype == np.uint8
    alpha = overlay[..., 3] > 0
    assert mask.sum() > 1000
    assert alpha.sum() == mask.sum()
    np.testing.assert_array_equal(alpha, mask)
    assert tuple(overlay[alpha][0, :3]) == window.truth_color
    window.actions["show_truth"].setChecked(False)  # G toggles it off
    assert not (window.canvas.overlay[..., 3] > 0).any()
    window.actions["show_truth"].setChecked(True)
    window.controls.outline_combo.setCurrentIndex(1)  # outline: fewer pixels, inside the mask
    outline = window.canvas.overlay[..., 3] > 0
    assert 0 < outline.sum() < mask.sum() and not (outline & ~mask).any()


def test_contrast_toggle_switches_to_the_models_clahe(qtbot, window, samples_dir):
    open_and_wait(qtbot, window, samples_dir)
    raw = window.canvas.displayed_pixels().copy()
    window.actions["contrast"].trigger()
    enhanced = window.canvas.displayed_pixels()
    assert not np.array_equal(raw, enhanced)
    np.testing.assert_array_equal(enhanced, clahe(raw, ClaheParams()))
    window.actions["contrast"].trigger()
    np.testing.assert_array_equal(window.canvas.displayed_pixels(), raw)


def test_keyboard_navigation_and_toggles(qtbot, window, samples_dir):
    from PySide6.QtCore import Qt

    open_and_wait(qtbot, window, samples_dir)
    window.activateWindow()
    window.canvas.setFocus()
    first = window.current_id
    with qtbot.waitSignal(window.image_shown, timeout=10000):
        qtbot.keyClick(window.canvas, Qt.Key.Key_Down)
    assert window.current_id == window.study_list.proxy.image_ids()[1] != first
    qtbot.keyClick(window.canvas, Qt.Key.Key_G)
    assert not window.actions["show_truth"].isChecked()
    qtbot.keyClick(window.canvas, Qt.Key.Key_C)
    assert window.actions["contrast"].isChecked()
    before = window.controls.threshold
    qtbot.keyClick(window.canvas, Qt.Key.Key_Plus)
    assert window.controls.threshold == pytest.approx(before + 0.05)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Minus)
    assert window.controls.threshold == pytest.approx(before)


def test_unreadable_file_reported_and_folder_stays_usable(qtbot, window, samples_dir, tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    files = sorted(samples_dir.glob("*.dcm"))
    good = files[:2]
    for p in good:
        shutil.copy(p, folder / p.name)
    data = files[2].read_bytes()
    broken = folder / "broken.dcm"  # header intact, pixel data cut off
    broken.write_bytes(data[: len(data) - 60_000])
    (folder / "junk.dcm").write_bytes(b"not a dicom at all" * 10)
    open_and_wait(qtbot, window, folder)
    model = window.study_list.model
    assert window.problems.count() >= 1  # junk.dcm: scan problem
    listed = {r.path.name for r in model.rows}
    assert {p.name for p in good} <= listed and "junk.dcm" not in listed
    if "broken.dcm" in listed:  # the header scan accepted it: loading it fails visibly
        broken_id = next(r.image_id for r in model.rows if r.path.name == "broken.dcm")
        show_row_and_wait(qtbot, window, broken_id)
        assert "broken.dcm" in window.canvas.message_text()
        assert window.current is None and model.get(broken_id).error
    names = {
        window.problems.table.item(r, 0).text() for r in range(window.problems.table.rowCount())
    }
    assert {"junk.dcm", "broken.dcm"} <= names
    good_id = next(r.image_id for r in model.rows if r.path.name == good[1].name)
    show_row_and_wait(qtbot, window, good_id)
    assert window.canvas.message_text() == ""
    np.testing.assert_array_equal(window.canvas.displayed_pixels(), load_xray(good[1]).pixels)


def test_settings_are_isolated_and_remembered(
    qtbot, make_window, samples_dir, isolated_settings, tmp_path
):
    w = make_window()
    w.controls.set_threshold(0.35)
    w.controls.opacity_slider.setValue(70)
    w.actions["contrast"].setChecked(True)
    w.last_export_dir = tmp_path
    w.close()
    files = list(isolated_settings.rglob("*.ini"))
    assert files, "settings must be written under the isolated folder"
    w2 = make_window()
    assert w2.controls.threshold == pytest.approx(0.35)
    assert w2.controls.opacity_slider.value() == 70
    assert w2.actions["contrast"].isChecked()
    assert w2.last_export_dir == tmp_path


def test_drop_a_folder_opens_it(qtbot, window, samples_dir):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(samples_dir))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(window.scan_finished, timeout=15000) as done:
        window.dropEvent(event)
    assert done.args == [10]
    assert window.folder == samples_dir.resolve()
    assert window.recent[0] == samples_dir.resolve()
    assert window.recent_menu.actions()[0].text() == str(samples_dir.resolve())


def test_analyse_without_model_says_so_and_keeps_browsing(qtbot, window, samples_dir):
    open_and_wait(qtbot, window, samples_dir)
    window.actions["analyse"].trigger()
    window.actions["analyse_all"].trigger()
    assert "No model" in window.statusBar().currentMessage()
    assert len(window.store) == 0
    assert window.model_panel.values["name"].text() == "No model loaded"


def test_excepthook_logs_and_shows_a_dialog(monkeypatch, caplog):
    import sys

    from PySide6.QtWidgets import QMessageBox

    from pneumoviewer.ui.app import install_excepthook

    shown = []
    monkeypatch.setattr(QMessageBox, "exec", lambda self: shown.append(self.text()) or 0)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    install_excepthook(lambda: None)
    try:
        raise RuntimeError("boom in a slot")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    assert shown == ["RuntimeError: boom in a slot"]
    assert "boom in a slot" in caplog.text


def test_window_level_control_fit_and_one_to_one(qtbot, window, samples_dir):
    open_and_wait(qtbot, window, samples_dir)
    from pneumoviewer.ui.windowing import default_window

    box = window.reading_room.window_box  # W/L in stored units (8-bit samples: 0..255)
    box.width_spin.setValue(160)
    box.level_spin.setValue(120)
    assert window.canvas.levels == (40.0, 200.0)
    window.actions["reset_levels"].trigger()  # back to the image's own default window
    assert window.canvas.window == default_window(window.canvas.presets)
    assert box.width_spin.value() == window.canvas.window.width
    window.actions["one_to_one"].trigger()
    rect, size = window.canvas.view.viewRect(), window.canvas.view.size()
    assert rect.width() == pytest.approx(size.width(), rel=0.02)
    window.actions["fit"].trigger()
    rect = window.canvas.view.viewRect()
    assert rect.width() >= 1024 or rect.height() >= 1024  # whole image visible
    assert rect.contains(512, 512)


def test_right_drag_changes_window_and_level(qtbot, window, samples_dir):
    from PySide6.QtCore import QPointF, Qt

    open_and_wait(qtbot, window, samples_dir)

    class Drag:  # the parts of pyqtgraph's MouseDragEvent the ViewBox uses
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

    view = window.canvas.view
    start = window.canvas.window
    k = 0.75 * window.canvas.value_span / 255  # stored units per screen pixel
    view.mouseDragEvent(Drag(0, 0, True, False))
    view.mouseDragEvent(Drag(-100, 0, False, True))  # drag left: narrower window
    lo, hi = window.canvas.levels
    assert hi - lo == pytest.approx(start.width - 100 * k)
    assert (lo + hi) / 2 == pytest.approx(start.center)
    view.mouseDragEvent(Drag(0, 0, True, False))
    view.mouseDragEvent(Drag(0, 40, False, True))  # drag down: level down (brighter)
    lo2, hi2 = window.canvas.levels
    assert hi2 - lo2 == pytest.approx(hi - lo)
    assert (lo2 + hi2) / 2 == pytest.approx(start.center - 40 * k)
    box = window.reading_room.window_box
    assert (box.width_spin.value(), box.level_spin.value()) == (
        pytest.approx(hi2 - lo2, abs=0.05),
        pytest.approx((lo2 + hi2) / 2, abs=0.05),
    )


def test_legend_notes_what_is_missing(qtbot, window, samples_dir):
    open_and_wait(qtbot, window, samples_dir)
    negative = next(r.image_id for r in window.study_list.model.rows if r.truth is False)
    show_row_and_wait(qtbot, window, negative)
    assert "Ground truth" in window.canvas.legend.text()
    assert "ground truth: no pneumothorax" in window.canvas.legend.text()


def test_arrow_keys_stay_with_a_focused_spin_box(qtbot, window, samples_dir):
    from PySide6.QtCore import Qt

    open_and_wait(qtbot, window, samples_dir)
    window.activateWindow()
    spin = window.controls.gate_spin
    spin.setFocus()
    row, value = window.study_list.view.currentIndex().row(), spin.value()
    qtbot.keyClick(spin, Qt.Key.Key_Down)
    assert spin.value() == pytest.approx(value - 0.05)
    assert window.study_list.view.currentIndex().row() == row
