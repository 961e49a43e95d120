"""The study list's columns fit their text; a narrow list scrolls to Read and Quality."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from pneumoviewer.ui.study_list import COLUMN_SAMPLES, StudyListPanel
from pneumoviewer.ui.study_model import COL_ID, COL_QUALITY, COL_READ, COLUMNS


@pytest.fixture
def panel(qtbot):
    p = StudyListPanel()
    qtbot.addWidget(p)
    return p


def _show(qtbot, panel, width: int) -> None:
    panel.resize(width, 500)
    panel.show()
    qtbot.waitExposed(panel)
    view = panel.view
    qtbot.waitUntil(lambda: view.viewport().width() < width)  # laid out at this width


def test_every_column_fits_its_title_and_usual_text(qtbot, panel):
    _show(qtbot, panel, 470)
    header, cells = panel.view.horizontalHeader(), panel.view.fontMetrics()
    titles = header.fontMetrics()
    assert set(COLUMN_SAMPLES) == set(range(len(COLUMNS)))
    for col, sample in COLUMN_SAMPLES.items():
        width = header.sectionSize(col)
        assert width >= cells.horizontalAdvance(sample) + 8, (COLUMNS[col], width)
        assert width >= titles.horizontalAdvance(COLUMNS[col]) + 8, (COLUMNS[col], width)
    assert header.sectionSize(COL_READ) >= cells.horizontalAdvance("disagree") + 8


def test_a_narrow_list_scrolls_sideways_to_read_and_quality(qtbot, panel):
    _show(qtbot, panel, 360)  # the Studies dock's floor
    view, header = panel.view, panel.view.horizontalHeader()
    assert view.horizontalScrollBarPolicy() != Qt.ScrollBarPolicy.ScrollBarAlwaysOff
    bar = view.horizontalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    assert header.sectionSize(COL_ID) == panel.column_widths[COL_ID]  # not squeezed to nothing
    bar.setValue(bar.maximum())
    for col in (COL_READ, COL_QUALITY):  # fully visible once scrolled to the end
        left = header.sectionViewportPosition(col)
        assert 0 <= left and left + header.sectionSize(col) <= view.viewport().width()


def test_a_wide_list_gives_the_room_to_image_id_and_needs_no_scrolling(qtbot, panel):
    _show(qtbot, panel, 1100)
    view, header = panel.view, panel.view.horizontalHeader()
    qtbot.waitUntil(lambda: header.length() == view.viewport().width())
    assert header.sectionSize(COL_ID) > panel.column_widths[COL_ID]
    assert view.horizontalScrollBar().maximum() == 0
    # A column widened by the user takes its room from ImageId.
    before = header.sectionSize(COL_ID)
    header.resizeSection(COL_QUALITY, header.sectionSize(COL_QUALITY) + 50)
    assert header.sectionSize(COL_ID) == before - 50
    assert header.length() == view.viewport().width()
