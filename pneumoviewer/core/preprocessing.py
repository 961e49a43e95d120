"""Image preprocessing shared by display, training and inference.

One implementation of CLAHE (OpenCV ``createCLAHE``) and of the resize/normalise step
that turns a display image into a model input. The viewer, the CLI and
:mod:`model_training` all call these functions, so a model sees at inference exactly
the contrast it was trained with (the parameters travel in the model manifest through
:meth:`ClaheParams.to_dict` / :meth:`ClaheParams.from_dict`).

Padding (DICOM Pixel Padding Value pixels, ``XrayImage.padding``) is left out of CLAHE:
before the equalisation each padding pixel takes the value of the nearest image pixel
(so the tiles along a padded border see image content, not a block of one grey level),
and afterwards padding pixels are 0 again. In the display and in the model input padding
is 0, black, like the black border of a collimated film.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

__all__ = [
    "ClaheParams",
    "clahe",
    "fill_padding",
    "normalise",
    "resize_image",
    "resize_probability",
    "to_model_input",
]


@dataclass(frozen=True, slots=True)
class ClaheParams:
    """Parameters of contrast-limited adaptive histogram equalisation.

    Parameters
    ----------
    clip_limit : float
        OpenCV clip limit (contrast limit per tile, relative to a flat histogram); > 0.
    tile_grid : tuple of int
        Number of tiles as ``(columns, rows)``, as OpenCV's ``tileGridSize``; each >= 1.

    """

    clip_limit: float = 2.0
    tile_grid: tuple[int, int] = (8, 8)

    def __post_init__(self) -> None:
        try:
            clip = float(self.clip_limit)
            grid = tuple(self.tile_grid)
            grid_ok = len(grid) == 2 and all(
                not isinstance(g, bool) and int(g) == g and int(g) >= 1 for g in grid
            )
        except (TypeError, ValueError):
            clip, grid, grid_ok = math.nan, (), False
        if not math.isfinite(clip) or clip <= 0:
            raise ValueError(
                f"CLAHE clip_limit must be a finite number > 0, got {self.clip_limit!r}"
            )
        if not grid_ok:
            raise ValueError(f"CLAHE tile_grid must be two integers >= 1, got {self.tile_grid!r}")
        # Normalise types so equal parameters hash equal (JSON gives lists and ints).
        object.__setattr__(self, "clip_limit", clip)
        object.__setattr__(self, "tile_grid", (int(grid[0]), int(grid[1])))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (``{"clip_limit": float, "tile_grid": [int, int]}``)."""
        return {"clip_limit": self.clip_limit, "tile_grid": list(self.tile_grid)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ClaheParams:
        """Build parameters from :meth:`to_dict` output; missing keys take the defaults.

        Raises
        ------
        ValueError
            If a key is unknown or a value is invalid.

        """
        unknown = set(d) - {"clip_limit", "tile_grid"}
        if unknown:
            raise ValueError(f"unknown CLAHE parameter(s): {sorted(unknown)}")
        kwargs: dict[str, Any] = {}
        if "clip_limit" in d:
            kwargs["clip_limit"] = d["clip_limit"]
        if "tile_grid" in d:
            grid = d["tile_grid"]
            if not isinstance(grid, (list, tuple)):
                raise ValueError(f"CLAHE tile_grid must be a list of two integers, got {grid!r}")
            kwargs["tile_grid"] = tuple(grid)
        return cls(**kwargs)


def _clahe_object(params: ClaheParams) -> cv2.CLAHE:
    # A new object per call: cv2.CLAHE objects hold internal buffers and are not
    # documented as thread-safe, and creating one costs < 1 us against ~3-8 ms for
    # applying it at 1024^2 (benchmarks/bench_postprocess.py measured no gain from
    # caching), so a cache would add shared state for nothing.
    return cv2.createCLAHE(clipLimit=params.clip_limit, tileGridSize=params.tile_grid)


def _check_gray_uint8(image: np.ndarray, what: str = "image") -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{what} must be a numpy array, got {type(image).__name__}")
    if image.ndim != 2:
        raise ValueError(f"{what} must be 2-D (H, W) grayscale, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"{what} must be uint8, got {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{what} is empty (shape {image.shape})")
    return image


def _as_shape(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        shape = (int(size), int(size))
    else:
        shape = tuple(int(s) for s in size)  # type: ignore[assignment]
    if len(shape) != 2 or shape[0] < 1 or shape[1] < 1:
        raise ValueError(f"size must be a positive int or (height, width), got {size!r}")
    return shape


def _check_normalisation(mean: float, std: float, channels: int) -> None:
    if not (isinstance(channels, (int, np.integer)) and channels >= 1):
        raise ValueError(f"channels must be an integer >= 1, got {channels!r}")
    if not (math.isfinite(std) and std > 0):
        raise ValueError(f"std must be a finite number > 0, got {std!r}")
    if not math.isfinite(mean):
        raise ValueError(f"mean must be finite, got {mean!r}")


def _check_padding(padding: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """Return the padding mask as bool of ``shape``; None when absent or empty."""
    if padding is None:
        return None
    if not isinstance(padding, np.ndarray) or padding.shape != shape:
        raise ValueError(
            f"padding must be a bool array of the image's shape {shape}, "
            f"got {getattr(padding, 'shape', type(padding))}"
        )
    padding = padding.astype(bool, copy=False)
    return padding if padding.any() else None


def fill_padding(image: np.ndarray, padding: np.ndarray) -> np.ndarray:
    """Give each padding pixel the value of the nearest non-padding pixel.

    Parameters
    ----------
    image : numpy.ndarray
        uint8, shape (H, W).
    padding : numpy.ndarray
        bool, shape (H, W); True on padding pixels.

    Returns
    -------
    numpy.ndarray
        uint8 (H, W), a new array; equal to ``image`` outside the padding. All zeros when
        every pixel is padding. (Euclidean nearest pixel, OpenCV's distance transform:
        ~40-80 ms at 1024x1024, only paid by images that have padding.)

    """
    _check_gray_uint8(image)
    mask = _check_padding(padding, image.shape)
    if mask is None:
        return image.copy()
    if mask.all():
        return np.zeros_like(image)
    _, labels = cv2.distanceTransformWithLabels(
        mask.view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5, labelType=cv2.DIST_LABEL_PIXEL
    )
    # Labels number the zero (non-padding) pixels in raster order, from 1.
    return np.ascontiguousarray(image[~mask][labels - 1])


def clahe(
    image: np.ndarray,
    params: ClaheParams = ClaheParams(),  # noqa: B008
    *,
    padding: np.ndarray | None = None,
) -> np.ndarray:
    """Apply CLAHE to a grayscale image, leaving padding out.

    Parameters
    ----------
    image : numpy.ndarray
        uint8, shape (H, W).
    params : ClaheParams
        Clip limit and tile grid.
    padding : numpy.ndarray or None
        bool (H, W), True on padding pixels (``XrayImage.padding``): they do not take
        part in the equalisation (see :func:`fill_padding`) and are 0 in the result.

    Returns
    -------
    numpy.ndarray
        uint8, shape (H, W), a new C-contiguous array. Deterministic.

    Raises
    ------
    ValueError
        If ``image`` is not a 2-D uint8 array or ``padding`` does not match it.

    """
    _check_gray_uint8(image)
    mask = _check_padding(padding, image.shape)
    if mask is None:
        return _clahe_object(params).apply(np.ascontiguousarray(image))
    out = _clahe_object(params).apply(fill_padding(image, mask))
    out[mask] = 0
    return out


def resize_image(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize a grayscale image: ``INTER_AREA`` when shrinking, bilinear when enlarging.

    Parameters
    ----------
    image : numpy.ndarray
        uint8, shape (H, W).
    size : int or tuple of int
        Output side length, or ``(height, width)``.

    Returns
    -------
    numpy.ndarray
        uint8, shape ``(height, width)``, C-contiguous. The input itself is returned
        (not copied) when it already has that shape.

    """
    _check_gray_uint8(image)
    h, w = _as_shape(size)
    if image.shape == (h, w):
        return np.ascontiguousarray(image)
    shrinking = h <= image.shape[0] and w <= image.shape[1]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (w, h), interpolation=interp)


def to_model_input(
    image: np.ndarray,
    *,
    size: int,
    clahe_params: ClaheParams | None,
    mean: float,
    std: float,
    channels: int,
    padding: np.ndarray | None = None,
) -> np.ndarray:
    """Turn a display image into a network input.

    CLAHE (when ``clahe_params`` is not None, padding left out) on the full-resolution
    image, padding pixels set to 0, then resize to ``(size, size)`` (``INTER_AREA`` when
    shrinking), scale to [0, 1], normalise as ``(x - mean) / std`` and replicate to
    ``channels``.

    Parameters
    ----------
    image : numpy.ndarray
        uint8, shape (H, W).
    size : int
        Side of the square network input.
    clahe_params : ClaheParams or None
        None skips CLAHE.
    mean, std : float
        Normalisation on the [0, 1] scale; ``std`` > 0.
    channels : int
        Number of (identical) channels, >= 1.
    padding : numpy.ndarray or None
        bool (H, W) padding pixels (``XrayImage.padding``): 0 (black) in the input,
        as in the display, and left out of CLAHE.

    Returns
    -------
    numpy.ndarray
        float32, shape (channels, size, size), C-contiguous.

    """
    _check_gray_uint8(image)
    _check_normalisation(mean, std, channels)  # before the (costly) CLAHE
    mask = _check_padding(padding, image.shape)
    if clahe_params is not None:
        image = clahe(image, clahe_params, padding=mask)
    elif mask is not None:
        image = image.copy()
        image[mask] = 0
    small = resize_image(image, int(size))
    return normalise(small, mean=mean, std=std, channels=channels)


def normalise(plane: np.ndarray, *, mean: float, std: float, channels: int) -> np.ndarray:
    """Normalise a 0-255 plane into a network input (the last step of :func:`to_model_input`).

    Exposed so training code that augments the resized plane (flips, brightness...)
    finishes with the very same arithmetic: ``(plane / 255 - mean) / std`` computed as one
    fused float32 multiply-add, replicated to ``channels``.

    Parameters
    ----------
    plane : numpy.ndarray
        uint8 or float, shape (H, W), values on the 0-255 scale.
    mean, std : float
        Normalisation on the [0, 1] scale; ``std`` > 0.
    channels : int
        Number of (identical) channels, >= 1.

    Returns
    -------
    numpy.ndarray
        float32, shape (channels, H, W), C-contiguous, a new array.

    """
    if not isinstance(plane, np.ndarray) or plane.ndim != 2:
        raise ValueError(f"plane must be a 2-D array, got {getattr(plane, 'shape', type(plane))}")
    _check_normalisation(mean, std, channels)
    # (x / 255 - mean) / std == x * a + b, in float32.
    a = np.float32(1.0 / (255.0 * std))
    b = np.float32(-mean / std)
    p = plane.astype(np.float32, copy=True)
    p *= a
    p += b
    out = np.empty((int(channels), *p.shape), dtype=np.float32)
    out[:] = p
    return out


def resize_probability(prob: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a probability map back to an image's resolution (bilinear).

    Parameters
    ----------
    prob : numpy.ndarray
        float, shape (h, w), values in [0, 1].
    shape : tuple of int
        Target ``(H, W)``.

    Returns
    -------
    numpy.ndarray
        float32, shape (H, W), C-contiguous. Bilinear interpolation keeps values within
        the input's range.

    """
    if not isinstance(prob, np.ndarray) or prob.ndim != 2:
        raise ValueError(
            f"probability map must be a 2-D array, got {getattr(prob, 'shape', type(prob))}"
        )
    if not np.issubdtype(prob.dtype, np.floating):
        raise ValueError(f"probability map must be floating point, got {prob.dtype}")
    h, w = _as_shape(shape)
    src = np.ascontiguousarray(prob, dtype=np.float32)
    if src.shape == (h, w):
        return src.copy() if src is prob else src
    return cv2.resize(src, (w, h), interpolation=cv2.INTER_LINEAR)
