"""Drawing the reader's mask on the canvas: the mouse surface and the fast box repaint.

:class:`DrawSurface` is an invisible item over the image that takes left-button drags and
clicks only while a tool is active (brush, eraser, polygon); otherwise it ignores them
and the ViewBox pans, zooms and windows as usual.

:class:`BoxRepainter` keeps a brush step cheap at 1024²: the layers' paints are taken
once when a stroke starts (the reader's paint holds the live mask, edited in place), and
each step recomposes only the changed rectangle with the one compositor
(:func:`pneumoviewer.core.overlay.compose`) into the canvas's overlay image.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt

from pneumoviewer.core.overlay import Paint, compose
from pneumoviewer.ui.layers.region import Box, crop_paints


class BoxRepainter:
    """Redraw rectangles of the canvas overlay during a stroke.

    Parameters
    ----------
    canvas : ImageCanvas
        Its ``overlay`` array and ``overlay_item`` are updated in place.
    paints : callable
        Returns the layers' paints of the image on screen (called at :meth:`begin`).
    """

    def __init__(self, canvas: Any, paints: Callable[[], list[Paint]]) -> None:
        self.canvas = canvas
        self._paints_of = paints
        self._paints: list[Paint] | None = None
        self._shape: tuple[int, int] | None = None

    def begin(self, shape: tuple[int, int]) -> None:
        """Take the paints for a stroke on an image of ``shape``."""
        self._paints = self._paints_of()
        self._shape = (int(shape[0]), int(shape[1]))
        overlay = getattr(self.canvas, "overlay", None)
        if overlay is None or overlay.shape[:2] != self._shape:
            self.canvas.set_overlay(np.zeros((*self._shape, 4), np.uint8))

    def repaint(self, box: Box) -> None:
        """Recompose ``box`` and show it."""
        if self._paints is None or self._shape is None:
            return
        r0, r1, c0, c1 = box
        if r0 >= r1 or c0 >= c1:
            return
        rgba = compose((r1 - r0, c1 - c0), crop_paints(self._paints, box, self._shape))
        overlay = self.canvas.overlay
        overlay[r0:r1, c0:c1] = rgba
        item = self.canvas.overlay_item
        if item.image is not overlay:
            item.setImage(overlay)
        else:  # changed in place: repaint the box only
            item.updateImage(rect=(c0, r0, c1 - c0, r1 - r0))

    def end(self) -> None:
        """Forget the paints (the full refresh takes over)."""
        self._paints = None


class DrawSurface(pg.GraphicsObject):
    """An invisible item over the image that turns mouse gestures into tool calls.

    Parameters
    ----------
    tool : callable
        Returns the active tool: "brush", "eraser", "polygon" or "" (none: ignore).
    on_stroke : callable
        ``on_stroke(phase, (x, y))`` with phase "begin", "move", "end" (brush/eraser).
    on_click : callable
        ``on_click((x, y), double)`` (polygon corners; a double click closes it).

    Coordinates are image (column, row) with pixel centres at integers.
    """

    def __init__(
        self,
        tool: Callable[[], str],
        on_stroke: Callable[[str, tuple[float, float]], None],
        on_click: Callable[[tuple[float, float], bool], None],
    ) -> None:
        super().__init__()
        self._tool = tool
        self._on_stroke = on_stroke
        self._on_click = on_click
        self._rect = QRectF(0, 0, 0, 0)
        self.setZValue(15)
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)

    def set_shape(self, shape: tuple[int, int] | None) -> None:
        """Cover an image of ``shape`` (None: nothing)."""
        self.prepareGeometryChange()
        h, w = shape if shape is not None else (0, 0)
        self._rect = QRectF(0, 0, float(w), float(h))
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: D102, N802
        return self._rect

    def paint(self, painter, *args) -> None:  # noqa: D102 - invisible
        return

    @staticmethod
    def _xy(pos: QPointF) -> tuple[float, float]:
        return (float(pos.x()) - 0.5, float(pos.y()) - 0.5)

    def mouseDragEvent(self, ev) -> None:  # noqa: D102, N802
        if ev.button() != Qt.MouseButton.LeftButton or self._tool() not in ("brush", "eraser"):
            ev.ignore()
            return
        ev.accept()
        if ev.isStart():
            self._on_stroke("begin", self._xy(ev.buttonDownPos()))
        self._on_stroke("move", self._xy(ev.pos()))
        if ev.isFinish():
            self._on_stroke("end", self._xy(ev.pos()))

    def mouseClickEvent(self, ev) -> None:  # noqa: D102, N802
        tool = self._tool()
        if ev.button() != Qt.MouseButton.LeftButton or not tool:
            ev.ignore()
            return
        ev.accept()
        xy = self._xy(ev.pos())
        if tool == "polygon":
            self._on_click(xy, bool(ev.double()))
        else:  # a click with the brush or eraser is a dab
            self._on_stroke("begin", xy)
            self._on_stroke("move", xy)
            self._on_stroke("end", xy)


def pg_polyline(canvas):
    """Return the item of the polygon being drawn (a dashed cyan polyline)."""
    import pyqtgraph as pg
    from PySide6.QtCore import Qt as _Qt

    from pneumoviewer.core.reading_annotation import READER_COLOR

    item = pg.PlotDataItem(
        pen=pg.mkPen(READER_COLOR, width=2, style=_Qt.PenStyle.DashLine),
        symbol="o",
        symbolSize=6,
        symbolBrush=READER_COLOR,
    )
    item.setZValue(16)
    item.hide()
    canvas.view.addItem(item)
    return item
