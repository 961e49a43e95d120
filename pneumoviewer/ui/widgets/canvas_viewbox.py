"""The canvas's ViewBox: wheel zooms, left drag pans, right drag changes window/level."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt

from pneumoviewer.ui.windowing import Window, drag_window


class XrayViewBox(pg.ViewBox):
    """ViewBox where the right button drags window/level instead of zooming."""

    def __init__(self, canvas: Any) -> None:
        super().__init__(invertY=True, lockAspect=True, enableMenu=False)
        self._canvas = canvas
        self._drag_start: Window | None = None

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: D102, N802
        if ev.button() != Qt.MouseButton.RightButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():
            self._drag_start = self._canvas.window
        if self._drag_start is None:
            return
        delta = ev.screenPos() - ev.buttonDownScreenPos()
        window = drag_window(self._drag_start, delta.x(), delta.y(), self._canvas.value_span)
        self._canvas.set_window(window, emit=True)
        if ev.isFinish():
            self._drag_start = None
