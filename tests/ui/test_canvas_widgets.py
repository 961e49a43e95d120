"""Presets menu, W/L box (stored units) and the measurements panel."""

from __future__ import annotations

import numpy as np
import pytest

from pneumoviewer.ui.image_canvas import ImageCanvas
from pneumoviewer.ui.widgets.canvas_presets import WindowLevelBox, WindowPresetsMenu
from pneumoviewer.ui.widgets.measurements_panel import MeasurementsPanel
from pneumoviewer.ui.windowing import Window
from tests.ui.test_canvas import xray


@pytest.fixture
def canvas(qtbot):
    c = ImageCanvas()
    qtbot.addWidget(c)
    c.resize(640, 480)
    return c


def test_presets_menu_lists_the_files_windows_with_numbers(qtbot, canvas):
    menu = WindowPresetsMenu(canvas)
    assert [a.text() for a in menu.actions()] == ["(no image)"]
    canvas.show_image(xray(window_centers=(1000.0, 3000.0), window_widths=(400.0, 200.0)))
    texts = [a.text() for a in menu.actions()]
    assert texts[:3] == [
        "File window 1 (W 400 / L 1,000)",
        "File window 2 (W 200 / L 3,000)",
        "Full range (W 4,089 / L 2,044.5)",
    ]
    assert texts[3].startswith("Lung (") and texts[4].startswith("Mediastinum (")
    menu.actions()[1].trigger()
    assert canvas.window == Window(3000, 200)


def test_window_level_box_shows_and_sets_stored_units(qtbot, canvas):
    box = WindowLevelBox(canvas)
    qtbot.addWidget(box)
    assert not box.isEnabled()
    canvas.show_image(xray(window_centers=(1000.0,), window_widths=(400.0,)))
    assert box.isEnabled()
    assert (box.width_spin.value(), box.level_spin.value()) == (400, 1000)
    assert box.combo.currentData() == "File window"
    box.level_spin.setValue(2500)
    assert canvas.window == Window(2500, 400)
    assert box.combo.currentText() == "Custom"
    index = box.combo.findData("Full range")
    box.combo.activated.emit(index)
    assert canvas.window == Window(2044.5, 4089)
    assert (box.width_spin.value(), box.level_spin.value()) == (4089, 2044.5)


def test_measurements_panel_values_and_missing_sides(qtbot):
    panel = MeasurementsPanel()
    qtbot.addWidget(panel)
    truth = np.zeros((100, 100), bool)
    pred = np.zeros((100, 100), bool)
    truth[10:30, 10:30] = True
    pred[20:40, 10:30] = True
    cmp = panel.show_masks(pred, truth, (0.5, 0.5))
    assert cmp.dice == pytest.approx(0.5)
    texts = {name: label.text() for name, label in panel.labels.items()}
    assert texts == {
        "Ground-truth area": "1.00 cm² (400 px)",
        "Predicted area": "1.00 cm² (400 px)",
        "False positive": "200 px",
        "False negative": "200 px",
        "Dice": "0.500",
    }
    panel.show_masks(None, truth, None)
    assert panel.labels["Ground-truth area"].text() == "400 px"
    assert panel.labels["Dice"].text() == "—"
    assert panel.note.text() == "not analysed (no mask)"
    with qtbot.waitSignal(panel.updated) as sig:
        panel.schedule(pred, None, (0.5, 0.5))
        panel.schedule(pred, truth, (0.5, 0.5))  # coalesced: the latest wins
    assert sig.args[0].false_positive_px == 200
