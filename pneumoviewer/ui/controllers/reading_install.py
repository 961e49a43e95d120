"""Wiring of the reading workflow (#9) into the main window: one call from ``MainWindow``.

:func:`install_reading` builds the :class:`~pneumoviewer.ui.controllers.reading.
ReadingController`, the :class:`~pneumoviewer.ui.widgets.reading_panel.ReadingPanel` in a
dock, the Reading menu and File -> Export readings, and connects the actions of
``ui/actions.py`` (keys Y / N / U, B / E / O, [ ], Ctrl+Z, Ctrl+Shift+Z, Shift+Del).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QDockWidget, QMenu

from pneumoviewer.ui.controllers.reading import ReadingController
from pneumoviewer.ui.widgets.reading_panel import TOOL_ACTIONS, VERDICT_ACTIONS, ReadingPanel


class _CloseFilter(QObject):
    """Save a pending note and close the reading file when the window closes."""

    def __init__(self, controller: ReadingController, parent: QObject) -> None:
        super().__init__(parent)
        self.controller = controller

    def eventFilter(self, obj, event) -> bool:  # noqa: D102, N802
        if event.type() == QEvent.Type.Close:
            self.controller.close()
        return False


def install_reading(window) -> ReadingController:
    """Build the reading controller, its dock, menu and actions in ``window`` (MainWindow)."""
    a = window.actions
    controller = ReadingController(
        window.vm,
        render=window.render,
        analysis=window.analysis,
        study_list=window.study_list,
        canvas=window.canvas,
        status=window.status,
        settings=window.settings,
        show_error=lambda title, text: window.show_error(title, text),
        parent=window,
    )
    panel = ReadingPanel(controller, a, window)
    dock = QDockWidget("Reading", window)
    dock.setObjectName("reading_dock")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    window.tabifyDockWidget(window.info_dock, dock)
    dock.raise_()
    window.reading_dock, window.reading_panel = dock, panel

    def verdict(name: str, value: str) -> None:
        reading = controller.reading()
        same = reading is not None and reading.verdict is not None and str(reading.verdict) == value
        controller.set_verdict(None if same else value)  # the same key again takes it back
        panel.refresh()

    def tool(value: str) -> None:
        controller.set_tool("" if controller.tool == value else value)

    for name, value in VERDICT_ACTIONS.items():
        a[name].triggered.connect(lambda _c=False, n=name, v=value: verdict(n, v))
    for name, value in TOOL_ACTIONS.items():
        a[name].triggered.connect(lambda _c=False, v=value: tool(v))
    a["edit_note"].triggered.connect(lambda: (dock.raise_(), panel.note_edit.setFocus()))
    a["brush_bigger"].triggered.connect(lambda: panel.size_spin.stepBy(2))
    a["brush_smaller"].triggered.connect(lambda: panel.size_spin.stepBy(-2))
    a["mask_clear"].triggered.connect(controller.clear)
    a["mask_reset"].triggered.connect(controller.reset_to_ai)
    a["mask_undo"].triggered.connect(controller.undo)
    a["mask_redo"].triggered.connect(controller.redo)
    a["export_readings"].triggered.connect(lambda: controller.export.export_readings())
    a["choose_reading_file"].triggered.connect(lambda: controller.choose_file())
    window.exporter.extra_sources["reader"] = controller.saved_mask  # the PNG export's layer
    window.data.folder_opened.connect(controller.open_folder)
    window._reading_close_filter = _CloseFilter(controller, window)
    window.installEventFilter(window._reading_close_filter)
    window.data.scan_finished.connect(controller.scan_finished)

    file_menu = window.recent_menu.parentWidget()
    file_menu.insertAction(a["quit"], a["choose_reading_file"])
    file_menu.insertAction(a["quit"], a["export_readings"])
    file_menu.insertSeparator(a["quit"])
    bar = window.menuBar()
    menu = QMenu("&Reading", bar)
    for group in (
        tuple(VERDICT_ACTIONS) + ("edit_note",),
        tuple(TOOL_ACTIONS) + ("brush_bigger", "brush_smaller"),
        ("mask_undo", "mask_redo", "mask_clear", "mask_reset"),
    ):
        for name in group:
            menu.addAction(a[name])
        menu.addSeparator()
    menu.addAction(a["export_readings"])
    help_menu = next((m for m in bar.actions() if m.text().replace("&", "") == "Help"), None)
    if help_menu is None:
        bar.addMenu(menu)
    else:
        bar.insertMenu(help_menu, menu)  # Help stays last
    window.reading_menu = menu
    return controller
