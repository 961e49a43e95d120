"""Pixel rules of the input-quality gate (see :mod:`pneumoviewer.core.quality`).

Run once an image is loaded (~10-20 ms at 1024²). Thresholds are module constants, each
with the measurement behind it; the two orientation heuristics assume a frontal chest film
and were checked on the ten bundled SIIM samples only (see the constants).
"""

from __future__ import annotations

import numpy as np

from pneumoviewer.core.quality_header import _size_reasons
from pneumoviewer.core.quality_types import Quality, QualityResult, Reason, _refuse, _warn

__all__ = ["check_pixels", "orientation_scores"]


#: Standard deviation (grey levels of 255) below which an image is blank.
BLANK_STD = 2.0
#: Fewer distinct grey levels than this in the image: refused (SIIM samples: 236-256).
MIN_GREY_LEVELS = 32
#: 1st-99th percentile span (of 255) below this: warn, very low contrast.
MIN_CONTRAST = 24
#: More than this fraction padding (or one single flat value): refused (SIIM max 0.34).
MAX_PADDING_FRACTION = 0.5
#: Correlation of horizontally neighbouring pixels below this: noise (SIIM >= 0.99,
#: uniform noise ~ 0).
MIN_NEIGHBOUR_CORRELATION = 0.9
#: Top-bottom minus left-right mirror correlation (64² thumbnail). Upright SIIM samples:
#: -1.14 to -0.10; the same turned 90°: +0.10 to +1.14. Above 0 warn, above 0.2 refused.
ROTATED_WARN, ROTATED_REFUSE = 0.0, 0.2
#: Mediastinum minus lung brightness / std (64² thumbnail, middle rows). Upright SIIM
#: samples 0.29 to 2.15; inverted copies the negatives. Below 0 warn, below -0.5 refused.
INVERTED_WARN, INVERTED_REFUSE = 0.0, -0.5


def grey_histogram(pixels: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Return the 256-bin histogram of a uint8 image, counting only ``keep`` pixels.

    Equal to ``np.bincount(pixels[keep], minlength=256)`` (tests/core/test_quality.py),
    3-15x faster: OpenCV's ``calcHist`` counts uint8 directly (``np.bincount`` first widens
    every pixel to int64, and ``pixels[keep]`` copies). Its float32 counts are exact below
    2**24 pixels; larger images take the numpy path.

    Parameters
    ----------
    pixels : numpy.ndarray
        uint8 (H, W).
    keep : numpy.ndarray or None
        bool (H, W); None counts every pixel.

    Returns
    -------
    numpy.ndarray
        int64 (256,).
    """
    if pixels.size >= 2**24:
        return np.bincount(pixels.ravel() if keep is None else pixels[keep], minlength=256)
    import cv2

    mask = None if keep is None else np.ascontiguousarray(keep).view(np.uint8)
    hist = cv2.calcHist([np.ascontiguousarray(pixels)], [0], mask, [256], [0, 256])
    return hist.ravel().astype(np.int64)


def _thumbnail(pixels: np.ndarray, size: int = 64) -> np.ndarray:
    import cv2

    return cv2.resize(pixels, (size, size), interpolation=cv2.INTER_AREA).astype(np.float64)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 1.0


def orientation_scores(pixels: np.ndarray) -> tuple[float, float]:
    """Return the two orientation heuristics' raw scores for a uint8 display image.

    Returns
    -------
    rotated : float
        Top-bottom mirror correlation minus left-right mirror correlation of a 64²
        thumbnail: negative for an upright frontal chest (left-right symmetric).
    inverted : float
        Mean of the middle column band (mediastinum, spine) minus the two lung bands, in
        the middle rows, divided by the thumbnail's std: positive when the mediastinum is
        brighter than the lungs (air dark).
    """
    s = _thumbnail(pixels)
    rotated = _corr(s, s[::-1, :]) - _corr(s, s[:, ::-1])
    rows = s[19:45]
    lungs = np.concatenate([rows[:, 13:22].ravel(), rows[:, 42:51].ravel()]).mean()
    inverted = float((rows[:, 29:35].mean() - lungs) / (s.std() + 1e-9))
    return float(rotated), inverted


def check_pixels(pixels: np.ndarray, *, padding: np.ndarray | None = None) -> QualityResult:
    """Pixel rules, run once an image is loaded (~10-20 ms at 1024²).

    Parameters
    ----------
    pixels : numpy.ndarray
        uint8 (H, W) display image, air dark (``XrayImage.pixels``).
    padding : numpy.ndarray or None
        bool (H, W), True on Pixel Padding Value pixels (``XrayImage.padding``).

    Returns
    -------
    QualityResult
        Refused: too small, blank, fewer than :data:`MIN_GREY_LEVELS` grey levels, more
        than half padding (or one flat value), noise. Warn/refused by margin: looks rotated
        by 90° or inverted (heuristics for frontal chest films). Warn: very low contrast.
    """
    if not isinstance(pixels, np.ndarray) or pixels.ndim != 2 or pixels.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (H, W) image, got {getattr(pixels, 'dtype', '?')}")
    h, w = pixels.shape
    size = _size_reasons(h, w)
    if size:
        return QualityResult.of(size)
    pad_fraction = 0.0
    keep = None
    if padding is not None and padding.shape == pixels.shape:
        pad_fraction = float(padding.mean())
        if pad_fraction < 1.0:
            keep = ~padding
    hist = grey_histogram(pixels, keep)
    reasons: list[Reason] = []
    n = hist.sum()
    cdf = np.cumsum(hist) / max(n, 1)
    lo, hi = int(np.searchsorted(cdf, 0.01)), int(np.searchsorted(cdf, 0.99))
    mean = (hist * np.arange(256)).sum() / max(n, 1)
    std = float(np.sqrt((hist * (np.arange(256) - mean) ** 2).sum() / max(n, 1)))
    if pad_fraction > MAX_PADDING_FRACTION:
        reasons.append(_refuse("padding", f"mostly padding ({pad_fraction:.0%} of the image)"))
    elif hist.max() / max(n, 1) > MAX_PADDING_FRACTION and std >= BLANK_STD:
        share = hist.max() / n
        reasons.append(
            _refuse("padding", f"mostly blank: {share:.0%} of the image is one flat grey value")
        )
    if std < BLANK_STD:
        return QualityResult.of([_refuse("blank", "the image is blank (near-constant grey)")])
    levels = int((hist > 0).sum())
    if levels < MIN_GREY_LEVELS:
        reasons.append(
            _refuse("dynamic-range", f"very low dynamic range: only {levels} grey levels")
        )
    elif hi - lo < MIN_CONTRAST:
        reasons.append(
            _warn("contrast", f"very low contrast: most pixels span {hi - lo} of 255 grey levels")
        )
    x = pixels[::4].astype(np.float32)
    r = _corr(x[:, 1:].ravel(), x[:, :-1].ravel())
    if r < MIN_NEIGHBOUR_CORRELATION:
        reasons.append(
            _refuse(
                "noise", f"looks like noise, not anatomy (neighbouring pixels correlate {r:.2f})"
            )
        )
    if any(r.level is Quality.REFUSED for r in reasons):
        return QualityResult.of(reasons)  # the orientation heuristics need an image
    rotated, inverted = orientation_scores(pixels)
    if rotated > ROTATED_WARN:
        level = Quality.REFUSED if rotated > ROTATED_REFUSE else Quality.WARN
        reasons.append(
            Reason(
                level,
                "rotated",
                "looks rotated by 90 degrees (its left-right symmetry runs top to bottom)",
            )
        )
    elif inverted < INVERTED_WARN:
        level = Quality.REFUSED if inverted < INVERTED_REFUSE else Quality.WARN
        reasons.append(
            Reason(
                level,
                "inverted",
                "looks inverted: the mediastinum is darker than the lungs "
                "(wrong Photometric Interpretation?)",
            )
        )
    return QualityResult.of(reasons)
