"""The window's panels and docks: Studies (left), Controls and Information (right), Problems.

:func:`build_panels` makes the canvas and the panels; :func:`build_docks` docks them
around the canvas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QScrollArea, QTabWidget, QWidget

#: Floors that a restored layout cannot go under (columns and the AI box stay legible).
STUDIES_MIN_WIDTH = 360
CONTROLS_MIN_WIDTH = 330


@dataclass(frozen=True, slots=True)
class Panels:
    """The canvas (central widget) and the panels the docks hold."""

    canvas: Any
    study_list: Any
    controls: Any
    metadata_panel: Any
    model_panel: Any
    summary_panel: Any
    problems: Any


def build_panels(window: QMainWindow, vm, actions: dict) -> Panels:
    """Make the canvas (set as ``window``'s central widget) and the panels.

    Parameters
    ----------
    window : QMainWindow
        Owner.
    vm : ViewModel
        The controls bind to it.
    actions : dict of str to QAction
        The controls' buttons.
    """
    from pneumoviewer.ui.controls import ControlsPanel
    from pneumoviewer.ui.image_canvas import ImageCanvas
    from pneumoviewer.ui.panels import MetadataPanel, ModelPanel, ProblemsPanel, SummaryPanel
    from pneumoviewer.ui.study_list import StudyListPanel

    canvas = ImageCanvas(window)
    canvas.setMinimumWidth(420)
    window.setCentralWidget(canvas)
    panels = Panels(  # in this order: it is the keyboard focus chain's
        canvas=canvas,
        study_list=StudyListPanel(window),
        controls=ControlsPanel(vm, actions, window),
        metadata_panel=MetadataPanel(window),
        model_panel=ModelPanel(window),
        summary_panel=SummaryPanel(window),
        problems=ProblemsPanel(window),
    )
    panels.summary_panel.show_summary(None)
    return panels


@dataclass(frozen=True, slots=True)
class Docks:
    """The docks of the window and the Information dock's tabs."""

    studies: QDockWidget
    controls: QDockWidget
    info: QDockWidget
    problems: QDockWidget
    info_tabs: QTabWidget

    def all(self) -> tuple[QDockWidget, ...]:
        """Return the four docks, in View-menu order."""
        return (self.studies, self.controls, self.info, self.problems)


def _dock(window: QMainWindow, title: str, name: str, widget: QWidget, area) -> QDockWidget:
    d = QDockWidget(title, window)
    d.setObjectName(name)
    d.setWidget(widget)
    d.setFeatures(
        QDockWidget.DockWidgetFeature.DockWidgetMovable
        | QDockWidget.DockWidgetFeature.DockWidgetClosable
        | QDockWidget.DockWidgetFeature.DockWidgetFloatable
    )
    window.addDockWidget(area, d)
    return d


def scrolled(widget: QWidget, parent: QWidget) -> QScrollArea:
    """Wrap ``widget`` in a frameless, vertically scrolling area."""
    area = QScrollArea(parent)
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area


def build_docks(window: QMainWindow, panels: Panels) -> Docks:
    """Dock the panels around the canvas (Problems hidden until there is one).

    Studies on the left, Controls (scrolled) and Information (tabs Image, Model,
    Summary, each scrolled) on the right, Problems at the bottom.
    """
    p = panels
    left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
    studies = _dock(window, "Studies", "studies_dock", p.study_list, left)
    controls = _dock(window, "Controls", "controls_dock", scrolled(p.controls, window), right)
    tabs = QTabWidget(window)
    for panel, title in (
        (p.metadata_panel, "Image"),
        (p.model_panel, "Model"),
        (p.summary_panel, "Summary"),
    ):
        tabs.addTab(scrolled(panel, window), title)
    info = _dock(window, "Information", "info_dock", tabs, right)
    bottom = Qt.DockWidgetArea.BottomDockWidgetArea
    problems = _dock(window, "Problems", "problems_dock", p.problems, bottom)
    problems.hide()
    studies.setMinimumWidth(STUDIES_MIN_WIDTH)
    controls.setMinimumWidth(CONTROLS_MIN_WIDTH)
    return Docks(studies, controls, info, problems, tabs)


def default_dock_sizes(window: QMainWindow, docks: Docks) -> None:
    """Studies ~470 px (room for the columns), controls ~370 px, Problems readable."""
    h, v = Qt.Orientation.Horizontal, Qt.Orientation.Vertical
    window.resizeDocks([docks.studies, docks.controls], [470, 370], h)
    window.resizeDocks([docks.controls, docks.info], [600, 260], v)
    if docks.problems.isVisible():
        window.resizeDocks([docks.problems], [200], v)
