"""Recompose only the part of the overlay that can have changed.

A threshold step changes the prediction around the predicted region; everything else on a
1024 x 1024 overlay stays transparent. :func:`redraw` recomposes the box holding every
pixel drawn now or before (``drawn_box`` of the new paints united with the box the overlay
was transparent outside of) in place, with the same compositor as a full compose, so the
overlay is the same array, bit for bit, as :func:`~pneumoviewer.core.overlay.compose`
would give. Qt-free.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from pneumoviewer.core.overlay import (
    ClassPaint,
    MaskPaint,
    Paint,
    RGBAPaint,
    compose_with_legend,
    legend,
    outline,
    outline_thickness,
)

__all__ = ["Box", "box_union", "crop_paints", "drawn_box", "redraw"]

#: A rectangle of image pixels: (row0, row1, col0, col1), ends excluded.
Box = tuple[int, int, int, int]

Legend = list[tuple[str, tuple[int, int, int]]]


def box_union(a: Box | None, b: Box | None) -> Box | None:
    """Return the smallest box holding ``a`` and ``b`` (None: empty)."""
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))


def crop_paints(paints: Sequence[Paint], box: Box, shape: tuple[int, int]) -> list[Paint]:
    """Return ``paints`` cut to ``box`` (row0, row1, col0, col1), drawn as on the full image.

    An outlined mask is outlined on a margin around the box with the full image's
    thickness, so the box's edges do not draw false outlines.
    """
    r0, r1, c0, c1 = box
    out: list[Paint] = []
    for p in paints:
        if isinstance(p, MaskPaint):
            if p.outline:
                t = outline_thickness(shape)
                m = t + 1
                R0, R1 = max(0, r0 - m), min(shape[0], r1 + m)
                C0, C1 = max(0, c0 - m), min(shape[1], c1 + m)
                edge = outline(np.asarray(p.mask[R0:R1, C0:C1], bool), t)
                mask = edge[r0 - R0 : r1 - R0, c0 - C0 : c1 - C0]
            else:
                mask = p.mask[r0:r1, c0:c1]
            out.append(MaskPaint(p.label, mask, p.color, p.opacity, False))
        elif isinstance(p, ClassPaint):
            out.append(ClassPaint(p.code[r0:r1, c0:c1], p.classes, p.opacity))
        elif isinstance(p, RGBAPaint):
            out.append(RGBAPaint(p.rgba[r0:r1, c0:c1], p.entries))
    return out


def _nonzero_box(a: np.ndarray) -> Box | None:
    src = np.ascontiguousarray(a)
    src = src.view(np.uint8) if src.dtype == np.bool_ else src.astype(np.uint8, copy=False)
    x, y, w, h = cv2.boundingRect(src)
    return None if w == 0 or h == 0 else (y, y + h, x, x + w)


def drawn_box(shape: tuple[int, int], paints: Sequence[Paint]) -> Box | None:
    """Return the box outside which ``paints`` draw nothing (None: they draw nothing).

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` of the overlay.
    paints : sequence of Paint
        The stack; an RGBA paint counts as drawing everywhere.

    Returns
    -------
    tuple of int or None
        ``(row0, row1, col0, col1)``, ends excluded.

    """
    box: Box | None = None
    for p in paints:
        if isinstance(p, MaskPaint):  # an outline lies inside its mask
            box = box_union(box, _nonzero_box(p.mask))
        elif isinstance(p, ClassPaint):
            box = box_union(box, _nonzero_box(p.code))
        else:
            return (0, int(shape[0]), 0, int(shape[1]))
    return box


def redraw(
    overlay: np.ndarray, touched: Box | None, paints: Sequence[Paint]
) -> tuple[Legend, Box | None, Box | None]:
    """Recompose ``overlay`` in place where it can change.

    Parameters
    ----------
    overlay : numpy.ndarray
        uint8 (H, W, 4), the overlay on screen, transparent outside ``touched``.
    touched : tuple of int or None
        ``(row0, row1, col0, col1)``; None when ``overlay`` is all transparent.
    paints : sequence of Paint
        The new stack, bottom first.

    Returns
    -------
    entries : list
        The legend, as :func:`~pneumoviewer.core.overlay.compose_with_legend` gives it.
    rewritten : tuple of int or None
        The box recomposed (None: nothing to repaint).
    touched : tuple of int or None
        The new box outside which ``overlay`` is transparent.

    """
    shape = overlay.shape[:2]
    box = drawn_box(shape, paints)
    region = box_union(box, touched)
    if region is None:  # nothing drawn before, nothing now
        return legend(paints), None, None
    r0, r1, c0, c1 = region
    rgba, entries = compose_with_legend((r1 - r0, c1 - c0), crop_paints(paints, region, shape))
    overlay[r0:r1, c0:c1] = rgba
    return entries, region, box
