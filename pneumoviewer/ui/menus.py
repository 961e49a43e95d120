"""The menu bar (File, View, Go, Analysis, Model, Help), toggles bound to the view model, keys."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QDockWidget,
    QMenu,
    QMenuBar,
    QWidget,
)

from pneumoviewer.ui.bind import bind_checkable

#: Checkable actions and the view-model fields they are bound to (both ways).
ACTION_FIELDS = (
    ("contrast", "display", "clahe"),
    ("invert", "display", "invert"),
    ("lock_view", "display", "lock"),
    ("show_truth", "overlay", "show_truth"),
    ("show_prediction", "overlay", "show_prediction"),
    ("difference", "overlay", "difference"),
)
#: Menu -> its actions in order (None: a separator); File and View are built below.
GO_ACTIONS = ("next_image", "prev_image", "page_down", "page_up", "triage")
ANALYSIS_ACTIONS = (
    "analyse", "analyse_all", "cancel", "threshold_up", "threshold_down", None,
    "quality_override", "heatmap_all",
)  # fmt: skip
VIEW_TOGGLES = ("contrast", "invert", "show_truth", "show_prediction", "difference", "heatmap")
VIEW_COMMANDS = ("fit", "one_to_one", "reset_levels", "lock_view")


def _add(menu: QMenu, actions: dict, names: Iterable[str | None]) -> None:
    for name in names:
        if name is None:
            menu.addSeparator()
        else:
            menu.addAction(actions[name])


def build_menus(
    bar: QMenuBar,
    actions: dict,
    *,
    recent_menu: QMenu,
    pick_color: Callable[[str], None],
    docks: Iterable[QDockWidget],
) -> QMenu:
    """Fill the menu bar; return the View menu (the reading-room tools add to it).

    Parameters
    ----------
    bar : QMenuBar
        The window's menu bar; File (holding ``recent_menu``) is already its first menu.
    actions : dict of str to QAction
        :func:`pneumoviewer.ui.actions.build_actions`.
    recent_menu : QMenu
        File → Open recent (the settings controller fills it).
    pick_color : callable
        ``"truth" | "pred" -> None``: the overlay colour dialogs.
    docks : iterable of QDockWidget
        Their show/hide toggles go to the View menu.
    """
    file_menu = recent_menu.parentWidget()
    file_menu.insertAction(recent_menu.menuAction(), actions["open_folder"])
    _add(file_menu, actions, (None, "export_png", "export_all", None, "quit"))
    view = bar.addMenu("&View")
    _add(view, actions, (*VIEW_TOGGLES, None, *VIEW_COMMANDS, None))
    view.addAction("Ground-truth colour…", lambda: pick_color("truth"))
    view.addAction("Prediction colour…", lambda: pick_color("pred"))
    view.addSeparator()
    for d in docks:
        view.addAction(d.toggleViewAction())
    _add(bar.addMenu("&Go"), actions, GO_ACTIONS)
    _add(bar.addMenu("&Analysis"), actions, ANALYSIS_ACTIONS)
    _add(bar.addMenu("&Model"), actions, ("load_model",))
    _add(bar.addMenu("&Help"), actions, ("shortcuts", "about"))
    return view


def bind_actions(actions: dict, vm) -> None:
    """Bind the checkable actions of :data:`ACTION_FIELDS` to the view model's fields."""
    for name, section, field in ACTION_FIELDS:
        bind_checkable(getattr(vm, section), field, actions[name])


class KeepArrowKeys(QObject):
    """Let spin boxes, combo boxes and sliders keep Up/Down/PgUp/PgDn when focused.

    The window-wide navigation shortcuts would otherwise take those keys; accepting the
    ``ShortcutOverride`` event hands the key to the focused widget instead.
    """

    KEYS = (Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown)

    def eventFilter(self, obj, event) -> bool:  # noqa: D102, N802
        if event.type() == QEvent.Type.ShortcutOverride and event.key() in self.KEYS:
            event.accept()
        return False


def keep_arrow_keys(window: QWidget) -> KeepArrowKeys:
    """Install :class:`KeepArrowKeys` on every spin box, combo box and slider of ``window``."""
    keys = KeepArrowKeys(window)
    for cls in (QAbstractSpinBox, QComboBox, QAbstractSlider):
        for widget in window.findChildren(cls):
            widget.installEventFilter(keys)
    return keys
