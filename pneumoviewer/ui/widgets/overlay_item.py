"""The canvas item that shows the composed overlay and repaints only what changed.

pyqtgraph's ``ImageItem`` re-renders its whole image and asks the view to repaint its
whole bounding rectangle on every ``setImage``. A threshold step changes a few hundred
pixels around the predicted region; repainting the whole viewport (the cached base image,
the overlay, and every label that floats over the canvas) made up most of a slider step's
time. :class:`OverlayItem` wraps the RGBA array in a ``QImage`` without copying and, when a
new overlay has the shape of the one on screen, tells the view only the rectangle where
they differ.
"""

from __future__ import annotations

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage

from pneumoviewer.ui.layers.region import Box, box_union

__all__ = ["OverlayItem", "changed_box"]


def changed_box(old: np.ndarray, new: np.ndarray) -> tuple[int, int, int, int] | None:
    """Return ``(x, y, width, height)`` bounding the pixels that differ, or None.

    Parameters
    ----------
    old, new : numpy.ndarray
        uint8 (H, W, 4), the same shape, C-contiguous.

    Returns
    -------
    tuple of int or None
        The smallest rectangle holding every differing pixel; None when they are equal.

    """
    a = np.ascontiguousarray(old).view(np.int32)[..., 0]
    b = np.ascontiguousarray(new).view(np.int32)[..., 0]
    diff = cv2.compare(a, b, cv2.CMP_NE)  # one packed pixel per int32, multi-threaded
    x, y, w, h = cv2.boundingRect(diff)
    return None if w == 0 or h == 0 else (x, y, w, h)


class OverlayItem(pg.GraphicsObject):
    """An RGBA uint8 (H, W, 4) image in image coordinates (pixel (r, c) at x=c, y=r).

    The array is shown as it is (straight alpha, ``QImage.Format_RGBA8888``, no copy):
    the caller must not free it while it is shown; changing it in place is fine when
    followed by :meth:`updateImage`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.image: np.ndarray | None = None
        self.qimage: QImage | None = None
        #: Outside this box the image is fully transparent (None: all of it is).
        self.touched: Box | None = None

    # --- pyqtgraph ImageItem's calls that the canvas and the brush use ----------------------
    def setImage(self, image: np.ndarray, touched: Box | None | str = "all", **_ignored) -> None:  # noqa: N802
        """Show ``image``; repaint only where it differs from the one shown (same shape).

        ``touched``: the box outside which ``image`` is transparent (None: all of it;
        "all": not known).
        """
        image = np.ascontiguousarray(image, dtype=np.uint8)
        if image.ndim != 3 or image.shape[2] != 4:
            raise ValueError(f"overlay must be RGBA (H, W, 4), got shape {image.shape}")
        old = self.image
        self._wrap(image)
        h, w = image.shape[:2]
        self.touched = (0, h, 0, w) if touched == "all" else touched
        if old is not None and old is not image and old.shape == image.shape:
            box = changed_box(old, image)
            if box is not None:
                self.update(QRectF(*box))
            return
        self.prepareGeometryChange()
        self.update()

    def updateImage(self, *_args, rect: tuple[int, int, int, int] | None = None, **_kw) -> None:  # noqa: N802
        """Repaint after the array was changed in place (``rect``: x, y, w, h changed)."""
        if self.image is None:
            return
        self._wrap(self.image)
        if rect is None:
            h, w = self.image.shape[:2]
            self.touched = (0, h, 0, w)
            self.update(self.boundingRect())
            return
        x, y, w, h = rect
        self.touched = box_union(self.touched, (y, y + h, x, x + w))
        self.update(QRectF(x, y, w, h))

    def clear(self) -> None:
        """Show nothing."""
        if self.image is not None:
            self.prepareGeometryChange()
            self.image = self.qimage = None
            self.touched = None
            self.update()

    # --- QGraphicsItem ----------------------------------------------------------------------
    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        """Return the image's rectangle (empty with no image)."""
        if self.image is None:
            return QRectF()
        h, w = self.image.shape[:2]
        return QRectF(0, 0, w, h)

    def paint(self, painter, *_args) -> None:
        """Draw the image (Qt clips the draw to the exposed region)."""
        if self.qimage is not None:
            painter.drawImage(self.boundingRect(), self.qimage)

    def _wrap(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        self.image = image
        self.qimage = QImage(image.data, w, h, w * 4, QImage.Format.Format_RGBA8888)
