"""Info-panel section: prediction against ground truth in cm² and px, FP/FN pixels, Dice.

The numbers come from :func:`pneumoviewer.core.measurements.compare_masks` (Dice from
``core.metrics``). Updates are throttled (at most one comparison per
:data:`UPDATE_INTERVAL_MS`, with the latest masks), so dragging the threshold slider keeps
its repaint budget and the numbers follow a few times a second.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

from pneumoviewer.core.measurements import MaskComparison, area_cm2, compare_masks, format_area

UPDATE_INTERVAL_MS = 80
ROWS = ("Ground-truth area", "Predicted area", "False positive", "False negative", "Dice")


class MeasurementsPanel(QWidget):
    """Rows of :meth:`MaskComparison.rows`, dashes when a side is missing.

    Parameters
    ----------
    parent : QWidget or None
        Owner.

    Signals
    -------
    updated(object) : the :class:`MaskComparison` shown (None when not comparable).

    """

    updated = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("measurementsPanel")
        form = QFormLayout(self)
        form.setContentsMargins(6, 6, 6, 6)
        self.labels: dict[str, QLabel] = {}
        for name in ROWS:
            label = QLabel("—", self)
            label.setObjectName(f"measurement_{name.lower().replace(' ', '_').replace('-', '_')}")
            label.setWordWrap(True)
            form.addRow(name, label)
            self.labels[name] = label
        self.note = QLabel("", self)
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #b0b6be;")
        form.addRow(self.note)
        self.comparison: MaskComparison | None = None
        self._pending: tuple[Any, Any, Any] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(UPDATE_INTERVAL_MS)
        self._timer.timeout.connect(self._flush)

    def schedule(
        self,
        prediction: np.ndarray | None,
        truth: np.ndarray | None,
        spacing: tuple[float, float] | None,
    ) -> None:
        """Show the comparison of these masks soon (throttled; the latest call wins)."""
        self._pending = (prediction, truth, spacing)
        if not self._timer.isActive():
            self._timer.start()

    def show_masks(
        self,
        prediction: np.ndarray | None,
        truth: np.ndarray | None,
        spacing: tuple[float, float] | None,
    ) -> MaskComparison | None:
        """Compare and show now; return the comparison (None when a side is missing).

        Parameters
        ----------
        prediction : np.ndarray or None
            bool (H, W) post-processed mask (None: not analysed or no segmenter).
        truth : np.ndarray or None
            bool (H, W) ground truth (None: unknown).
        spacing : tuple of float or None
            ``(row, column)`` pixel spacing in mm (None: areas in px only).

        """
        self._timer.stop()
        self._pending = None
        if prediction is not None and truth is not None and prediction.shape == truth.shape:
            cmp = compare_masks(prediction, truth, spacing)
            for name, text in cmp.rows():
                self.labels[name].setText(text)
            self.note.setText("" if spacing is not None else "no pixel spacing: areas in px")
        else:
            cmp = None
            for name in ROWS:
                self.labels[name].setText("—")
            for name, mask in (("Ground-truth area", truth), ("Predicted area", prediction)):
                if mask is not None:
                    px = int(np.count_nonzero(mask))
                    self.labels[name].setText(format_area(px, area_cm2(px, spacing)))
            missing = "no ground truth" if truth is None else "not analysed (no mask)"
            self.note.setText(missing)
        self.comparison = cmp
        self.updated.emit(cmp)
        return cmp

    def pending(self) -> bool:
        """Whether a scheduled comparison has not been shown yet."""
        return self._timer.isActive()

    def clear(self) -> None:
        """Dashes everywhere (no image)."""
        self.show_masks(None, None, None)
        self.note.setText("")

    def _flush(self) -> None:
        if self._pending is not None:
            self.show_masks(*self._pending)
