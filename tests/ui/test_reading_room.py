"""The reading-room basics in the main window: stored units, reset/lock, keys, menus, numbers."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from pneumoviewer.core.dicom_io import load_xray
from pneumoviewer.ui.windowing import Window
from tests.core import dicom_factory as factory
from tests.ui.conftest import open_and_wait, show_row_and_wait


def test_sample_is_shown_as_the_loader_displays_it_with_its_annotations(
    qtbot, window, samples_dir
):
    open_and_wait(qtbot, window, samples_dir)
    li = window.vm.image.loaded
    np.testing.assert_array_equal(window.canvas.displayed_pixels(), li.image.pixels)
    edges = {side: label.text() for side, label in window.canvas.annotations.edges.items()}
    assert edges == {"left": "?", "right": "?", "top": "?", "bottom": "?"}  # SIIM: none
    md = li.image.metadata
    first = window.canvas.annotations.patient.text().splitlines()[0]
    assert first == f"{md.patient_sex} · {md.age_text}"
    assert window.canvas.window_text() in window.canvas.annotations.status.text()


def test_twelve_bit_file_windows_in_stored_units(qtbot, window, tmp_path):
    pixels = np.tile(np.arange(0, 4096, 4, dtype=np.uint16), (1024, 1))  # 1024 x 1024
    ds = factory.make_image(pixels, bits_stored=12)
    ds.WindowCenter, ds.WindowWidth = [1500, 3000], [1000, 400]
    ds.PatientOrientation = ["L", "F"]
    factory.write(ds, tmp_path / "twelve.dcm")
    open_and_wait(qtbot, window, tmp_path)
    assert window.canvas.window == Window(1500, 1000)
    assert window.canvas.annotations.status.text().count("W 1,000 / L 1,500") == 1
    np.testing.assert_array_equal(
        window.canvas.displayed_pixels(), load_xray(tmp_path / "twelve.dcm").pixels
    )
    edges = window.canvas.annotations.edges
    assert (edges["left"].text(), edges["right"].text()) == ("R", "L")
    menu = window.reading_room.presets_menu
    assert [a.text() for a in menu.actions()][:2] == [
        "File window 1 (W 1,000 / L 1,500)",
        "File window 2 (W 400 / L 3,000)",
    ]
    menu.actions()[1].trigger()
    assert (window.vm.display.window_center, window.vm.display.window_width) == (3000, 400)


def test_keys_invert_lock_and_ruler(qtbot, window, samples_dir):
    open_and_wait(qtbot, window, samples_dir)
    rows = window.study_list.model.rows
    normal = window.canvas.displayed_pixels().copy()
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_I)
    assert window.vm.display.invert and window.actions["invert"].isChecked()
    np.testing.assert_array_equal(window.canvas.displayed_pixels(), 255 - normal)
    qtbot.keyClick(window.canvas, Qt.Key.Key_I)

    window.canvas.set_window(Window(100, 50), emit=True)
    show_row_and_wait(qtbot, window, rows[1].image_id)
    assert window.canvas.window != Window(100, 50)  # reset per image
    qtbot.keyClick(window.canvas, Qt.Key.Key_L)
    assert window.vm.display.lock
    window.canvas.set_window(Window(100, 50), emit=True)
    show_row_and_wait(qtbot, window, rows[2].image_id)
    assert window.canvas.window == Window(100, 50)  # locked: kept

    qtbot.keyClick(window.canvas, Qt.Key.Key_M)
    assert window.canvas.ruler.active and window.actions["ruler"].isChecked()
    window.canvas.ruler.add((100, 100), (100, 400))
    spacing = rows[2].metadata.pixel_spacing
    assert window.canvas.ruler.text() == f"{300 * spacing[0]:.1f} mm (Pixel Spacing)"
    qtbot.keyClick(window.canvas, Qt.Key.Key_M)
    assert not window.canvas.ruler.active and not window.vm.display.ruler


def test_annotation_toggles_in_the_view_menu(qtbot, window, samples_dir):
    open_and_wait(qtbot, window, samples_dir)
    texts = [a.text() for a in window.reading_room.annotations_menu.actions()]
    assert texts == [
        "Orientation labels",
        "Age, sex, view, date",
        "Zoom %",
        "Value under the cursor",
    ]
    window.actions["show_orientation"].trigger()
    assert window.vm.display.show_orientation is False
    assert not window.canvas.annotations.edges["top"].isVisible()
    window.actions["show_patient"].trigger()
    assert not window.canvas.annotations.patient.isVisible()


def test_measurements_against_the_ground_truth(qtbot, window, samples_dir):
    open_and_wait(qtbot, window, samples_dir)
    positive = next(r for r in window.study_list.model.rows if r.truth)
    panel = window.reading_room.measurements
    show_row_and_wait(qtbot, window, positive.image_id)
    if panel.pending():  # the overlay repaint scheduled it; it shows on the next loop turn
        with qtbot.waitSignal(panel.updated, timeout=10000):
            pass
    truth = window.vm.image.loaded.truth
    px = int(truth.sum())
    row, col = positive.metadata.pixel_spacing
    assert panel.labels["Ground-truth area"].text() == f"{px * row * col / 100:.2f} cm² ({px:,} px)"
    assert panel.labels["Dice"].text() == "—"  # not analysed
    assert panel.note.text() == "not analysed (no mask)"
