"""Preferences: QSettings <-> view model, window layout, recent folders, overlay colours."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QColorDialog

from pneumoviewer.ui.settings import push_recent_folder, read_value, recent_folders
from pneumoviewer.ui.view_model import clamp_threshold

#: (section, field, settings key, type) remembered across sessions.
PERSISTED: tuple[tuple[str, str, str, type], ...] = (
    ("display", "clahe", "view/clahe", bool),
    ("display", "lock", "view/lock", bool),
    ("display", "invert", "view/invert", bool),
    ("display", "show_orientation", "view/show_orientation", bool),
    ("display", "show_patient", "view/show_patient", bool),
    ("display", "show_zoom", "view/show_zoom", bool),
    ("display", "show_pixel_value", "view/show_pixel_value", bool),
    ("overlay", "show_truth", "overlay/show_truth", bool),
    ("overlay", "show_prediction", "overlay/show_prediction", bool),
    ("overlay", "difference", "overlay/difference", bool),
    ("overlay", "outline", "overlay/outline", bool),
    ("analysis", "auto", "analysis/auto_v2", bool),
)


def _color(settings: QSettings, key: str, default: tuple[int, int, int]) -> tuple[int, int, int]:
    c = QColor(str(settings.value(key, "")))
    return (c.red(), c.green(), c.blue()) if c.isValid() else default


class SettingsController:
    """Restore and save preferences; the recent-folders menu; overlay colours.

    Parameters
    ----------
    vm : ViewModel
        Fields in :data:`PERSISTED`, opacity, colours and the last threshold.
    settings : QSettings
        The store.
    window : QMainWindow
        Geometry and dock layout.
    recent_menu : QMenu
        File → Open recent.
    open_folder : callable
        ``Path -> None`` for the recent menu.

    """

    def __init__(
        self, vm, *, settings: QSettings, window, recent_menu, open_folder: Callable
    ) -> None:
        self.vm = vm
        self.settings = settings
        self.window = window
        self.recent_menu = recent_menu
        self.open_folder = open_folder
        self.recent: list[Path] = []

    def restore(self) -> bool:
        """Apply the stored preferences; return whether a dock layout was restored."""
        s, vm = self.settings, self.vm
        for section, name, key, kind in PERSISTED:
            obj = getattr(vm, section)
            setattr(obj, name, read_value(s, key, getattr(obj, name), kind))
        vm.overlay.opacity = min(1.0, max(0.0, read_value(s, "overlay/opacity", 45, int) / 100))
        vm.overlay.truth_color = _color(s, "overlay/truth_color", vm.overlay.truth_color)
        vm.overlay.pred_color = _color(s, "overlay/pred_color", vm.overlay.pred_color)
        vm.decision.set_bottom(read_value(s, "threshold/last", vm.decision.bottom_threshold, float))
        self.recent = recent_folders(s)
        self.rebuild_recent_menu()
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.window.restoreGeometry(geometry)
        state = s.value("window/state")
        return isinstance(state, QByteArray) and self.window.restoreState(state)

    def save(self, *, model_name: str | None, device: str, last_export_dir: Path | None) -> None:
        """Write geometry, dock layout and the view model's remembered fields."""
        s, vm = self.settings, self.vm
        s.setValue("window/geometry", self.window.saveGeometry())
        s.setValue("window/state", self.window.saveState())
        for section, name, key, _kind in PERSISTED:
            s.setValue(key, getattr(getattr(vm, section), name))
        s.setValue("overlay/opacity", round(vm.overlay.opacity * 100))
        s.setValue("overlay/truth_color", QColor(*vm.overlay.truth_color).name())
        s.setValue("overlay/pred_color", QColor(*vm.overlay.pred_color).name())
        s.setValue("threshold/last", vm.decision.bottom_threshold)
        if model_name:
            s.setValue(f"threshold/{model_name}", vm.decision.bottom_threshold)
        s.setValue("device", device)
        if last_export_dir is not None:
            s.setValue("export/last_dir", str(last_export_dir))
        s.sync()

    def last_export_dir(self) -> Path | None:
        """Return the remembered export folder when it still exists."""
        last = read_value(self.settings, "export/last_dir", "", str)
        return Path(last) if last and Path(last).is_dir() else None

    def device(self, override: str | None) -> str:
        """Return the device to start with: the command line's, else the remembered one."""
        return override or read_value(self.settings, "device", "auto", str)

    def remembered_threshold(self, model_name: str) -> float | None:
        """Return the bottom threshold last used with ``model_name``."""
        value = read_value(self.settings, f"threshold/{model_name}", None, float)
        return None if value is None else clamp_threshold(value)

    def folder_opened(self, folder: Path) -> None:
        """Put ``folder`` first in the recent folders."""
        self.recent = push_recent_folder(self.settings, folder)
        self.rebuild_recent_menu()

    def rebuild_recent_menu(self) -> None:
        """Refill File → Open recent."""
        self.recent_menu.clear()
        for folder in self.recent:
            act = self.recent_menu.addAction(str(folder))
            act.triggered.connect(lambda _c=False, f=folder: self.open_folder(f))
        self.recent_menu.setEnabled(bool(self.recent))

    def pick_color(self, which: str) -> None:
        """Choose the ground-truth or prediction colour."""
        o = self.vm.overlay
        current = o.truth_color if which == "truth" else o.pred_color
        color = QColorDialog.getColor(QColor(*current), self.window, "Overlay colour")
        if not color.isValid():
            return
        rgb = (color.red(), color.green(), color.blue())
        if which == "truth":
            o.truth_color = rgb
        else:
            o.pred_color = rgb
