"""Synthetic data for training tests: dark noisy images with bright shapes and their masks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def shape_image(
    rng: np.random.Generator, size: int, positive: bool
) -> tuple[np.ndarray, np.ndarray]:
    """A uint8 (size, size) image and its bool mask: a bright ellipse when positive."""
    img = rng.normal(70, 12, (size, size))
    mask = np.zeros((size, size), np.uint8)
    if positive:
        c = (
            int(rng.integers(size // 4, 3 * size // 4)),
            int(rng.integers(size // 4, 3 * size // 4)),
        )
        axes = (int(rng.integers(size // 10, size // 5)), int(rng.integers(size // 10, size // 5)))
        cv2.ellipse(mask, c, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        img = img + 110 * mask
    return np.clip(img, 0, 255).astype(np.uint8), mask.astype(bool)


def make_png_dataset(root: Path, n: int, *, size: int = 64, seed: int = 0) -> Path:
    """Write ``root/png_images`` and ``root/png_masks`` (0/255) with ``n`` images, half positive."""
    rng = np.random.default_rng(seed)
    (root / "png_images").mkdir(parents=True, exist_ok=True)
    (root / "png_masks").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img, mask = shape_image(rng, size, positive=i % 2 == 0)
        cv2.imwrite(str(root / "png_images" / f"img{i:03d}.png"), img)
        cv2.imwrite(str(root / "png_masks" / f"img{i:03d}.png"), mask.astype(np.uint8) * 255)
    return root
