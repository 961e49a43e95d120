"""The image canvas: pyqtgraph base image + RGBA overlay, legend, window/level, messages."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QGraphicsItem, QLabel, QVBoxLayout, QWidget


class _XrayViewBox(pg.ViewBox):
    """ViewBox where the right button drags window/level instead of zooming."""

    def __init__(self, canvas: ImageCanvas) -> None:
        super().__init__(invertY=True, lockAspect=True, enableMenu=False)
        self._canvas = canvas
        self._drag_start: tuple[float, float] | None = None

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: D102, N802
        if ev.button() != Qt.MouseButton.RightButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():
            self._drag_start = self._canvas.levels
        if self._drag_start is None:
            return
        lo, hi = self._drag_start
        delta = ev.screenPos() - ev.buttonDownScreenPos()
        width = max(2.0, (hi - lo) + delta.x() * 0.75)
        center = (lo + hi) / 2.0 - delta.y() * 0.75
        self._canvas.set_levels(center - width / 2.0, center + width / 2.0, emit=True)
        if ev.isFinish():
            self._drag_start = None


class ImageCanvas(QWidget):
    """Centre widget showing one radiograph with its overlay.

    The base is an ``ImageItem(axisOrder='row-major')`` fed C-contiguous uint8 with explicit
    levels; the overlay is a second ``ImageItem`` fed RGBA uint8 with ``levels=None``.

    Parameters
    ----------
    parent : QWidget or None
        Owner.

    """

    levels_changed = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsView(self, background="k")
        self.view = _XrayViewBox(self)
        self.graphics.setCentralItem(self.view)
        self.base_item = pg.ImageItem(axisOrder="row-major")
        self.overlay_item = pg.ImageItem(axisOrder="row-major")
        self.overlay_item.setZValue(10)
        # The base rarely changes while the overlay is re-drawn on every slider step: keep it
        # as a device-resolution pixmap so a repaint blits it instead of re-scaling 1024².
        self.base_item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.view.addItem(self.base_item)
        self.view.addItem(self.overlay_item)
        self.message_item = pg.TextItem("", color=(235, 235, 235), anchor=(0.5, 0.5))
        self.message_item.setZValue(20)
        self.view.addItem(self.message_item)
        self.message_item.hide()

        self.legend = QLabel(self.graphics)
        self.legend.setObjectName("canvasLegend")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.hide()
        self.info = QLabel(self.graphics)
        self.info.setObjectName("canvasInfo")
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)

        self.levels: tuple[float, float] = (0.0, 255.0)
        self.image: np.ndarray | None = None
        self.overlay: np.ndarray | None = None
        self._shape: tuple[int, int] | None = None

    # --- content ------------------------------------------------------------------------
    def set_image(self, pixels: np.ndarray, *, keep_view: bool = False) -> None:
        """Show ``pixels`` (uint8 (H, W)); fit the view when the shape changed.

        Parameters
        ----------
        pixels : np.ndarray
            uint8 (H, W) image; made C-contiguous when it is not.
        keep_view : bool
            Keep zoom/pan even when the shape changes.

        """
        pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
        self.image = pixels
        self.message_item.hide()
        self.base_item.setImage(pixels, levels=self.levels, autoLevels=False)
        shape = pixels.shape[:2]
        if shape != self._shape and not keep_view:
            self._shape = shape
            self.fit()
        self._shape = shape

    def set_overlay(self, rgba: np.ndarray | None) -> None:
        """Show an RGBA uint8 (H, W, 4) overlay, or clear it with None."""
        self.overlay = rgba
        if rgba is None:
            self.overlay_item.clear()
            return
        self.overlay_item.setImage(rgba, levels=None, autoLevels=False)

    def show_message(self, text: str) -> None:
        """Clear the image and show ``text`` (e.g. a load error) in the canvas."""
        self.image = None
        self.overlay = None
        self._shape = None
        self.base_item.clear()
        self.overlay_item.clear()
        self.set_legend([])
        self.set_info("")
        html = f'<div style="color:#ff8a80; font-size:14pt; font-weight:600;">{_escape(text)}</div>'
        self.message_item.setHtml(html)
        self._fit_message_width()
        self.message_item.setPos(QPointF(0.5, 0.5))
        self.view.setRange(QRectF(0, 0, 1, 1), padding=0)
        self.message_item.show()

    def message_text(self) -> str:
        """Return the message shown (empty when an image is shown)."""
        return self.message_item.toPlainText() if self.message_item.isVisible() else ""

    def set_legend(self, entries: list[tuple[str, tuple[int, int, int]]], note: str = "") -> None:
        """Show legend entries ``(label, (r, g, b))`` and a note; hide the legend when empty."""
        if not entries and not note:
            self.legend.hide()
            return
        rows = "".join(
            f'<tr><td><span style="color:rgb{tuple(c)}; font-size:15px;">■</span></td>'
            f"<td>&nbsp;{_escape(label)}</td></tr>"
            for label, c in entries
        )
        if note:
            rows += f'<tr><td></td><td style="color:#b0b6be">&nbsp;{_escape(note)}</td></tr>'
        html = f"<table cellspacing=0 cellpadding=1>{rows}</table>"
        if html == self.legend.text() and self.legend.isVisible():
            return
        self.legend.setText(html)
        self.legend.adjustSize()
        self.legend.show()
        self._place_labels()

    def set_info(self, html: str) -> None:
        """Show a short rich-text line in the top-right corner (hidden when empty)."""
        if not html:
            self.info.hide()
            return
        if html == self.info.text() and self.info.isVisible():
            return
        self.info.setText(html)
        self.info.adjustSize()
        self.info.show()
        self._place_labels()

    # --- view ---------------------------------------------------------------------------
    def fit(self) -> None:
        """Fit the whole image in the canvas."""
        if self._shape is None:
            return
        h, w = self._shape
        self.view.setRange(QRectF(0, 0, w, h), padding=0.01)

    def one_to_one(self) -> None:
        """Zoom so one image pixel covers one screen pixel, keeping the centre."""
        rect = self.view.viewRect()
        size = self.view.size()
        center = rect.center()
        w, h = size.width(), size.height()
        self.view.setRange(QRectF(center.x() - w / 2, center.y() - h / 2, w, h), padding=0)

    def set_levels(self, lo: float, hi: float, *, emit: bool = False) -> None:
        """Set window/level as display range ``[lo, hi]`` of the uint8 image."""
        lo, hi = float(max(-255.0, lo)), float(min(510.0, hi))
        if hi - lo < 1.0:
            hi = lo + 1.0
        self.levels = (lo, hi)
        if self.image is not None:
            self.base_item.setLevels(self.levels)
        if emit:
            self.levels_changed.emit(lo, hi)

    def reset_levels(self) -> None:
        """Back to the full 0–255 range."""
        self.set_levels(0.0, 255.0, emit=True)

    def displayed_pixels(self) -> np.ndarray | None:
        """Return the uint8 array currently shown in the base item."""
        return self.base_item.image

    def resizeEvent(self, event) -> None:  # noqa: D102, N802
        super().resizeEvent(event)
        self._place_labels()
        if self.message_item.isVisible():
            self._fit_message_width()

    def _fit_message_width(self) -> None:
        self.message_item.setTextWidth(max(160.0, self.graphics.width() * 0.85))

    def _place_labels(self) -> None:
        margin = 10
        self.legend.move(margin, margin)
        self.info.move(
            max(margin, self.graphics.width() - self.info.width() - margin),
            max(margin, self.graphics.height() - self.info.height() - margin),
        )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
