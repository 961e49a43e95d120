"""Layout defects seen in the README screenshots: letters under other labels, a clipped dock."""

from __future__ import annotations

from PySide6.QtWidgets import QScrollArea

from tests.ui.conftest import open_and_wait


def test_orientation_letters_slide_off_the_legend_and_the_info_line(qtbot, window, samples_dir):
    open_and_wait(qtbot, window, samples_dir)
    canvas = window.canvas
    edges = canvas.annotations.edges
    assert edges["top"].isVisible() and edges["bottom"].isVisible()
    # a wide info line (bottom right) reaching past the middle, a wide legend (top left)
    canvas.set_info("<b>…23329.4904.1517875185.355709</b>&nbsp;&nbsp;AI p = 0.84 (positive)")
    canvas.set_legend(
        [("Overlap (Ground truth + Prediction + Reader + more words)", (0, 200, 220))]
    )
    w = canvas.graphics.width()
    assert canvas.info.geometry().left() < w // 2 < canvas.info.geometry().right()
    assert canvas.legend.geometry().left() < w // 2 < canvas.legend.geometry().right()
    assert not edges["bottom"].geometry().intersects(canvas.info.geometry())
    assert not edges["bottom"].geometry().intersects(canvas.annotations.status.geometry())
    # a wider status corner (bottom left) too: the letter keeps clear of both
    canvas.annotations.set_status(window="CLAHE W 256 / L 128")
    corner = canvas.annotations.status.geometry()
    assert not edges["bottom"].geometry().intersects(corner)
    assert not edges["bottom"].geometry().intersects(canvas.info.geometry())
    assert not edges["top"].geometry().intersects(canvas.legend.geometry())
    assert edges["top"].geometry().left() > canvas.legend.geometry().right()
    # short labels again: the letters are back in the middle of their edges
    canvas.set_info("short")
    canvas.set_legend([("Prediction", (255, 220, 0))])
    for side in ("top", "bottom"):
        assert abs(edges[side].geometry().center().x() - w // 2) <= 2


def test_controls_fit_their_dock_without_clipping(qtbot, window):
    qtbot.waitExposed(window)
    controls = window.controls
    area = controls.parentWidget().parentWidget()
    assert isinstance(area, QScrollArea)
    # horizontal scrolling is off: a wider minimum would cut off the right column
    assert controls.minimumSizeHint().width() <= area.viewport().width()
    assert controls.width() <= area.viewport().width()


def test_quality_banner_goes_under_a_wide_legend_and_shows_all_its_lines(
    qtbot, window, samples_dir
):
    from pneumoviewer.core.quality_types import Quality, QualityResult, Reason

    open_and_wait(qtbot, window, samples_dir)
    canvas, banner = window.canvas, window.quality.banner
    canvas.set_legend(
        [("Ground truth", (160, 60, 220)), ("Overlap (Ground truth + Prediction)", (230, 160, 60))]
    )
    warn = Reason(Quality.WARN, "age", "patient is 16 y; the model is meant for 18 y and older")
    banner.show_quality(QualityResult.of([warn]), False)
    assert banner.isVisible()
    legend, corner = canvas.legend.geometry(), canvas.annotations.patient.geometry()
    assert not banner.geometry().intersects(legend)
    assert not banner.geometry().intersects(corner)
    label = banner.label
    assert label.height() >= label.heightForWidth(label.width())  # no line cut off
    # a narrow legend leaves room beside it: the banner sits at the top again
    canvas.set_legend([("Prediction", (255, 220, 0))])
    assert banner.geometry().top() <= 34  # the top row, under the top orientation letter
    assert banner.geometry().left() > canvas.legend.geometry().right()
