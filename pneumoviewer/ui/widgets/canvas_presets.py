"""Window/level controls for menus and panels: the presets menu and a W/L box in stored units.

Both follow an :class:`~pneumoviewer.ui.image_canvas.ImageCanvas`: the menu is rebuilt from
``presets_changed`` (the file's window(s), full range, lung, mediastinum, each with its
numbers), the box shows the window in the image's stored units and sets it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QGridLayout, QLabel, QMenu, QWidget
from superqt.utils import signals_blocked

from pneumoviewer.ui.windowing import Preset, Window


def preset_text(preset: Preset) -> str:
    """Return the menu text, e.g. ``"Lung (W 2,620 / L 1,350)"``."""
    return f"{preset.name} ({preset.window.label()})"


class WindowPresetsMenu(QMenu):
    """"Window presets" menu of a canvas (View menu or the canvas's context)."""

    def __init__(self, canvas: Any, parent: QWidget | None = None) -> None:
        super().__init__("Window &presets", parent)
        self.canvas = canvas
        canvas.presets_changed.connect(self.rebuild)
        self.rebuild(canvas.presets)

    def rebuild(self, presets: list[Preset]) -> None:
        """One action per preset (disabled placeholder without an image)."""
        self.clear()
        if not presets:
            self.addAction("(no image)").setEnabled(False)
            return
        for preset in presets:
            action = QAction(preset_text(preset), self)
            action.triggered.connect(lambda _c=False, n=preset.name: self.canvas.apply_preset(n))
            self.addAction(action)


class WindowLevelBox(QWidget):
    """Preset combo + W and L spin boxes in the image's stored units.

    Parameters
    ----------
    canvas : ImageCanvas
        Followed through ``window_changed`` / ``presets_changed``; set through
        ``set_window(..., emit=True)`` and ``apply_preset``.
    parent : QWidget or None
        Owner.

    """

    def __init__(self, canvas: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        layout = QGridLayout(self)  # two rows: fits a narrow dock
        layout.setContentsMargins(0, 0, 0, 0)
        self.combo = QComboBox(self)
        self.combo.setToolTip("Window presets (stored units)")
        self.width_spin = QDoubleSpinBox(self)
        self.level_spin = QDoubleSpinBox(self)
        for spin, tip in ((self.width_spin, "Window width"), (self.level_spin, "Window level")):
            spin.setDecimals(1)
            spin.setRange(-1e9, 1e9)
            spin.setKeyboardTracking(False)
            spin.setToolTip(f"{tip} in the image's stored units (also: right-drag on the image)")
            spin.setButtonSymbols(QDoubleSpinBox.ButtonSymbols.NoButtons)
            spin.setAlignment(Qt.AlignmentFlag.AlignRight)
            spin.setMinimumWidth(64)  # not the +-1e9 range's width: the box fits the dock
        self.width_spin.setMinimum(1)
        layout.addWidget(self.combo, 0, 0, 1, 4)
        layout.addWidget(QLabel("W", self), 1, 0)
        layout.addWidget(self.width_spin, 1, 1)
        layout.addWidget(QLabel("L", self), 1, 2)
        layout.addWidget(self.level_spin, 1, 3)
        layout.setColumnStretch(1, 1)
        layout.setColumnStretch(3, 1)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(8)
        canvas.presets_changed.connect(self._on_presets)
        canvas.window_changed.connect(self._on_window)
        self.combo.activated.connect(self._on_combo)
        self.width_spin.valueChanged.connect(self._on_spin)
        self.level_spin.valueChanged.connect(self._on_spin)
        self._on_presets(canvas.presets)

    def _on_presets(self, presets: list[Preset]) -> None:
        with signals_blocked(self.combo):
            self.combo.clear()
            self.combo.addItem("Custom")
            for preset in presets:
                self.combo.addItem(preset_text(preset), preset.name)
        self.setEnabled(bool(presets))
        self._on_window(self.canvas.window)

    def _on_window(self, window: Window) -> None:
        decimals = 1 if self.canvas.value_span >= 100 else 3  # full range: L 2,044.5
        with signals_blocked(self.width_spin), signals_blocked(self.level_spin):
            for spin in (self.width_spin, self.level_spin):
                spin.setDecimals(decimals)
            self.width_spin.setValue(window.width)
            self.level_spin.setValue(window.center)
        names = [p.name for p in self.canvas.presets if p.window == window]
        index = self.combo.findData(names[0]) if names else 0
        with signals_blocked(self.combo):
            self.combo.setCurrentIndex(max(0, index))

    def _on_combo(self, index: int) -> None:
        name = self.combo.itemData(index)
        if name:
            self.canvas.apply_preset(name)

    def _on_spin(self, *_args) -> None:
        window = Window(self.level_spin.value(), max(1.0, self.width_spin.value()))
        self.canvas.set_window(window, emit=True)
