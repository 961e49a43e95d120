"""Colour a Grad-CAM heat-map (Qt- and torch-free): a layer's RGBA and a blended picture.

The map itself comes from :func:`pneumoviewer.core.inference.InferenceEngine.heatmap`
(float32 (H, W) in [0, 1]). Cold regions are transparent: alpha grows with the value, so
the image stays readable under the map.
"""

from __future__ import annotations

import numpy as np

__all__ = ["JET_LUT", "blend_heatmap", "heatmap_rgba", "write_heatmap_png"]


def _jet() -> np.ndarray:
    x = np.linspace(0.0, 1.0, 256)
    rgb = [np.clip(1.5 - np.abs(4.0 * x - c), 0.0, 1.0) for c in (3.0, 2.0, 1.0)]
    return np.round(np.stack(rgb, axis=1) * 255.0).astype(np.uint8)


#: uint8 (256, 3): the classic "jet" colour map (blue -> cyan -> yellow -> red).
JET_LUT = _jet()


def _check(cam: np.ndarray) -> np.ndarray:
    if not isinstance(cam, np.ndarray) or cam.ndim != 2:
        raise ValueError(f"heat-map must be a 2-D array, got {getattr(cam, 'shape', type(cam))}")
    return np.clip(np.nan_to_num(cam.astype(np.float32, copy=False)), 0.0, 1.0)


def heatmap_rgba(cam: np.ndarray, *, opacity: float = 0.5) -> np.ndarray:
    """Return the heat-map as a straight (not premultiplied) RGBA layer.

    Parameters
    ----------
    cam : numpy.ndarray
        float (H, W) in [0, 1].
    opacity : float
        Alpha of the hottest pixels, in [0, 1]; alpha is ``opacity * value``.

    Returns
    -------
    numpy.ndarray
        uint8 (H, W, 4).
    """
    v = _check(cam)
    idx = np.round(v * 255.0).astype(np.uint8)
    out = np.empty((*v.shape, 4), np.uint8)
    out[..., :3] = JET_LUT[idx]
    out[..., 3] = np.round(v * float(np.clip(opacity, 0.0, 1.0)) * 255.0).astype(np.uint8)
    return out


def blend_heatmap(base: np.ndarray, cam: np.ndarray, *, opacity: float = 0.5) -> np.ndarray:
    """Return the grey image with the heat-map blended over it.

    Parameters
    ----------
    base : numpy.ndarray
        uint8 (H, W) display image.
    cam : numpy.ndarray
        float (H, W) in [0, 1], same shape.
    opacity : float
        As for :func:`heatmap_rgba`.

    Returns
    -------
    numpy.ndarray
        uint8 (H, W, 3).
    """
    if base.shape != cam.shape or base.dtype != np.uint8:
        raise ValueError(f"base {base.dtype} {base.shape} and heat-map {cam.shape} must match")
    layer = heatmap_rgba(cam, opacity=opacity)
    alpha = layer[..., 3:4].astype(np.float32) / 255.0
    grey = np.repeat(base[..., None], 3, axis=2).astype(np.float32)
    out = grey * (1.0 - alpha) + layer[..., :3].astype(np.float32) * alpha
    return np.round(out).astype(np.uint8)


def write_heatmap_png(
    path, base: np.ndarray, cam: np.ndarray, *, opacity: float = 0.5, overwrite: bool = False
):
    """Write the blended heat-map (:func:`blend_heatmap`) as an RGB PNG, atomically.

    Parameters
    ----------
    path : path-like
        The PNG to write.
    base, cam, opacity
        As for :func:`blend_heatmap`.
    overwrite : bool
        Replace an existing file (``FileExistsError`` otherwise).

    Returns
    -------
    pathlib.Path
    """
    import io

    from PIL import Image

    from pneumoviewer.core.io import atomic_write_bytes

    buf = io.BytesIO()
    Image.fromarray(blend_heatmap(base, cam, opacity=opacity), "RGB").save(
        buf, format="PNG", compress_level=1
    )
    return atomic_write_bytes(path, buf.getvalue(), overwrite=overwrite)
