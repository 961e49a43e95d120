"""Caches: decoded images (small LRU) and analysis results (maps quantised to uint8).

Memory choice: a probability map is kept **at the segmenter's output size** as ``uint8``
(``round(p * 255)``, error <= 1/510, below the slider's 0.01 step): 64 KiB for a 256² model
instead of 1 MiB at 1024². The viewer works on the full-resolution map, made on demand by
:func:`upsample_probability` (bilinear, as the engine resizes, then put back on the same
``k/255`` grid) and memoised for the image on screen only. The numbers this gives equal
those of the former full-resolution cache except where a pixel lies within one uint8 level
of a threshold (bound and measurement in ``tests/ui/test_map_resolution.py``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pneumoviewer.core.probability_map import (  # noqa: F401  (re-exported for the viewer)
    dequantise_probability,
    quantise_probability,
    upsample_probability,
)


class LRUCache:
    """Least-recently-used mapping bounded by item count and/or total bytes.

    Parameters
    ----------
    max_items : int or None
        Most entries kept.
    max_bytes : int or None
        Most bytes kept, measured with ``size_of``.
    size_of : callable
        ``value -> int`` bytes; defaults to ``nbytes`` of arrays (0 otherwise).

    """

    def __init__(
        self,
        *,
        max_items: int | None = None,
        max_bytes: int | None = None,
        size_of: Callable[[Any], int] | None = None,
    ) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._size_of = size_of or (lambda v: int(getattr(v, "nbytes", 0)))
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._sizes: dict[Hashable, int] = {}
        self.nbytes = 0

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Hashable, default: Any = None) -> Any:
        """Return the value for ``key`` (marking it recently used) or ``default``."""
        if key not in self._data:
            return default
        self._data.move_to_end(key)
        return self._data[key]

    def put(self, key: Hashable, value: Any) -> list[Hashable]:
        """Store ``value``; return the keys evicted to stay within bounds."""
        self.pop(key)
        size = self._size_of(value)
        self._data[key] = value
        self._sizes[key] = size
        self.nbytes += size
        evicted = []
        while len(self._data) > 1 and (
            (self.max_items is not None and len(self._data) > self.max_items)
            or (self.max_bytes is not None and self.nbytes > self.max_bytes)
        ):
            old, _ = self._data.popitem(last=False)
            self.nbytes -= self._sizes.pop(old)
            evicted.append(old)
        return evicted

    def pop(self, key: Hashable) -> Any:
        """Remove ``key`` and return its value (None when absent)."""
        if key not in self._data:
            return None
        self.nbytes -= self._sizes.pop(key)
        return self._data.pop(key)

    def clear(self) -> None:
        """Remove everything."""
        self._data.clear()
        self._sizes.clear()
        self.nbytes = 0

    def keys(self) -> list[Hashable]:
        """Return the keys, least recently used first."""
        return list(self._data)


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    """One image's model output as kept by the viewer.

    Attributes
    ----------
    image_id : str
        The image.
    class_probability : float or None
        Classifier probability of pneumothorax (None without a classifier).
    prob_u8 : np.ndarray or None
        uint8 (h, w) quantised segmentation probability at the segmenter's output size
        (None without a segmenter); :meth:`full_map` resamples it to ``image_shape``.
    device : str
        Device that ran the model.
    seconds : float
        Inference time.
    image_shape : tuple of int or None
        ``(H, W)`` of the image (None: the map is already at the image's size).
    score : float or None
        Triage score: the class probability, else the maximum of the full-resolution map.

    """

    image_id: str
    class_probability: float | None
    prob_u8: np.ndarray | None
    device: str = "cpu"
    seconds: float = 0.0
    image_shape: tuple[int, int] | None = None
    score: float | None = None

    def full_map(self) -> np.ndarray | None:
        """Return the float32 (H, W) map at the image's resolution (None without a map)."""
        if self.prob_u8 is None:
            return None
        shape = self.image_shape or self.prob_u8.shape
        return upsample_probability(self.prob_u8, shape)

    @property
    def nbytes(self) -> int:
        """Bytes held by the map."""
        return 0 if self.prob_u8 is None else int(self.prob_u8.nbytes)
