"""MainWindow part: QSettings persistence (layout, view, overlay, thresholds, device, recent)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QColorDialog

from pneumoviewer.ui.settings import read_value, recent_folders


class SettingsMixin:
    """Restore and save preferences; the recent-folders menu; overlay colours."""

    def _read_color(self, key: str, default: tuple[int, int, int]) -> tuple[int, int, int]:
        c = QColor(str(self.settings.value(key, "")))
        return (c.red(), c.green(), c.blue()) if c.isValid() else default

    def default_dock_sizes(self) -> None:
        """Studies ~470 px (room for the columns and a scroll bar), controls ~370 px."""
        h = Qt.Orientation.Horizontal
        self.resizeDocks([self.studies_dock, self.controls_dock], [470, 370], h)
        self.resizeDocks([self.controls_dock, self.info_dock], [560, 300], Qt.Orientation.Vertical)

    def showEvent(self, event) -> None:  # noqa: D102, N802
        super().showEvent(event)
        if not self._layout_restored:
            self._layout_restored = True
            QTimer.singleShot(0, self.default_dock_sizes)

    def _restore_settings(self, device: str | None) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = s.value("window/state")
        self._layout_restored = isinstance(state, QByteArray) and self.restoreState(state)
        a = self.actions
        a["contrast"].setChecked(read_value(s, "view/clahe", False, bool))
        a["show_truth"].setChecked(read_value(s, "overlay/show_truth", True, bool))
        a["show_prediction"].setChecked(read_value(s, "overlay/show_prediction", True, bool))
        a["difference"].setChecked(read_value(s, "overlay/difference", False, bool))
        self.controls.opacity_slider.setValue(read_value(s, "overlay/opacity", 45, int))
        self.controls.outline_combo.setCurrentIndex(
            1 if read_value(s, "overlay/outline", False, bool) else 0
        )
        self.controls.auto_check.setChecked(read_value(s, "analysis/auto", False, bool))
        self.controls.set_threshold(read_value(s, "threshold/last", 0.5, float))
        choice = device or read_value(s, "device", "auto", str)
        i = self.device_combo.findData(choice)
        self.device_combo.blockSignals(True)
        self.device_combo.setCurrentIndex(max(0, i))
        self.device_combo.blockSignals(False)
        self.recent = recent_folders(s)
        self._rebuild_recent_menu()
        last_export = read_value(s, "export/last_dir", "", str)
        if last_export and Path(last_export).is_dir():
            self.last_export_dir = Path(last_export)

    def save_settings(self) -> None:
        """Write geometry, dock layout, overlay and view preferences."""
        s, a = self.settings, self.actions
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("view/clahe", a["contrast"].isChecked())
        s.setValue("overlay/show_truth", a["show_truth"].isChecked())
        s.setValue("overlay/show_prediction", a["show_prediction"].isChecked())
        s.setValue("overlay/difference", a["difference"].isChecked())
        s.setValue("overlay/opacity", self.controls.opacity_slider.value())
        s.setValue("overlay/outline", self.controls.outline)
        s.setValue("overlay/truth_color", QColor(*self.truth_color).name())
        s.setValue("overlay/pred_color", QColor(*self.pred_color).name())
        s.setValue("analysis/auto", self.controls.auto_check.isChecked())
        s.setValue("threshold/last", self.controls.threshold)
        if self.model_info is not None:
            s.setValue(f"threshold/{self.model_info.manifest.name}", self.controls.threshold)
        s.setValue("device", self.device_choice())
        if self.last_export_dir is not None:
            s.setValue("export/last_dir", str(self.last_export_dir))
        s.sync()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for folder in self.recent:
            act = self.recent_menu.addAction(str(folder))
            act.triggered.connect(lambda _c=False, f=folder: self.open_folder(f))
        self.recent_menu.setEnabled(bool(self.recent))

    def pick_color(self, which: str) -> None:
        """Choose an overlay colour (remembered in the settings)."""
        current = self.truth_color if which == "truth" else self.pred_color
        color = QColorDialog.getColor(QColor(*current), self, "Overlay colour")
        if not color.isValid():
            return
        rgb = (color.red(), color.green(), color.blue())
        if which == "truth":
            self.truth_color = rgb
        else:
            self.pred_color = rgb
        self.controls.set_legend_colors(self.truth_color, self.pred_color)
        self.refresh_overlay()
