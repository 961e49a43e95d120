"""Augmentations applied consistently to an image and its mask (numpy/OpenCV, per sample)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, slots=True, kw_only=True)
class AugmentConfig:
    """Which augmentations to apply and how strongly.

    Attributes
    ----------
    hflip : float
        Probability of a horizontal flip.
    affine : float
        Probability of a small affine transform (rotation, scale, shift).
    rotate_deg, scale, shift : float
        Ranges of the affine transform: ±degrees, ±relative scale, ±fraction of the side.
    brightness, contrast : float
        ±additive brightness (fraction of 255) and ±relative contrast, each applied with
        probability ``intensity``.
    intensity : float
        Probability of the brightness/contrast change.
    """

    hflip: float = 0.5
    affine: float = 0.5
    rotate_deg: float = 10.0
    scale: float = 0.1
    shift: float = 0.0625
    brightness: float = 0.1
    contrast: float = 0.1
    intensity: float = 0.5

    @classmethod
    def none(cls) -> AugmentConfig:
        """No augmentation at all."""
        return cls(hflip=0.0, affine=0.0, intensity=0.0)


def augment_pair(
    image: np.ndarray,
    mask: np.ndarray | None,
    config: AugmentConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Augment an image and (optionally) its mask with the same geometry.

    Parameters
    ----------
    image : ndarray
        uint8 (H, W).
    mask : ndarray or None
        uint8 {0, 1} (H, W).
    config : AugmentConfig
        What to apply.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    (ndarray, ndarray or None)
        float32 (H, W) image on the 0-255 scale (clipped), and the uint8 mask (nearest).
    """
    img = image.astype(np.float32)
    h, w = image.shape
    if rng.random() < config.hflip:
        img = img[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    if rng.random() < config.affine:
        angle = rng.uniform(-config.rotate_deg, config.rotate_deg)
        scale = 1.0 + rng.uniform(-config.scale, config.scale)
        m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, scale)
        m[0, 2] += rng.uniform(-config.shift, config.shift) * w
        m[1, 2] += rng.uniform(-config.shift, config.shift) * h
        img = cv2.warpAffine(
            np.ascontiguousarray(img),
            m,
            (w, h),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        if mask is not None:
            mask = cv2.warpAffine(
                np.ascontiguousarray(mask),
                m,
                (w, h),
                flags=cv2.INTER_NEAREST,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0,
            )
    if rng.random() < config.intensity:
        c = 1.0 + rng.uniform(-config.contrast, config.contrast)
        b = rng.uniform(-config.brightness, config.brightness) * 255.0
        img = (img - 127.5) * c + 127.5 + b
        np.clip(img, 0.0, 255.0, out=img)
    img = np.ascontiguousarray(img, dtype=np.float32)
    if mask is not None:
        mask = np.ascontiguousarray(mask)
    return img, mask
