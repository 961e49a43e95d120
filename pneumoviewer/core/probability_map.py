"""The one representation of a segmentation probability map, shared by predict and the viewer.

A map is kept **at the segmenter's output size** as ``uint8`` (``round(p * 255)``, error
<= 1/510, below the slider's 0.01 step): 64 KiB for a 256² model. The full-resolution map
that post-processing thresholds is always made from that by :func:`upsample_probability`
(bilinear, then put back on the same ``k/255`` grid). The engine builds
``Prediction.probability_map`` the same way, so ``pneumoviewer predict`` and the viewer
threshold bit-identical maps and report identical areas and Dice.
"""

from __future__ import annotations

import numpy as np

from pneumoviewer.core.preprocessing import resize_probability

__all__ = ["dequantise_probability", "quantise_probability", "upsample_probability"]


def quantise_probability(prob: np.ndarray) -> np.ndarray:
    """Quantise a probability map to uint8.

    Parameters
    ----------
    prob : np.ndarray
        float (H, W) in [0, 1].

    Returns
    -------
    np.ndarray
        uint8 (H, W), ``round(clip(prob, 0, 1) * 255)``.

    """
    return np.rint(np.clip(prob, 0.0, 1.0) * 255.0).astype(np.uint8)


def dequantise_probability(prob_u8: np.ndarray) -> np.ndarray:
    """Return the float32 (H, W) map of a uint8 quantised one (``u8 / 255``)."""
    return prob_u8.astype(np.float32) * np.float32(1.0 / 255.0)


def upsample_probability(map_u8: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Full-resolution float32 map from a model-size uint8 one.

    ``dequantise(quantise(resize_probability(dequantise(map_u8), shape)))``: a bilinear
    resize of the stored map, clipped and put back on the ``k/255`` grid. Each value is
    within one uint8 level (1/255) of what the float full-resolution map would quantise to
    (bilinear weights are convex), and both predict and the viewer use this function, so
    their maps are bit-identical.

    Parameters
    ----------
    map_u8 : np.ndarray
        uint8 (h, w), the stored map at the model's output size.
    shape : tuple of int
        ``(H, W)`` of the image.

    Returns
    -------
    np.ndarray
        float32 (H, W), values ``k/255``, C-contiguous.

    """
    if map_u8.shape == tuple(shape):
        return dequantise_probability(map_u8)
    full = resize_probability(dequantise_probability(map_u8), shape)
    # quantise + dequantise in place: bit-identical to dequantise(quantise(full)) (the same
    # float32 operations) without four temporaries of 4 MB (page faults cost ~10 ms each
    # on a loaded machine)
    np.clip(full, 0.0, 1.0, out=full)
    np.multiply(full, np.float32(255.0), out=full)
    np.rint(full, out=full)
    np.multiply(full, np.float32(1.0 / 255.0), out=full)
    return full
