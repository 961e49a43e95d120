"""What the canvas draws from: a quantised stored image, its default window, and a cache.

Qt-free. A :class:`DisplaySource` is one displayable array (the stored image, or a 0..255
display image such as the CLAHE version) with its uint16 index, default window, MONOCHROME1
flag and value span; :class:`PreparedCache` keeps the index and statistics of the last few
stored arrays so that switching back to a cached image does not quantise it again.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Any

import numpy as np

from pneumoviewer.ui.windowing import StoredIndex, ValueStats, Window, value_stats

#: Default window of display-unit images (CLAHE, plain uint8): identity on 0..255.
DISPLAY_WINDOW = Window(128.0, 256.0)


class DisplaySource:
    """One displayable array: its index, default window, MONOCHROME1 flag and value span."""

    __slots__ = ("default", "index", "mono1", "span", "values")

    def __init__(self, index: StoredIndex, default: Window, mono1: bool, span: float) -> None:
        self.index, self.default, self.mono1, self.span = index, default, mono1, span
        self.values = index.values()

    @classmethod
    def of_display(cls, pixels: np.ndarray) -> DisplaySource:
        """Wrap a uint8 (H, W) display image (0..255 units, air dark, identity window)."""
        index = StoredIndex(np.ascontiguousarray(pixels, dtype=np.uint16), 0.0, 1.0, 256, True)
        return cls(index, DISPLAY_WINDOW, False, 255.0)

    def render(self, window: Window, *, invert: bool) -> np.ndarray:
        """Return the uint8 (H, W) image for ``window`` (MONOCHROME1 shown air-dark)."""
        lut = self.index.lut(window, invert=invert != self.mono1, values=self.values)
        return np.take(lut, self.index.index)  # 3-5x faster than lut[index] at 1024²


class PreparedCache:
    """Index and statistics of the last ``size`` stored arrays (8 x 2 MB at 1024²).

    Keyed by the array's identity and checked through a weak reference, so a recycled id
    never returns another image's index.
    """

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._items: OrderedDict[int, tuple[Any, StoredIndex, ValueStats]] = OrderedDict()

    def get(
        self, stored: np.ndarray, padding: np.ndarray | None
    ) -> tuple[StoredIndex, ValueStats]:
        """Return ``(index, stats)`` of ``stored``, computing them on a miss."""
        key = id(stored)
        hit = self._items.get(key)
        if hit is not None and hit[0]() is stored:
            self._items.move_to_end(key)
            return hit[1], hit[2]
        entry = (
            weakref.ref(stored),
            StoredIndex.from_stored(stored, padding),
            value_stats(stored, padding),
        )
        self._items[key] = entry
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return entry[1], entry[2]
