"""Wire the reading-room basics (#8 §3) into the main window, with explicit dependencies.

One call from ``MainWindow``: the ruler and the four canvas-annotation actions are bound
to ``ViewModel.display``; the View menu gets them, an "On the image" submenu and the window
presets; the Controls' 0..255 W/L slider gives way to a W/L box in stored units; the
Information dock's Image tab gains the measurements against the ground truth, refreshed
after every overlay repaint (coalesced, off the slider path).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QLabel,
    QLayout,
    QMenu,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from pneumoviewer.ui.bind import bind_checkable
from pneumoviewer.ui.widgets.canvas_presets import WindowLevelBox, WindowPresetsMenu
from pneumoviewer.ui.widgets.measurements_panel import MeasurementsPanel

#: Checkable actions (ui/actions.py) and the ``ViewModel.display`` fields they drive.
CANVAS_ACTION_FIELDS = (
    ("ruler", "ruler"),
    ("show_orientation", "show_orientation"),
    ("show_patient", "show_patient"),
    ("show_zoom", "show_zoom"),
    ("show_pixel_value", "show_pixel_value"),
)


@dataclass
class ReadingRoom:
    """What :func:`wire_reading_room` created (for tests and tools)."""

    presets_menu: WindowPresetsMenu
    annotations_menu: QMenu
    window_box: WindowLevelBox | None
    measurements: MeasurementsPanel


def _image_tab_with(info_tabs: Any, measurements: MeasurementsPanel) -> None:
    """Put ``measurements`` under the Image tab's panel (tab 0, a scroll area)."""
    scroll = info_tabs.widget(0)
    if not isinstance(scroll, QScrollArea):
        info_tabs.insertTab(1, measurements, "Measurements")
        return
    panel = scroll.takeWidget()
    container = QWidget(scroll)
    layout = QVBoxLayout(container)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(panel)
    box = QGroupBox("Against the ground truth", container)
    QVBoxLayout(box).addWidget(measurements)
    layout.addWidget(box)
    layout.addStretch(1)
    scroll.setWidget(container)


def wire_reading_room(
    *,
    canvas: Any,
    vm: Any,
    actions: dict[str, Any],
    view_menu: QMenu,
    info_tabs: Any,
    render: Any,
    controls: Any = None,
) -> ReadingRoom:
    """Connect the canvas tools to actions, menus and panels.

    Parameters
    ----------
    canvas : ImageCanvas
        The canvas (bound to ``vm`` by ``canvas.bind_view_model``).
    vm : ViewModel
        The view model (``display`` fields for the actions; ``image.loaded`` for masks).
    actions : dict of str to QAction
        From :func:`pneumoviewer.ui.actions.build_actions`.
    view_menu : QMenu
        The View menu (items inserted before "Fit to window" when present).
    info_tabs : QTabWidget
        The Information dock's tabs (tab 0: the Image panel in a scroll area).
    render : RenderController
        ``overlay_updated`` and ``prediction`` (the current post-processed mask).
    controls : ControlsPanel or None
        Its ``levels_slider`` (0..255) is replaced by the stored-unit W/L box.

    Returns
    -------
    ReadingRoom

    """
    for name, field in CANVAS_ACTION_FIELDS:
        if name in actions:
            bind_checkable(vm.display, field, actions[name])

    before = next((a for a in view_menu.actions() if a is actions.get("fit")), None)
    presets_menu = WindowPresetsMenu(canvas, view_menu)
    annotations_menu = QMenu("On the &image", view_menu)
    for name, _field in CANVAS_ACTION_FIELDS[1:]:
        if name in actions:
            annotations_menu.addAction(actions[name])
    for item in (presets_menu, annotations_menu):
        if before is not None:
            view_menu.insertMenu(before, item)
        else:
            view_menu.addMenu(item)
    if "ruler" in actions:
        if before is not None:
            view_menu.insertAction(before, actions["ruler"])
        else:
            view_menu.addAction(actions["ruler"])

    window_box = None
    slider = getattr(controls, "levels_slider", None)
    if slider is not None and slider.parentWidget() is not None:
        window_box = WindowLevelBox(canvas, slider.parentWidget())
        _replace_slider(slider.parentWidget().layout(), slider, window_box)
        slider.hide()

    measurements = MeasurementsPanel()
    _image_tab_with(info_tabs, measurements)

    def refresh_measurements() -> None:
        li = vm.image.loaded
        if li is None:
            measurements.clear()
            return
        spacing = getattr(li.image.metadata, "pixel_spacing", None)
        measurements.schedule(render.prediction, li.truth, spacing)

    render.overlay_updated.connect(refresh_measurements)
    return ReadingRoom(presets_menu, annotations_menu, window_box, measurements)


def _replace_slider(layout: QLayout, slider: QWidget, box: QWidget) -> None:
    """Put ``box`` where the W/L slider was; in a grid it also takes the "W/L" caption's cell.

    The box has its own W and L captions; spanning the caption's column keeps the Display
    box within the Controls dock's width.
    """
    if not isinstance(layout, QGridLayout) or layout.indexOf(slider) < 0:
        layout.replaceWidget(slider, box)
        return
    row, col, rows, cols = layout.getItemPosition(layout.indexOf(slider))
    layout.removeWidget(slider)
    caption = layout.itemAtPosition(row, col - 1) if col > 0 else None
    if caption is not None and isinstance(caption.widget(), QLabel):
        caption.widget().hide()
        layout.removeWidget(caption.widget())
        col, cols = col - 1, cols + 1
    layout.addWidget(box, row, col, rows, cols)
