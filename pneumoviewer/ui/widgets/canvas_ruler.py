"""A distance ruler on the canvas: a pyqtgraph ``LineSegmentROI`` and its length label.

The length comes from :func:`pneumoviewer.core.measurements.measure_distance`: mm from
Pixel Spacing or Imager Pixel Spacing (the label names which: Imager Pixel Spacing is
measured at the detector, without magnification correction), px when neither exists.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, Signal

from pneumoviewer.core.measurements import Distance, measure_distance

RULER_COLOR = (0, 229, 255)


class Ruler(QObject):
    """One ruler on a ``ViewBox`` whose coordinates are image pixels (x = column, y = row).

    Parameters
    ----------
    view : pyqtgraph.ViewBox
        Where the ruler is drawn.

    Signals
    -------
    changed(object) : the :class:`~pneumoviewer.core.measurements.Distance` while dragged.
    removed() : the ruler was removed (also from its context menu).

    """

    changed = Signal(object)
    removed = Signal()

    def __init__(self, view: pg.ViewBox) -> None:
        super().__init__(view)
        self.view = view
        self.spacing: tuple[float, float] | None = None
        self.source: str | None = None
        self.roi: pg.LineSegmentROI | None = None
        self.label = pg.TextItem(
            "", color=(15, 15, 15), fill=pg.mkBrush(*RULER_COLOR, 220), anchor=(0.5, 1.2)
        )
        self.label.setZValue(31)

    @property
    def active(self) -> bool:
        """Whether the ruler is on the canvas."""
        return self.roi is not None

    def set_spacing(self, spacing: tuple[float, float] | None, source: str | None) -> None:
        """Pixel spacing ``(row, column)`` in mm and the attribute it came from."""
        self.spacing, self.source = spacing, source
        if self.roi is not None:
            self._update()

    def add(self, p0: tuple[float, float], p1: tuple[float, float]) -> None:
        """Put the ruler from ``p0`` to ``p1`` (image pixels ``(x, y)``), replacing any other."""
        self.remove(emit=False)
        roi = pg.LineSegmentROI(
            positions=[p0, p1], pen=pg.mkPen(RULER_COLOR, width=2), removable=True
        )
        roi.setZValue(30)
        roi.sigRegionChanged.connect(self._update)
        roi.sigRemoveRequested.connect(lambda _r: self.remove())
        self.roi = roi
        self.view.addItem(roi)
        self.view.addItem(self.label)
        self._update()

    def remove(self, *, emit: bool = True) -> None:
        """Take the ruler off the canvas (no-op without one)."""
        if self.roi is None:
            return
        self.view.removeItem(self.roi)
        self.view.removeItem(self.label)
        self.roi = None
        if emit:
            self.removed.emit()

    def endpoints(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """End points ``(x, y)`` in image pixels, or None without a ruler."""
        if self.roi is None:
            return None
        pts = [self.roi.mapToParent(h["item"].pos()) for h in self.roi.handles[:2]]
        return (pts[0].x(), pts[0].y()), (pts[1].x(), pts[1].y())

    def distance(self) -> Distance | None:
        """Return the current length, or None without a ruler."""
        ends = self.endpoints()
        if ends is None:
            return None
        return measure_distance(ends[0], ends[1], self.spacing, self.source)

    def text(self) -> str:
        """Return the label shown next to the ruler ("" without one)."""
        return self.label.toPlainText() if self.roi is not None else ""

    def _update(self, *_args) -> None:
        ends = self.endpoints()
        if ends is None:
            return
        d = measure_distance(ends[0], ends[1], self.spacing, self.source)
        self.label.setText(d.label())
        (x0, y0), (x1, y1) = ends
        top = (x0, y0) if y0 <= y1 else (x1, y1)
        self.label.setPos(QPointF(*top))
        self.changed.emit(d)
