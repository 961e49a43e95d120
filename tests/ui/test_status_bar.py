"""The status bar's labels fit a 1280 / 1400 px window: elided with a tooltip, never cut off."""

from __future__ import annotations

import pytest

from pneumoviewer.ui.controllers.status import PRIORITY_GT, PRIORITY_READINGS, StatusLabel
from tests.ui.conftest import load_model_and_wait, open_and_wait

DEMO_TEXT = "Model: pneumoviewer demo model · DEMO, not for clinical use"
GT_TEXT = "Ground truth: train-rle-sample-with-a-long-name.csv (10 of 10 images)"


def resize_and_wait(qtbot, window, width: int, height: int = 900) -> None:
    """Resize the window and wait until the status bar has the new width."""
    window.resize(width, height)
    bar = window.statusBar()
    qtbot.waitUntil(lambda: window.width() == width and abs(bar.width() - width) <= 2)


def visible_labels(window) -> list:
    return [lb for lb in window.statusBar().findChildren(StatusLabel) if lb.isVisible()]


def assert_readable(window, label) -> None:
    """``label`` lies inside the bar and shows its full text, or an elided one + tooltip."""
    bar = window.statusBar()
    assert label.isVisible()
    assert label.x() >= 0 and label.geometry().right() < bar.width()
    shown = label.shown_text()
    metrics = label.fontMetrics()
    assert metrics.horizontalAdvance(shown) <= label.contentsRect().width()
    if shown != label.text():  # its short form, or elided once
        assert shown == label.short or shown.count("…") == 1
        assert label.text() in label.toolTip()


def assert_no_overlap(window) -> None:
    boxes = sorted((lb.x(), lb.geometry().right()) for lb in visible_labels(window))
    for (_, right), (left, _) in zip(boxes, boxes[1:], strict=False):
        assert right < left


@pytest.mark.parametrize("width", [1280, 1400])
def test_model_label_readable_with_model_loaded(qtbot, window, samples_dir, tiny_model_dir, width):
    open_and_wait(qtbot, window, samples_dir)
    load_model_and_wait(qtbot, window, tiny_model_dir)
    resize_and_wait(qtbot, window, width)
    label = window.model_label
    assert label.text().startswith("Model: ")
    assert_readable(window, label)
    assert label.shown_text().startswith("Model: ")
    assert_no_overlap(window)
    # The message keeps its room left of the labels.
    assert window.status.room_for_message() >= 240


def test_demo_model_label_at_1280_keeps_the_warning(qtbot, window, samples_dir):
    open_and_wait(qtbot, window, samples_dir)
    status = window.status
    status.set_label(status.model_label, DEMO_TEXT, style="color: #ff8a80;")
    status.set_label(status.gt_label, GT_TEXT)
    status.set_label(status.device_label, "Device: cpu · cls OpenVINO, seg ORT (auto)")
    resize_and_wait(qtbot, window, 1280)
    for label in visible_labels(window):
        assert_readable(window, label)
    assert_no_overlap(window)
    shown = window.model_label.shown_text()
    assert shown.endswith("DEMO, not for clinical use")  # the name part is elided, if any
    assert window.model_label.toolTip() == DEMO_TEXT
    assert window.model_label.text() == DEMO_TEXT


@pytest.fixture
def bare_bar(qtbot):
    """A plain QMainWindow with a StatusController and a readings label (any width allowed)."""
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QMainWindow

    from pneumoviewer.ui.controllers.status import StatusController

    main = QMainWindow()
    qtbot.addWidget(main)
    status = StatusController(main.statusBar(), QAction("Cancel", main))
    readings = status.add_label("Readings: —", name="readingsLabel")
    status.set_label(status.model_label, DEMO_TEXT)
    status.set_label(status.gt_label, GT_TEXT)
    status.set_label(status.device_label, "Device: cpu · PyTorch")
    status.set_label(
        readings, "Readings: .pneumoviewer-readings.sqlite · reader root", short="Reader: root"
    )
    main.resize(1900, 200)
    main.show()
    qtbot.waitExposed(main)
    return main, status, readings


def test_lower_priority_labels_hide_first_and_come_back(qtbot, bare_bar):
    main, status, readings = bare_bar
    wanted = [lb for lb in status.labels if lb.wanted]  # all but the notice
    assert all(lb.shown_text() == lb.text() for lb in wanted)
    hidden_at = {}
    for width in range(1800, 499, -100):
        resize_and_wait(qtbot, main, width, 200)
        assert status.model_label.isVisible()  # the model (DEMO warning) stays longest
        assert_readable(main, status.model_label)
        assert_no_overlap(main)
        assert status.room_for_message() >= 240
        for lb in wanted:
            if not lb.isVisible():
                hidden_at.setdefault(lb.priority, width)
                # a hidden label's lower priorities are hidden as well
                assert not any(o.isVisible() for o in wanted if o.priority < lb.priority)
    # The readings label hides first (at a wider bar than the ground truth's).
    assert hidden_at[PRIORITY_READINGS] > hidden_at[PRIORITY_GT] >= 500
    resize_and_wait(qtbot, main, 1900, 200)
    assert all(lb.isVisible() for lb in wanted)
    assert readings.shown_text() == readings.text()


def test_message_is_elided_not_clipped(qtbot, window, samples_dir):
    open_and_wait(qtbot, window, samples_dir)
    resize_and_wait(qtbot, window, 1280)
    text = "Analysis finished: " + "a very long sentence " * 20
    window.status.message(text, 0)
    shown = window.status.current_message()
    assert shown.endswith("…") and text.startswith(shown[:-1])
    assert window.statusBar().fontMetrics().horizontalAdvance(shown) <= (
        window.status.room_for_message()
    )
    assert window.statusBar().toolTip() == text


def test_fit_text_elides_the_longest_part(qapp):
    from PySide6.QtGui import QFont, QFontMetrics

    from pneumoviewer.ui.controllers.status import fit_text

    metrics = QFontMetrics(QFont())
    full = metrics.horizontalAdvance(DEMO_TEXT)
    assert fit_text(DEMO_TEXT, metrics, full) == DEMO_TEXT
    shown = fit_text(DEMO_TEXT, metrics, full - 40)
    assert shown.startswith("Model: ") and shown.endswith("… · DEMO, not for clinical use")
    assert metrics.horizontalAdvance(shown) <= full - 40
    tiny = fit_text(DEMO_TEXT, metrics, 60)
    assert tiny.endswith("…") and metrics.horizontalAdvance(tiny) <= 60
