"""The reader's mask layer (#9): the reader's corrected mask in its own colour.

One class per the recipe of :mod:`pneumoviewer.ui.layers`: it draws
``scene.extras["reader"]`` (the mask being edited, registered by
:class:`~pneumoviewer.ui.controllers.reading.ReadingController`) as a cyan outline over
the AI's fill by default -- the colour the DICOM GSPS and SC exports use
(:data:`pneumoviewer.core.reading_annotation.READER_COLOR`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psygnal import evented

from pneumoviewer.core.overlay import MaskPaint, Paint
from pneumoviewer.core.reading_annotation import READER_COLOR
from pneumoviewer.ui.layers.base import Layer, Scene


@evented
@dataclass
class ReaderLayerState:
    """How the reader's mask is drawn.

    Attributes
    ----------
    visible : bool
        Drawn at all.
    outline : bool
        Outline (default, so the AI's fill stays visible underneath) or fill.
    opacity : float
        Alpha, 0..1.
    color : tuple of int
        RGB.

    """

    visible: bool = True
    outline: bool = True
    opacity: float = 0.9
    color: tuple[int, int, int] = READER_COLOR


class ReaderLayer(Layer):
    """The reader's mask (``scene.extras["reader"]``), above the AI and the truth."""

    key, title, order = "reader", "Reader", 40

    def __init__(self, view_model: Any) -> None:
        super().__init__(view_model)
        self.state = ReaderLayerState()

    def paints(self, scene: Scene) -> list[Paint]:  # noqa: D102
        mask = scene.extras.get(self.key)
        s = self.state
        if mask is None or not s.visible or mask.shape != tuple(scene.shape) or not mask.any():
            return []  # the legend names only colours that are drawn
        return [MaskPaint(self.title, mask, tuple(s.color), float(s.opacity), bool(s.outline))]

    def make_controls(self, parent: Any, actions: dict[str, Any]) -> Any:
        """Two check boxes: show the reader's mask, outline instead of fill."""
        from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QWidget

        from pneumoviewer.ui.bind import bind_checkable

        box = QWidget(parent)
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        show = QCheckBox("Reader's mask", box)
        show.setToolTip("Show the reader's corrected mask (cyan)")
        outline = QCheckBox("outline", box)
        outline.setToolTip("Draw the reader's mask as an outline (else filled)")
        bind_checkable(self.state, "visible", show)
        bind_checkable(self.state, "outline", outline)
        row.addWidget(show)
        row.addWidget(outline)
        row.addStretch(1)
        box.setObjectName("readerLayerControls")
        return box
