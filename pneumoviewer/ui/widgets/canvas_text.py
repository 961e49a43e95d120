r"""Texts drawn on the canvas: orientation labels, patient/study line, zoom, pixel value.

Qt-free, so the conventions are unit-tested directly.

Orientation. Patient Orientation (0020,0020) gives two directions: the first is the patient
direction of the *rows* (the direction of increasing column index, i.e. towards the right
edge of the displayed image), the second that of the *columns* (increasing row index,
towards the bottom edge). So the right edge is labelled with the first value, the left edge
with its opposite, the bottom edge with the second value and the top edge with its
opposite. A PA chest film with ``L\F`` reads R on the left, L on the right, H at the top
and F at the bottom. Values may combine letters (``"LP"``: oblique) -- each letter is
reversed. "?" marks what is absent. The rule itself lives in core (``core.export.
orientation_labels``), shared with the PNG export's frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pneumoviewer.ui.windowing import format_value

__all__ = [
    "EdgeLabels",
    "edge_labels",
    "format_date",
    "patient_lines",
    "pixel_text",
    "zoom_text",
]


@dataclass(frozen=True, slots=True)
class EdgeLabels:
    """Label of each edge of the displayed image."""

    left: str
    right: str
    top: str
    bottom: str


def edge_labels(orientation: Any) -> EdgeLabels:
    r"""Edge labels from Patient Orientation (see the module docstring).

    The convention has one implementation, :func:`pneumoviewer.core.export.orientation_labels`
    (the PNG export's frame); this wraps it for the canvas.

    Parameters
    ----------
    orientation : tuple of (str, str), str or None
        ``("L", "F")`` as in ``XrayMetadata.patient_orientation``, or the raw DICOM text
        ``"L\F"``; None when absent.

    Returns
    -------
    EdgeLabels
        "?" on every edge when the orientation is absent or malformed.

    """
    from pneumoviewer.core.export import orientation_labels  # PIL: off the startup path

    if isinstance(orientation, str):
        orientation = orientation.split("\\")
    values = tuple(orientation) if orientation else None
    return EdgeLabels(**orientation_labels(values))


def format_date(value: str | None) -> str | None:
    """``"20190101"`` -> ``"2019-01-01"``; other text is returned stripped (None when empty)."""
    text = (value or "").strip()
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text or None


def _age_text(metadata: Any) -> str | None:
    text = getattr(metadata, "age_text", None)
    if text is not None or not getattr(metadata, "patient_age", None):
        return text
    try:
        from pneumoviewer.core.dicom_header import format_age
    except ImportError:  # pragma: no cover - the core formatter is the one format
        return str(metadata.patient_age).strip() or None
    return format_age(metadata.patient_age)


def patient_lines(metadata: Any) -> list[str]:
    """Return the corner lines about patient and study, e.g. ``["F · 41 y", "PA"]``.

    Parameters
    ----------
    metadata : XrayMetadata or any object
        ``patient_sex``, the age (``age_text`` or ``patient_age`` through the core's one
        age format), ``view_position`` and ``study_date`` are read when present.

    Returns
    -------
    list of str
        Lines with what is known; "sex ?" / "age ?" stand in for a missing sex or age.

    """
    sex = (getattr(metadata, "patient_sex", None) or "").strip() or "sex ?"
    age = _age_text(metadata) or "age ?"
    lines = [f"{sex} · {age}"]
    view = (getattr(metadata, "view_position", None) or "").strip()
    if view:
        lines.append(view)
    date = format_date(getattr(metadata, "study_date", None))
    if date:
        lines.append(date)
    return lines


def zoom_text(zoom: float | None) -> str:
    """``"Zoom 56%"`` (screen pixels per image pixel as a percentage); ``"Zoom —"`` if unknown."""
    if zoom is None or not math.isfinite(zoom) or zoom <= 0:
        return "Zoom —"
    return f"Zoom {zoom * 100:.0f}%"


def pixel_text(x: int | None, y: int | None, value: float | None, units: str = "") -> str:
    """``"(512, 300) = 1,234"``: column, row and the stored value; ``"(—)"`` off the image."""
    if x is None or y is None or value is None:
        return "(—)"
    suffix = f" {units}" if units else ""
    return f"({x}, {y}) = {format_value(float(value))}{suffix}"
