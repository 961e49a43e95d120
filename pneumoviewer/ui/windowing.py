"""Window/level in the image's stored units: presets, display look-up tables, invert.

Qt-free (NumPy only), so the rules are unit-tested without widgets.

Units. A window is ``(center, width)`` in *stored units*: the values after the Modality
LUT / Rescale Slope-Intercept (``XrayImage.stored``), e.g. 0..4095 for a 12-bit CR. This is
what Weasis and OHIF show, and what the file's own Window Center/Width are written in.

Display. The canvas shows ``display_lut(...)[index]``: the stored image is quantised once per
image to a uint16 *index* (exact for integer stored values spanning at most 65,536 values,
else 65,536 even steps), and every window/level or invert change only rebuilds a look-up
table with at most 65,536 entries and gathers it (a few ms at 1024²). The window follows
the DICOM linear VOI function (PS3.3 C.11.2.1.2.1, the one pydicom's ``apply_windowing``
implements), so the file's own window reproduces the loader's display pixels.

Invert. MONOCHROME1 stores air bright; it is shown inverted (air dark) unless the user's
invert toggle flips it back: the table is reversed when ``invert != monochrome1``.

Presets. The file's window(s) first (Window Center/Width may hold several values), then
"Full range" (minimum..maximum, Pixel Padding excluded), then "Lung" and "Mediastinum".
Radiographs have no calibrated unit (no Hounsfield scale as in CT), so the last two are
percentile windows of the image's own values, taken in display orientation (air dark): lung
= 1st..65th percentile (the dark, air-filled fields), mediastinum = 35th..99.5th percentile
(the dense midline and bone).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "FULL_RANGE",
    "LUNG",
    "MEDIASTINUM",
    "Preset",
    "StoredIndex",
    "ValueStats",
    "Window",
    "default_window",
    "display_lut",
    "drag_window",
    "file_presets",
    "format_value",
    "full_range_window",
    "image_presets",
    "is_monochrome1",
    "next_window",
    "render",
    "value_stats",
]

FULL_RANGE = "Full range"
LUNG = "Lung"
MEDIASTINUM = "Mediastinum"

#: Percentiles (display orientation, air dark) of the lung and mediastinum windows.
LUNG_PERCENTILES = (1.0, 65.0)
MEDIASTINUM_PERCENTILES = (35.0, 99.5)
_STATS_PERCENTILES = (0.5, 1.0, 35.0, 65.0, 99.0, 99.5)
_MAX_INDEX = 65536


@dataclass(frozen=True, slots=True)
class Window:
    """A VOI window ``(center, width)`` in stored units (width ≥ the smallest step)."""

    center: float
    width: float

    @property
    def lo(self) -> float:
        """Lower bound ``center - width / 2``."""
        return self.center - self.width / 2.0

    @property
    def hi(self) -> float:
        """Upper bound ``center + width / 2``."""
        return self.center + self.width / 2.0

    @classmethod
    def from_bounds(cls, lo: float, hi: float) -> Window:
        """Window spanning ``[lo, hi]`` (swapped when given in the wrong order)."""
        lo, hi = (float(lo), float(hi)) if lo <= hi else (float(hi), float(lo))
        return cls((lo + hi) / 2.0, hi - lo)

    def to_display_levels(self, vmin: float, vmax: float) -> tuple[float, float]:
        """Bounds on a 0..255 scale spanning ``[vmin, vmax]`` (e.g. a 0..255 slider)."""
        span = (vmax - vmin) or 1.0
        return (self.lo - vmin) * 255.0 / span, (self.hi - vmin) * 255.0 / span

    @classmethod
    def from_display_levels(cls, lo: float, hi: float, vmin: float, vmax: float) -> Window:
        """Inverse of :meth:`to_display_levels`."""
        span = (vmax - vmin) or 1.0
        return cls.from_bounds(vmin + lo * span / 255.0, vmin + hi * span / 255.0)

    def label(self) -> str:
        """Return ``"W 4,095 / L 2,048"`` (Weasis and OHIF order)."""
        return f"W {format_value(self.width)} / L {format_value(self.center)}"


def format_value(value: float) -> str:
    """Format a stored value: ``"4,095"``, ``"2,044.5"``, ``"0.125"``."""
    if not math.isfinite(value):
        return str(value)
    if abs(value - round(value)) < 1e-6 and abs(value) < 1e12:
        return f"{round(value):,}"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    return f"{value:.4g}"


@dataclass(frozen=True, slots=True)
class Preset:
    """A named window."""

    name: str
    window: Window


@dataclass(frozen=True, slots=True)
class StoredIndex:
    """A stored image quantised to uint16: ``stored ≈ offset + index * step``.

    ``index`` is uint16 (H, W), C-contiguous; ``size`` is the number of stored-value table
    entries (``offset + arange(size) * step``); ``exact`` is True when every stored value is
    represented exactly. With padding, padding pixels point at one extra entry (index
    ``size``) that is always black, whatever the window or invert (as in the loader).
    """

    index: np.ndarray
    offset: float
    step: float
    size: int
    exact: bool
    padded: bool = False

    @classmethod
    def from_stored(cls, stored: np.ndarray, padding: np.ndarray | None = None) -> StoredIndex:
        """Quantise ``stored`` (any real dtype, (H, W)); non-finite values map to the minimum.

        Parameters
        ----------
        stored : np.ndarray
            Stored values (Modality LUT applied).
        padding : np.ndarray or None
            bool (H, W) Pixel Padding mask: left out of the range, shown black.

        Returns
        -------
        StoredIndex

        """
        values = np.asarray(stored)
        pad = padding is not None and padding.shape == values.shape and bool(padding.any())
        pad = pad and not bool(padding.all())
        if values.size == 0:
            return cls(np.zeros(values.shape, np.uint16), 0.0, 1.0, 1, True)
        inside = values[~padding] if pad else values
        vmin, vmax = float(inside.min()), float(inside.max())
        if not (math.isfinite(vmin) and math.isfinite(vmax)):  # NaN/inf somewhere (rare)
            finite = np.isfinite(values)
            fill = float(values[finite].min()) if finite.any() else 0.0
            values = np.where(finite, values, fill)
            inside = values[~padding] if pad else values
            vmin, vmax = float(inside.min()), float(inside.max())
        span = vmax - vmin
        limit = _MAX_INDEX - 1 if pad else _MAX_INDEX  # room for the padding entry
        integral = values.dtype.kind in "iub" or bool(
            np.array_equal(inside, np.rint(inside)) if span < limit else False
        )
        if integral and span < limit:
            size, step, exact = int(span) + 1, 1.0, True
        else:
            size, step, exact = (limit, span / (limit - 1), False) if span > 0 else (1, 1.0, True)
        scaled = (values.astype(np.float32, copy=False) - np.float32(vmin)) * np.float32(1 / step)
        if pad:
            np.clip(scaled, 0, size - 1, out=scaled)
        index = np.rint(scaled) if not exact else scaled
        index = np.ascontiguousarray(index.astype(np.uint16))
        if pad:
            index[padding] = size
        return cls(index, vmin, step, size, exact, pad)

    def values(self) -> np.ndarray:
        """Return the stored value of each table entry, float64 (size,)."""
        return self.offset + np.arange(self.size, dtype=np.float64) * self.step

    def lut(self, window: Window, *, invert: bool = False, values=None) -> np.ndarray:
        """Return the uint8 table for ``window`` (plus the black padding entry when padded).

        ``values`` may pass a cached :meth:`values` array.
        """
        lut = display_lut(self.values() if values is None else values, window, invert=invert)
        return np.append(lut, np.uint8(0)) if self.padded else lut


def display_lut(values: np.ndarray, window: Window, *, invert: bool = False) -> np.ndarray:
    """Map stored ``values`` through ``window`` onto 0..255 (the DICOM linear VOI function).

    Parameters
    ----------
    values : np.ndarray
        Stored values (any shape), e.g. :meth:`StoredIndex.values`.
    window : Window
        Center and width in stored units; widths below 1 behave as a step at the center.
    invert : bool
        Reverse the output (255 - y).

    Returns
    -------
    np.ndarray
        uint8, same shape as ``values``.

    """
    x = np.asarray(values, dtype=np.float64)
    c, w = float(window.center), float(window.width)
    if w > 1.0:
        y = ((x - (c - 0.5)) / (w - 1.0) + 0.5) * 255.0
        np.clip(y, 0.0, 255.0, out=y)
        out = np.rint(y).astype(np.uint8)
    else:
        out = np.where(x > c - 0.5, 255, 0).astype(np.uint8)
    return (255 - out) if invert else out


def render(index: StoredIndex, window: Window, *, invert: bool = False) -> np.ndarray:
    """Return the displayed uint8 (H, W): ``display_lut(index.values(), ...)[index.index]``."""
    return np.take(index.lut(window, invert=invert), index.index)


def is_monochrome1(metadata: Any) -> bool:
    """Return True when the metadata's photometric interpretation is MONOCHROME1 (air bright)."""
    value = getattr(metadata, "photometric", None) or ""
    return str(value).strip().upper() == "MONOCHROME1"


@dataclass(frozen=True, slots=True)
class ValueStats:
    """Minimum, maximum and a few percentiles of an image's stored values (padding excluded)."""

    vmin: float
    vmax: float
    percentiles: dict[float, float]


def value_stats(
    stored: np.ndarray, padding: np.ndarray | None = None, *, max_samples: int = 1 << 16
) -> ValueStats:
    """Range and percentiles of ``stored`` outside ``padding``.

    Parameters
    ----------
    stored : np.ndarray
        Stored values (H, W).
    padding : np.ndarray or None
        bool (H, W), True for Pixel Padding (excluded); ignored when it covers everything.
    max_samples : int
        Percentiles are taken on a regular sub-grid of about this many pixels (fast);
        the minimum and maximum use every pixel.

    Returns
    -------
    ValueStats

    """
    values = np.asarray(stored)
    if padding is not None and padding.shape == values.shape and not padding.all():
        values = values[~padding]
    flat = values.reshape(-1)
    empty = ValueStats(0.0, 0.0, dict.fromkeys(_STATS_PERCENTILES, 0.0))
    if flat.size == 0:
        return empty
    vmin, vmax = float(flat.min()), float(flat.max())
    if not (math.isfinite(vmin) and math.isfinite(vmax)):  # NaN/inf somewhere (rare)
        flat = flat[np.isfinite(flat)]
        if flat.size == 0:
            return empty
        vmin, vmax = float(flat.min()), float(flat.max())
    stride = max(1, flat.size // max_samples)
    q = np.percentile(flat[::stride], _STATS_PERCENTILES)
    return ValueStats(vmin, vmax, {p: float(v) for p, v in zip(_STATS_PERCENTILES, q, strict=True)})


def file_presets(centers: Sequence[float], widths: Sequence[float]) -> list[Preset]:
    """Return the file's own windows (Window Center/Width pairs; unusable widths dropped).

    Names: "File window" for one pair, "File window 1", "File window 2"... for several.
    """
    pairs = [
        (float(c), float(w))
        for c, w in zip(centers or (), widths or (), strict=False)
        if math.isfinite(float(c)) and math.isfinite(float(w)) and float(w) >= 1.0
    ]
    if len(pairs) == 1:
        return [Preset("File window", Window(*pairs[0]))]
    return [Preset(f"File window {i}", Window(c, w)) for i, (c, w) in enumerate(pairs, 1)]


def full_range_window(vmin: float, vmax: float) -> Window:
    """Return the window mapping ``vmin`` to black and ``vmax`` to white exactly.

    Under the DICOM linear function that is ``center = (vmin + vmax) / 2 + 0.5`` and
    ``width = vmax - vmin + 1`` (W 256 / L 128 for 0..255): plain min-max scaling, as the
    loader does for a file without a window.
    """
    return Window((vmin + vmax) / 2.0 + 0.5, max(1.0, vmax - vmin) + 1.0)


def _percentile_window(stats: ValueStats, lo_q: float, hi_q: float, mono1: bool) -> Window:
    """Window between display-orientation percentiles ``lo_q`` and ``hi_q`` (air dark)."""
    if mono1:  # high stored values are dark: display percentile q is stored 100 - q
        lo_q, hi_q = 100.0 - hi_q, 100.0 - lo_q
    p = stats.percentiles
    lo, hi = p[lo_q], p[hi_q]
    if hi - lo < 1.0:
        mid = (lo + hi) / 2.0
        lo, hi = mid - 0.5, mid + 0.5
    return Window.from_bounds(lo, hi)


def image_presets(metadata: Any, stats: ValueStats) -> list[Preset]:
    """All presets of one image, in menu order (see the module docstring).

    Parameters
    ----------
    metadata : XrayMetadata or any object
        ``window_centers`` / ``window_widths`` (tuples) and ``photometric`` are read when
        present (absent attributes mean no file window, MONOCHROME2).
    stats : ValueStats
        From :func:`value_stats` on the stored image.

    Returns
    -------
    list of Preset

    """
    presets = file_presets(
        getattr(metadata, "window_centers", None) or (),
        getattr(metadata, "window_widths", None) or (),
    )
    presets.append(Preset(FULL_RANGE, full_range_window(stats.vmin, stats.vmax)))
    mono1 = is_monochrome1(metadata)
    presets.append(Preset(LUNG, _percentile_window(stats, *LUNG_PERCENTILES, mono1)))
    presets.append(Preset(MEDIASTINUM, _percentile_window(stats, *MEDIASTINUM_PERCENTILES, mono1)))
    return presets


def default_window(presets: Sequence[Preset]) -> Window:
    """Return the window a new image opens with: the file's first window, else the full range."""
    for preset in presets:
        if preset.name.startswith("File window") or preset.name == FULL_RANGE:
            return preset.window
    return presets[0].window


def next_window(current: Window | None, *, locked: bool, presets: Sequence[Preset]) -> Window:
    """Window for a newly shown image: kept when ``locked`` (and set), else the default."""
    if locked and current is not None:
        return current
    return default_window(presets)


def drag_window(
    start: Window, dx: float, dy: float, span: float, *, gain: float = 0.75
) -> Window:
    """Window after a right-drag of ``(dx, dy)`` screen pixels from ``start``.

    Right widens the window, down lowers the level (brighter image); one pixel moves
    ``gain * span / 255`` stored units, so a drag feels the same at 8 and 16 bits.

    Parameters
    ----------
    start : Window
        Window when the drag began.
    dx, dy : float
        Screen displacement in pixels.
    span : float
        The image's stored value range (maximum - minimum); 255 for 8-bit.
    gain : float
        Stored units per pixel per 255 units of span.

    Returns
    -------
    Window

    """
    k = gain * max(float(span), 1.0) / 255.0
    width = max(1.0, start.width + dx * k)
    return Window(start.center - dy * k, width)
