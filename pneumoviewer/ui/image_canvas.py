"""The image canvas: the radiograph in stored-unit window/level, its overlay and annotations.

Display path (fast at 1024²). A new image's stored values (``XrayImage.stored``: Modality
LUT applied) are quantised once to a uint16 index (:class:`~pneumoviewer.ui.windowing.
StoredIndex`); a window/level or invert change builds a look-up table of at most 65,536
entries and gathers it into a uint8 image, which the base ``ImageItem(axisOrder=
'row-major')`` shows with ``levels=(0, 255)`` (pyqtgraph's fast path). Window/level is in
stored units throughout (e.g. 0..4095 for a 12-bit CR); the rules live in
:mod:`pneumoviewer.ui.windowing`. CLAHE mode shows the CLAHE image (0..255 display units)
with its own window, and the value under the cursor stays the stored value.

Per image. Unless locked, a new image opens with its default window (the file's first
window, else the full range) and fitted; locked, the window and zoom carry over. The ruler
is per image.

Binding. :meth:`ImageCanvas.bind` ties the canvas to ``ViewModel.display`` both ways
(window/level, invert, lock, CLAHE, zoom, annotation toggles, ruler); without a view model
the canvas keeps the same state itself.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QGraphicsItem, QLabel, QVBoxLayout, QWidget

from pneumoviewer.ui.widgets.canvas_annotations import CanvasAnnotations, escape, legend_html
from pneumoviewer.ui.widgets.canvas_binding import DisplayBinding
from pneumoviewer.ui.widgets.canvas_ruler import Ruler
from pneumoviewer.ui.widgets.canvas_source import DISPLAY_WINDOW, DisplaySource, PreparedCache
from pneumoviewer.ui.widgets.canvas_text import pixel_text, zoom_text
from pneumoviewer.ui.widgets.canvas_viewbox import XrayViewBox
from pneumoviewer.ui.widgets.overlay_item import OverlayItem
from pneumoviewer.ui.windowing import (
    Preset,
    ValueStats,
    Window,
    default_window,
    image_presets,
    is_monochrome1,
    value_stats,
)

#: Images whose stored-value index and statistics the canvas keeps for fast switching.
PREPARED_CACHE = 8


class ImageCanvas(QWidget):
    """Centre widget showing one radiograph with its overlay and annotations.

    Parameters
    ----------
    parent : QWidget or None
        Owner.

    Signals
    -------
    levels_changed(float, float) : window bounds (lo, hi) after a user change (drag, preset).
    window_changed(object) : the :class:`Window` after any change.
    zoom_changed(float) : screen pixels per image pixel.
    ruler_toggled(bool) : the ruler was added or removed.
    presets_changed(list) : the new image's :class:`Preset` list.

    """

    levels_changed = Signal(float, float)
    window_changed = Signal(object)
    zoom_changed = Signal(float)
    ruler_toggled = Signal(bool)
    presets_changed = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsView(self, background="k")
        self.view = XrayViewBox(self)
        self.graphics.setCentralItem(self.view)
        self.base_item = pg.ImageItem(axisOrder="row-major")
        self.overlay_item = OverlayItem()  # repaints only the rectangle that changed
        self.overlay_item.setZValue(10)
        # The base changes only with window/level while the overlay is re-drawn on every
        # slider step: keep it as a device-resolution pixmap so a repaint blits it.
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
        self.annotations = CanvasAnnotations(self.graphics)
        self.ruler = Ruler(self.view)
        self.ruler.removed.connect(lambda: self.ruler_toggled.emit(False))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)

        self.image: np.ndarray | None = None  # the uint8 (H, W) shown
        self.overlay: np.ndarray | None = None
        self.metadata: Any = None
        self.current_image: Any = None  # the XrayImage shown (None: plain pixels or none)
        self.stored: np.ndarray | None = None  # values under the cursor
        self.presets: list[Preset] = []
        self.stats: ValueStats | None = None
        self.invert = False
        self.locked = False
        self.contrast = False
        self._raw: DisplaySource | None = None
        self._clahe: DisplaySource | None = None
        self._clahe_pixels: np.ndarray | None = None
        self._window: Window | None = None  # stored units; None: the image's default
        self._clahe_window: Window | None = None
        self._shape: tuple[int, int] | None = None
        self._mouse_scene_pos: QPointF | None = None
        self._prepared = PreparedCache(PREPARED_CACHE)
        self.binding: DisplayBinding | None = None
        self.view.sigRangeChanged.connect(self._on_range_changed)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)

    # --- content ------------------------------------------------------------------------
    def show_image(
        self, image: Any, *, clahe: np.ndarray | None = None, contrast: bool | None = None
    ) -> None:
        """Show a new radiograph: default window and fit unless locked.

        Parameters
        ----------
        image : XrayImage
            ``stored`` (float32 stored units; ``pixels`` is used as 0..255 display units
            when absent), ``padding``, ``metadata`` (photometric, windows, orientation,
            spacing, patient and study facts).
        clahe : np.ndarray or None
            uint8 (H, W) CLAHE version, shown while :attr:`contrast` is on.
        contrast : bool or None
            Show the CLAHE version (None: keep the current mode).

        """
        md = image.metadata
        # Locked: the numbers on screen carry over (also when they were the default).
        previous = self.window if self._raw is not None and not self.contrast else self._window
        self.current_image = image
        if contrast is not None:
            self.contrast = bool(contrast)
        self.metadata = md
        self._clahe_pixels = clahe
        self._clahe = None
        self.stored = image.stored
        index, self.stats = self._prepared.get(image.stored, getattr(image, "padding", None))
        self.presets = image_presets(md, self.stats)
        span = self.stats.vmax - self.stats.vmin
        self._raw = DisplaySource(index, default_window(self.presets), is_monochrome1(md), span)
        self._clahe_window = None
        if not self.is_locked():
            self._window = None
        elif self._window is None and previous is not None:
            self._window = previous
            if self.binding is not None:
                self.binding.write_window(previous)
        self.ruler.remove()
        spacing = getattr(md, "pixel_spacing", None)
        source = getattr(md, "pixel_spacing_source", None) or ("Pixel Spacing" if spacing else None)
        self.ruler.set_spacing(spacing, source)
        self.annotations.set_metadata(md)
        self.contrast = self.contrast and clahe is not None
        self._redraw(new_image=True)
        self.presets_changed.emit(list(self.presets))

    def set_image(self, pixels: np.ndarray, *, keep_view: bool = False) -> None:
        """Show plain uint8 display pixels (H, W) (no metadata; 0..255 display units).

        Parameters
        ----------
        pixels : np.ndarray
            uint8 (H, W); made C-contiguous when it is not.
        keep_view : bool
            Keep zoom/pan even when the shape changes.

        """
        pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
        self.current_image = None
        self.stored = pixels
        self._raw = DisplaySource.of_display(pixels)
        self.stats = value_stats(pixels)
        self.presets = image_presets(None, self.stats)
        self._clahe = None
        self._clahe_pixels = None
        self.contrast = False
        if not keep_view and not self.is_locked():
            self._window = None
        self._redraw(new_image=not keep_view)
        self.presets_changed.emit(list(self.presets))

    def set_contrast(self, on: bool, clahe: np.ndarray | None = None) -> None:
        """Switch between the stored image and its CLAHE version (keeps zoom and pan)."""
        if clahe is not None and clahe is not self._clahe_pixels:
            self._clahe_pixels = clahe
            self._clahe = None
        contrast = bool(on) and self._clahe_pixels is not None
        if contrast == self.contrast:
            return
        self.contrast = contrast
        if self._raw is not None:
            self._redraw()

    def set_overlay(self, rgba: np.ndarray | None, touched: Any = "all") -> None:
        """Show an RGBA uint8 (H, W, 4) overlay, or clear it with None.

        ``touched``: (row0, row1, col0, col1) outside which it is transparent, None when
        it all is, "all" when not known (:class:`~pneumoviewer.ui.widgets.overlay_item.
        OverlayItem`).
        """
        self.overlay = rgba
        if rgba is None:
            self.overlay_item.clear()
            return
        self.overlay_item.setImage(rgba, touched=touched)

    def show_message(self, text: str) -> None:
        """Clear the image and show ``text`` (e.g. a load error) in the canvas."""
        self.image = None
        self.overlay = None
        self.current_image = None
        self.stored = None
        self._raw = self._clahe = None
        self._shape = None
        self.base_item.clear()
        self.overlay_item.clear()
        self.ruler.remove()
        self.annotations.clear()
        self.set_legend([])
        self.set_info("")
        html = f'<div style="color:#ff8a80; font-size:14pt; font-weight:600;">{escape(text)}</div>'
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
        html = legend_html(entries, note)
        if html == self.legend.text() and self.legend.isVisible():
            return
        self.legend.setText(html)
        self.legend.adjustSize()
        self.legend.show()
        self._place_labels()

    def set_info(self, html: str) -> None:
        """Show a short rich-text line in the bottom-right corner (hidden when empty)."""
        if not html:
            self.info.hide()
            return
        if html == self.info.text() and self.info.isVisible():
            return
        self.info.setText(html)
        self.info.adjustSize()
        self.info.show()
        self._place_labels()

    def displayed_pixels(self) -> np.ndarray | None:
        """Return the uint8 (H, W) array currently shown in the base item."""
        return self.base_item.image

    # --- window/level -------------------------------------------------------------------
    @property
    def window(self) -> Window:
        """The window in use, in the units of what is shown (stored units, or CLAHE 0..255)."""
        source = self._source()
        if self.contrast:
            return self._clahe_window or DISPLAY_WINDOW
        return self._window or (source.default if source else DISPLAY_WINDOW)

    @property
    def levels(self) -> tuple[float, float]:
        """Window bounds ``(lo, hi)`` (see :attr:`window`)."""
        w = self.window
        return w.lo, w.hi

    @property
    def value_span(self) -> float:
        """Value range of what is shown (maximum - minimum; 255 for display units)."""
        source = self._source()
        return source.span if source is not None else 255.0

    def set_window(self, window: Window | None, *, emit: bool = False) -> None:
        """Use ``window`` (None: the image's default); ``emit`` for user changes.

        In CLAHE mode the window applies to the CLAHE image (display units) and is not
        written to the view model.
        """
        if self.contrast:
            self._clahe_window = window
        else:
            self._window = window
            if emit and self.binding is not None:
                self.binding.write_window(window)
        if self._raw is not None:
            self._redraw()
        if emit:
            lo, hi = self.levels
            self.levels_changed.emit(lo, hi)

    def set_levels(self, lo: float, hi: float, *, emit: bool = False) -> None:
        """Set the window as bounds ``[lo, hi]`` in the units of what is shown."""
        self.set_window(Window.from_bounds(lo, hi), emit=emit)

    def reset_levels(self) -> None:
        """Back to the image's default window (its own window, else the full range)."""
        self.set_window(None, emit=True)

    def apply_preset(self, name: str) -> None:
        """Use the preset called ``name`` (CLAHE is switched off: presets are stored units)."""
        for preset in self.presets:
            if preset.name == name:
                if self.contrast:
                    self.contrast = False
                    if self.binding is not None:
                        self.binding.write("clahe", False)
                self.set_window(preset.window, emit=True)
                return
        raise KeyError(f"no window preset {name!r}; have {[p.name for p in self.presets]}")

    def set_invert(self, invert: bool) -> None:
        """Invert the grey scale (on top of MONOCHROME1's own inversion)."""
        if bool(invert) == self.invert:
            return
        self.invert = bool(invert)
        if self.binding is not None:
            self.binding.write("invert", self.invert)
        if self._raw is not None:
            self._redraw()

    def set_locked(self, locked: bool) -> None:
        """Keep window/level and zoom for the next images."""
        self.locked = bool(locked)
        if self.binding is not None:
            self.binding.write("lock", self.locked)

    def is_locked(self) -> bool:
        """Whether window/level and zoom carry over to the next image."""
        return self.binding.read("lock") if self.binding is not None else self.locked

    def window_text(self) -> str:
        """Return the window as shown on the canvas, e.g. ``"W 4,095 / L 2,048"``."""
        if self._raw is None:
            return ""
        return ("CLAHE " if self.contrast else "") + self.window.label()

    # --- cursor and zoom ----------------------------------------------------------------
    def value_at(self, x: float, y: float) -> tuple[int, int, float] | None:
        """Return ``(column, row, stored value)`` at image coordinates, or None outside."""
        if self.stored is None:
            return None
        col, row = math.floor(x), math.floor(y)
        h, w = self.stored.shape[:2]
        if not (0 <= col < w and 0 <= row < h):
            return None
        return col, row, float(self.stored[row, col])

    @property
    def zoom(self) -> float | None:
        """Screen pixels per image pixel (1.0 = 100 %), None without an image."""
        rect = self.view.viewRect()
        if self._shape is None or rect.width() <= 0:
            return None
        return self.view.width() / rect.width()

    def fit(self) -> None:
        """Fit the whole image in the canvas."""
        if self._shape is None:
            return
        h, w = self._shape
        self.view.setRange(QRectF(0, 0, w, h), padding=0.01)

    def one_to_one(self) -> None:
        """Zoom so one image pixel covers one screen pixel, keeping the centre."""
        self.set_zoom(1.0)

    def set_zoom(self, zoom: float, center: tuple[float, float] | None = None) -> None:
        """Show ``zoom`` screen pixels per image pixel around ``center`` (default: current)."""
        if zoom <= 0:
            return
        rect = self.view.viewRect()
        cx, cy = center if center is not None else (rect.center().x(), rect.center().y())
        w, h = self.view.width() / zoom, self.view.height() / zoom
        self.view.setRange(QRectF(cx - w / 2, cy - h / 2, w, h), padding=0)

    # --- ruler and annotations ----------------------------------------------------------
    def set_ruler(self, on: bool) -> None:
        """Add a ruler across the middle of the visible image, or remove it."""
        if bool(on) == self.ruler.active:
            return
        if not on:
            self.ruler.remove()
            return
        if self._shape is None:
            self.ruler_toggled.emit(False)
            return
        h, w = self._shape
        rect = self.view.viewRect().intersected(QRectF(0, 0, w, h))
        if rect.isEmpty():
            rect = QRectF(0, 0, w, h)
        c, half = rect.center(), rect.width() / 4
        self.ruler.add((c.x() - half, c.y()), (c.x() + half, c.y()))
        self.ruler_toggled.emit(True)

    def set_annotation_visible(self, key: str, visible: bool) -> None:
        """Show or hide ``orientation``, ``patient``, ``zoom`` or ``pixel_value``."""
        self.annotations.set_visible(key, visible)

    def bind(self, view_model: Any) -> DisplayBinding:
        """Bind to ``view_model.display`` both ways (see :class:`DisplayBinding`)."""
        if self.binding is not None:
            self.binding.disconnect()
        self.binding = DisplayBinding(self, view_model.display)
        return self.binding

    bind_view_model = bind

    # --- internals ----------------------------------------------------------------------
    def _source(self) -> DisplaySource | None:
        if self.contrast and self._clahe_pixels is not None:
            if self._clahe is None:
                self._clahe = DisplaySource.of_display(self._clahe_pixels)
            return self._clahe
        return self._raw

    def _redraw(self, *, new_image: bool = False) -> None:
        source = self._source()
        if source is None:
            return
        window = self.window
        pixels = source.render(window, invert=self.invert)
        self.image = pixels
        self.message_item.hide()
        self.base_item.setImage(pixels, levels=(0, 255), autoLevels=False)
        shape = pixels.shape[:2]
        if new_image and not (self.is_locked() and shape == self._shape):
            self._shape = shape
            self.fit()
        self._shape = shape
        self.annotations.set_status(window=self.window_text(), zoom=zoom_text(self.zoom))
        if new_image and self._mouse_scene_pos is not None:
            self._on_mouse_moved(self._mouse_scene_pos)  # the value under a still cursor
        self.window_changed.emit(window)

    def _on_range_changed(self, *_args) -> None:
        zoom = self.zoom
        self.annotations.set_status(zoom=zoom_text(zoom))
        if zoom is not None:
            self.zoom_changed.emit(zoom)

    def _on_mouse_moved(self, pos) -> None:
        self._mouse_scene_pos = pos
        if self.stored is None or not self.annotations.visible["pixel_value"]:
            return
        p = self.view.mapSceneToView(pos)
        hit = self.value_at(p.x(), p.y())
        text = pixel_text(*hit) if hit is not None else pixel_text(None, None, None)
        self.annotations.set_status(pixel=text)

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
        self.annotations.place()
