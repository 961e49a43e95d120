"""Annotated PNG export: the picture, then a band outside it with the text and the legend.

The picture is the image with the layers composited by :mod:`pneumoviewer.core.overlay`
at full resolution (the same compositor as the viewer), untouched: nothing is drawn over
it. Around it, a black frame carries the orientation labels (from Patient Orientation;
``?`` when unknown) at the middle of each side, and a band below carries the title, the
text lines (decision state, mask, Dice, model, contrast...) and a legend that names every
colour drawn, overlaps included. All text is plain ASCII (:func:`pneumoviewer.core.
annotation.ascii_text`), so Pillow's built-in font renders every glyph. Provenance goes
into PNG text chunks (see :func:`pneumoviewer.core.annotation.build_annotation`). Files are
written atomically with :func:`pneumoviewer.core.io.atomic_write_bytes`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from pneumoviewer.core.annotation import ascii_text
from pneumoviewer.core.io import atomic_write_bytes
from pneumoviewer.core.overlay import Color, OverlayStyle, Paint, compose_on, legend, style_paints

if TYPE_CHECKING:
    from pneumoviewer.core.annotation import Annotation

__all__ = [
    "ExportLayout",
    "export_annotated_png",
    "layout_for",
    "orientation_labels",
    "render_annotated_png",
]

#: Font height as a fraction of the image height (about 22 px at 1024 px).
FONT_FRACTION = 0.022
_BAND_RGB = (0, 0, 0)
_TEXT_RGB = (255, 255, 255)
_OPPOSITE = {"L": "R", "R": "L", "A": "P", "P": "A", "H": "F", "F": "H"}


@dataclass(frozen=True, slots=True)
class ExportLayout:
    """Where the image sits in the exported picture.

    Attributes
    ----------
    top, left : int
        Offset of the image's top-left pixel (the frame's width).
    font_size, pad : int
        Text height and spacing in pixels.

    """

    top: int
    left: int
    font_size: int
    pad: int


def layout_for(shape: tuple[int, int]) -> ExportLayout:
    """Return the frame and font of an export of an image of ``shape`` (H, W)."""
    size = max(10, round(FONT_FRACTION * int(shape[0])))
    pad = max(4, size // 2)
    frame = size + 2 * pad
    return ExportLayout(top=frame, left=frame, font_size=size, pad=pad)


def orientation_labels(orientation: Sequence[str] | None) -> dict[str, str]:
    """Edge labels ``{"top", "bottom", "left", "right"}`` from DICOM Patient Orientation.

    ``orientation`` is (row direction, column direction): where the patient is toward the
    right edge and toward the bottom edge (e.g. ``("L", "F")``); the opposite edges get
    the opposite letters. None (or anything unreadable) gives ``"?"`` everywhere.
    """

    def opposite(code: str) -> str:
        return "".join(_OPPOSITE.get(c, "?") for c in code) or "?"

    if orientation is None or len(orientation) != 2:
        return dict.fromkeys(("top", "bottom", "left", "right"), "?")
    row, col = (ascii_text(str(v)).strip().upper() or "?" for v in orientation)
    return {"right": row, "left": opposite(row), "bottom": col, "top": opposite(col)}


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _wrap(text: str, width: int, measure) -> list[str]:
    """Greedy word wrap of one line to ``width`` pixels (long words are cut)."""
    words = text.split(" ")
    out: list[str] = []
    line = ""
    for word in words:
        trial = word if not line else f"{line} {word}"
        if measure(trial) <= width or not line:
            line = trial
        else:
            out.append(line)
            line = word
        while measure(line) > width and len(line) > 1:
            cut = len(line) - 1
            while cut > 1 and measure(line[:cut]) > width:
                cut -= 1
            out.append(line[:cut])
            line = line[cut:]
    out.append(line)
    return out


def _band_rows(
    *,
    title: str,
    lines: Sequence[str],
    entries: Sequence[tuple[str, Color]],
    width: int,
    size: int,
    gap: int,
    measure,
) -> list[list[tuple[str, Color | None]]]:
    """Rows of (text, swatch colour or None) items laid out to fit ``width``."""
    rows: list[list[tuple[str, Color | None]]] = []
    for text in [title, *lines]:
        for part in str(text).splitlines():
            rows.extend([(w, None)] for w in _wrap(ascii_text(part), width, measure) if w)
    row: list[tuple[str, Color | None]] = []
    used = 0
    for label, color in entries:
        label = ascii_text(label)
        item_w = size + gap + measure(label) + 3 * gap
        if row and used + item_w > width:
            rows.append(row)
            row, used = [], 0
        row.append((label, tuple(color)))
        used += item_w
    if row:
        rows.append(row)
    elif not entries:
        rows.append([("Overlay: nothing drawn", None)])
    return rows


def render_annotated_png(
    base: np.ndarray,
    *,
    ground_truth: np.ndarray | None = None,
    prediction: np.ndarray | None = None,
    style: OverlayStyle | None = None,
    paints: Sequence[Paint] | None = None,
    title: str = "",
    lines: Sequence[str] = (),
    legend_entries: Sequence[tuple[str, Color]] | None = None,
    orientation: Sequence[str] | None = None,
) -> np.ndarray:
    """Render the export picture: the composited image in a frame, text and legend below.

    Parameters
    ----------
    base : numpy.ndarray
        uint8, shape (H, W), the display image.
    ground_truth, prediction : numpy.ndarray or None
        bool, shape (H, W); drawn with ``style`` when ``paints`` is None.
    style : OverlayStyle or None
        As in the viewer (None: ``OverlayStyle()``).
    paints : sequence of Paint or None
        The layers to draw (the viewer's stack); overrides the two masks.
    title : str
        First text line ("" for none).
    lines : sequence of str
        Further text lines (decision state, Dice, post-processing...).
    legend_entries : sequence of (str, Color) or None
        None: :func:`pneumoviewer.core.overlay.legend` of the paints, overlaps included.
    orientation : (str, str) or None
        Patient Orientation (row, column direction); None draws "?".

    Returns
    -------
    numpy.ndarray
        uint8, shape (H + 2 f + band, W + 2 f, 3), RGB, ``f = layout_for((H, W)).top``:
        the image (exactly :func:`~pneumoviewer.core.overlay.compose_on`) at ``(f, f)``,
        the orientation letters in the frame, the band below it.

    """
    if not isinstance(base, np.ndarray) or base.ndim != 2 or base.dtype != np.uint8:
        got = f"{getattr(base, 'dtype', type(base).__name__)} {getattr(base, 'shape', '')}"
        raise ValueError(f"base image must be uint8 (H, W), got {got}")
    h, w = base.shape
    if paints is None:
        paints = style_paints(
            (h, w),
            ground_truth=ground_truth,
            prediction=prediction,
            style=OverlayStyle() if style is None else style,
        )
    picture = compose_on(base, list(paints))[..., :3]
    entries = legend(list(paints), shape=(h, w)) if legend_entries is None else legend_entries
    lay = layout_for((h, w))
    size, pad, f = lay.font_size, lay.pad, lay.top
    gap = max(2, size // 4)
    font = _font(size)
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def measure(s: str) -> int:
        return int(np.ceil(scratch.textlength(s, font=font)))

    width = w + 2 * f
    rows = _band_rows(
        title=title,
        lines=lines,
        entries=entries,
        width=width - 2 * pad,
        size=size,
        gap=gap,
        measure=measure,
    )
    line_h = size + gap
    band = len(rows) * line_h - gap + 2 * pad
    canvas = Image.new("RGB", (width, h + 2 * f + band), _BAND_RGB)
    canvas.paste(Image.fromarray(np.ascontiguousarray(picture)), (f, f))
    draw = ImageDraw.Draw(canvas)
    labels = orientation_labels(orientation)
    mid_x, mid_y = f + w // 2, f + h // 2
    for where, xy, anchor in (
        ("top", (mid_x, f // 2), "mm"),
        ("bottom", (mid_x, f + h + f // 2), "mm"),
        ("left", (f // 2, mid_y), "mm"),
        ("right", (f + w + f // 2, mid_y), "mm"),
    ):
        draw.text(xy, labels[where], font=font, fill=_TEXT_RGB, anchor=anchor)
    y = h + 2 * f + pad
    for row in rows:
        x = pad
        for text, color in row:
            if color is not None:
                draw.rectangle(
                    (x, y, x + size - 1, y + size - 1),
                    fill=color,
                    outline=_TEXT_RGB,
                    width=max(1, size // 12),
                )
                x += size + gap
            draw.text((x, y), text, font=font, fill=_TEXT_RGB, anchor="lt")
            x += measure(text) + 3 * gap
        y += line_h
    return np.asarray(canvas)


def export_annotated_png(
    path: str | os.PathLike[str],
    base: np.ndarray,
    *,
    ground_truth: np.ndarray | None = None,
    prediction: np.ndarray | None = None,
    style: OverlayStyle | None = None,
    paints: Sequence[Paint] | None = None,
    title: str = "",
    lines: Sequence[str] = (),
    legend_entries: Sequence[tuple[str, Color]] | None = None,
    orientation: Sequence[str] | None = None,
    provenance: Mapping[str, str] | None = None,
    annotation: Annotation | None = None,
    overwrite: bool = False,
    compress_level: int = 6,
) -> Path:
    """Write the annotated picture as a PNG with provenance text chunks, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination ``.png``; its folder must exist.
    base, ground_truth, prediction, style, paints, title, lines, legend_entries, orientation
        As in :func:`render_annotated_png`.
    provenance : mapping of str to str, optional
        Written as PNG text chunks, one per key (tEXt, or iTXt when the value is not
        Latin-1). Keys must be 1-79 Latin-1 characters. A ``Software`` chunk naming
        pneumoviewer's version is added unless given.
    annotation : Annotation, optional
        From :func:`pneumoviewer.core.annotation.build_annotation`: its title, lines,
        legend (when not empty), orientation and provenance replace the arguments above.
    overwrite : bool
        Replace an existing file.
    compress_level : int
        zlib level 0-9 of the PNG encoder. 6 (default) is compact; 1 is about 3x faster
        and 20-30 % larger, which suits batch runs where encoding would outlast inference.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    ValueError
        If a provenance key is not a valid PNG keyword.

    """
    from pneumoviewer import __version__

    if annotation is not None:
        title, lines = annotation.title, annotation.lines
        orientation, provenance = annotation.orientation, annotation.provenance
        if annotation.legend:
            legend_entries = annotation.legend
    path = Path(path)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"{path}: file exists (not overwritten)")
    info = PngInfo()
    meta = dict(provenance or {})
    meta.setdefault("Software", f"pneumoviewer {__version__}")
    for key, value in meta.items():
        key = str(key)
        try:
            ok = 1 <= len(key.encode("latin-1")) <= 79
        except UnicodeEncodeError:
            ok = False
        if not ok:
            raise ValueError(f"{path}: provenance key {key!r} is not a valid PNG keyword")
        info.add_text(key, str(value))
    rgb = render_annotated_png(
        base,
        ground_truth=ground_truth,
        prediction=prediction,
        style=style,
        paints=paints,
        title=title,
        lines=lines,
        legend_entries=legend_entries,
        orientation=orientation,
    )
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", pnginfo=info, compress_level=compress_level)
    return atomic_write_bytes(path, buf.getvalue(), overwrite=overwrite)
