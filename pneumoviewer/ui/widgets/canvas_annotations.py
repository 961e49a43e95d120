"""Text annotations over the canvas: orientation labels, patient/study corner, status corner.

Labels are child widgets of the canvas's ``GraphicsView`` placed in viewport coordinates,
so they stay put while the image is zoomed or panned (the OHIF / Weasis layout): the
orientation letters at the middle of each edge, age/sex/view/date top-right, zoom, window/
level and the value under the cursor bottom-left. The overlay legend (top-left) and the
image/AI line (bottom-right) belong to :class:`pneumoviewer.ui.image_canvas.ImageCanvas`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QLabel, QWidget

from pneumoviewer.ui.widgets.canvas_text import EdgeLabels, edge_labels, patient_lines

#: Annotation keys, as in the view model's ``show_<key>`` fields.
ANNOTATIONS = ("orientation", "patient", "zoom", "pixel_value")

_CORNER_STYLE = (
    "QLabel { background: rgba(10, 12, 14, 150); color: #e8e8e8; padding: 3px 7px;"
    " border-radius: 4px; font-size: 12px; }"
)
_EDGE_STYLE = (
    "QLabel { background: rgba(10, 12, 14, 150); color: #fff59d; padding: 1px 5px;"
    " border-radius: 4px; font-size: 15px; font-weight: 700; }"
)


def escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` for rich text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def legend_html(entries: list[tuple[str, tuple[int, int, int]]], note: str = "") -> str:
    """Rich text of the overlay legend: a colour swatch per ``(label, (r, g, b))``, a note."""
    rows = "".join(
        f'<tr><td><span style="color:rgb{tuple(c)}; font-size:15px;">■</span></td>'
        f"<td>&nbsp;{escape(label)}</td></tr>"
        for label, c in entries
    )
    if note:
        rows += f'<tr><td></td><td style="color:#b0b6be">&nbsp;{escape(note)}</td></tr>'
    return f"<table cellspacing=0 cellpadding=1>{rows}</table>"


def _label(host: QWidget, name: str, style: str) -> QLabel:
    label = QLabel(host)
    label.setObjectName(name)
    label.setStyleSheet(style)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
    label.hide()
    return label


class CanvasAnnotations(QObject):
    """The annotation labels of one canvas.

    Parameters
    ----------
    host : QWidget
        The widget the labels float over (the canvas's ``GraphicsView``).

    Attributes
    ----------
    edges : dict of str to QLabel
        ``left``, ``right``, ``top``, ``bottom`` orientation labels.
    patient : QLabel
        Sex · age, view, study date (top-right).
    status : QLabel
        Zoom, window/level, value under the cursor (bottom-left).

    """

    def __init__(self, host: QWidget) -> None:
        super().__init__(host)
        self.host = host
        self.edges = {
            side: _label(host, f"orientation_{side}", _EDGE_STYLE)
            for side in ("left", "right", "top", "bottom")
        }
        self.patient = _label(host, "canvasPatient", _CORNER_STYLE)
        self.patient.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.status = _label(host, "canvasStatus", _CORNER_STYLE)
        self.visible = dict.fromkeys(ANNOTATIONS, True)
        self.labels = EdgeLabels("?", "?", "?", "?")
        self._active = False
        self._zoom = ""
        self._window = ""
        self._pixel = ""

    # --- content -------------------------------------------------------------------------
    def set_metadata(self, metadata: Any) -> None:
        """Fill the orientation labels and the patient corner from ``metadata``."""
        self.labels = edge_labels(getattr(metadata, "patient_orientation", None))
        for side, label in self.edges.items():
            label.setText(getattr(self.labels, side))
            label.adjustSize()
        self.patient.setText("\n".join(patient_lines(metadata)))
        self.patient.adjustSize()
        self._active = True
        self._refresh()

    def set_status(
        self, *, zoom: str | None = None, window: str | None = None, pixel: str | None = None
    ) -> None:
        """Update the lines of the status corner (None leaves a line as it is)."""
        changed = False
        for attr, value in (("_zoom", zoom), ("_window", window), ("_pixel", pixel)):
            if value is not None and value != getattr(self, attr):
                setattr(self, attr, value)
                changed = True
        if changed:
            self._refresh_status()

    def status_lines(self) -> list[str]:
        """Return the status corner's lines as shown (hidden annotations left out)."""
        lines = []
        if self.visible["zoom"] and self._zoom:
            lines.append(self._zoom)
        if self._window:
            lines.append(self._window)
        if self.visible["pixel_value"] and self._pixel:
            lines.append(self._pixel)
        return lines

    def set_visible(self, key: str, visible: bool) -> None:
        """Show or hide one annotation (``orientation``, ``patient``, ``zoom``, ``pixel_value``)."""
        if key not in self.visible:
            raise KeyError(f"unknown canvas annotation {key!r}; known: {', '.join(ANNOTATIONS)}")
        self.visible[key] = bool(visible)
        self._refresh()

    def clear(self) -> None:
        """Hide everything (no image on the canvas)."""
        self._active = False
        self._refresh()

    # --- layout --------------------------------------------------------------------------
    def _refresh_status(self) -> None:
        lines = self.status_lines()
        if self._active and lines:
            self.status.setText("\n".join(lines))
            self.status.adjustSize()
            self.status.show()
        else:
            self.status.hide()
        self.place()

    def _refresh(self) -> None:
        for label in self.edges.values():
            label.setVisible(self._active and self.visible["orientation"])
        self.patient.setVisible(self._active and self.visible["patient"])
        self._refresh_status()

    def place(self, *, top_right_offset: int = 0) -> None:
        """Position the labels in the host's current size."""
        w, h, m = self.host.width(), self.host.height(), 10
        e = self.edges
        e["left"].move(6, (h - e["left"].height()) // 2)
        e["right"].move(w - e["right"].width() - 6, (h - e["right"].height()) // 2)
        e["top"].move((w - e["top"].width()) // 2, 6)
        e["bottom"].move((w - e["bottom"].width()) // 2, h - e["bottom"].height() - 6)
        self.patient.move(max(m, w - self.patient.width() - m), m + top_right_offset)
        self.status.move(m, max(m, h - self.status.height() - m))
        for side in ("top", "bottom"):
            self._slide_clear(e[side])

    def _slide_clear(self, label: QLabel) -> None:
        """Slide an edge letter along its edge off the other labels (legend, info, corners).

        The free place nearest the middle of the edge; when there is none, the middle,
        just inside the labels it would cover.
        """
        g, w = label.geometry(), self.host.width()
        others = [
            o.geometry().adjusted(-8, 0, 8, 0)
            for o in self.host.findChildren(QLabel)
            if o.parentWidget() is self.host
            and o not in self.edges.values()
            and o.isVisible()
            and o.geometry().top() <= g.bottom()
            and o.geometry().bottom() >= g.top()
        ]
        middle = g.left()
        candidates = [middle]
        for r in others:
            candidates += [r.left() - g.width(), r.right() + 1]
        candidates = [x for x in candidates if 0 <= x <= w - g.width()]
        for x in sorted(candidates, key=lambda x: abs(x - middle)):
            moved = g.translated(x - g.left(), 0)
            if not any(moved.intersects(r) for r in others):
                label.move(x, g.top())
                return
        hit = [r for r in others if r.intersects(g)]  # no room on the edge: step inwards
        if g.center().y() > self.host.height() // 2:
            label.move(middle, min(r.top() for r in hit) - g.height() - 4)
        else:
            label.move(middle, max(r.bottom() for r in hit) + 4)
