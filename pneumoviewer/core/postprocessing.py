"""Probability map -> binary mask: the SIIM triplet (default) or components, then the gate.

Two schemes, chosen by :attr:`PostprocessParams.scheme`:

``"triplet"`` (default; the SIIM-ACR 1st-place post-processing)
    Count the pixels with ``probability >= top_threshold``. If fewer than ``min_area``,
    the mask is empty; otherwise the mask is every pixel with ``probability >=
    bottom_threshold``. A confident 9 px blob next to a faint 100 px blob gives an empty
    mask with (top 0.75, min area 20, bottom 0.4).
``"components"``
    ``probability >= bottom_threshold``, then 8-connected components with fewer than
    ``min_area`` pixels are removed (``top_threshold`` is not used).

Then the classification gate: when it is enabled and the classifier's probability ``p`` is
known, the mask is emptied when ``p < gate`` -- the gate threshold is the decision threshold
unless another one is set, so the mask of an image called negative is empty by default.

Runs in the GUI thread on every slider move (on the cached probability map), so it is
written for speed: the triplet is two comparisons and a count; the component pass uses a
zero-copy uint8 view of the boolean mask for OpenCV and is skipped when ``min_area <= 1``.
Measured on a 1024 x 1024 float32 map: see ``benchmarks/bench_postprocess.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np

__all__ = [
    "SCHEMES",
    "PostprocessParams",
    "effective_gate",
    "postprocess",
    "remove_small_components",
]

#: The post-processing schemes, the default first.
SCHEMES: tuple[str, ...] = ("triplet", "components")

Scheme = Literal["triplet", "components"]


def _unit(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    return v


@dataclass(frozen=True, slots=True, init=False)
class PostprocessParams:
    """How a probability map becomes a mask (keyword-only).

    Parameters
    ----------
    scheme : {"triplet", "components"}
        The SIIM triplet (default) or threshold + small-component removal.
    bottom_threshold : float
        A pixel can be in the mask when ``probability >= bottom_threshold`` (both schemes).
    top_threshold : float
        Triplet only: the confident pixels counted against ``min_area``.
    min_area : int
        Triplet: fewer than ``min_area`` pixels ``>= top_threshold`` empty the mask.
        Components: 8-connected components with fewer pixels are removed. 0 keeps all.
    gate_enabled : bool
        Whether the classification gate applies (default True).
    gate_threshold : float or None
        With the gate enabled, the mask is emptied when the classifier's probability is
        ``< gate_threshold``; None (default) means the decision threshold.
    mask_threshold : float, optional
        Deprecated alias of ``bottom_threshold`` (read back as a property too).

    """

    scheme: Scheme
    bottom_threshold: float
    top_threshold: float
    min_area: int
    gate_enabled: bool
    gate_threshold: float | None

    def __init__(
        self,
        *,
        scheme: Scheme = "triplet",
        bottom_threshold: float | None = None,
        top_threshold: float = 0.75,
        min_area: int = 0,
        gate_enabled: bool = True,
        gate_threshold: float | None = None,
        mask_threshold: float | None = None,
    ) -> None:
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
        if bottom_threshold is None:
            bottom_threshold = 0.5 if mask_threshold is None else mask_threshold
        elif mask_threshold is not None and mask_threshold != bottom_threshold:
            raise ValueError("give bottom_threshold or its old name mask_threshold, not both")
        if isinstance(min_area, bool) or int(min_area) != min_area or min_area < 0:
            raise ValueError(f"min_area must be an integer >= 0, got {min_area!r}")
        s = object.__setattr__
        s(self, "scheme", scheme)
        s(self, "bottom_threshold", _unit("bottom_threshold", bottom_threshold))
        s(self, "top_threshold", _unit("top_threshold", top_threshold))
        s(self, "min_area", int(min_area))
        s(self, "gate_enabled", bool(gate_enabled))
        s(
            self,
            "gate_threshold",
            None if gate_threshold is None else _unit("gate_threshold", gate_threshold),
        )

    @property
    def mask_threshold(self) -> float:
        """Old name of :attr:`bottom_threshold`."""
        return self.bottom_threshold

    def to_dict(self, *, decision_threshold: float | None = None) -> dict[str, Any]:
        """JSON-ready numbers (the gate threshold resolved when ``decision_threshold`` is given).

        Keys: ``scheme``, ``bottom_threshold``, ``top_threshold`` (triplet only),
        ``min_area``, ``gate_enabled``, ``gate_threshold``.
        """
        d: dict[str, Any] = {"scheme": self.scheme, "bottom_threshold": self.bottom_threshold}
        if self.scheme == "triplet":
            d["top_threshold"] = self.top_threshold
        d["min_area"] = self.min_area
        d["gate_enabled"] = self.gate_enabled
        gate = self.gate_threshold
        if gate is None and decision_threshold is not None:
            gate = float(decision_threshold)
        d["gate_threshold"] = gate
        return d

    def describe(self, *, decision_threshold: float | None = None) -> str:
        """One plain-ASCII line saying exactly what runs, e.g. for exports and logs.

        ``"triplet: top 0.75, min area 2000 px, bottom 0.40; gate at 0.50"``.
        """
        if self.scheme == "triplet":
            text = (
                f"triplet: top {self.top_threshold:.2f}, min area {self.min_area} px, "
                f"bottom {self.bottom_threshold:.2f}"
            )
        else:
            text = f"components: threshold {self.bottom_threshold:.2f}, min area {self.min_area} px"
        if not self.gate_enabled:
            return text + "; gate off"
        gate = self.gate_threshold
        if gate is None:
            if decision_threshold is None:
                return text + "; gate at the decision threshold"
            gate = decision_threshold
        return text + f"; gate at {gate:.2f}"


def effective_gate(params: PostprocessParams, decision_threshold: float) -> float | None:
    """Return the gate threshold in use: None when off, else the set one or the decision's."""
    if not params.gate_enabled:
        return None
    return float(decision_threshold if params.gate_threshold is None else params.gate_threshold)


def _check_mask(mask: np.ndarray) -> None:
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        raise ValueError(f"mask must be a 2-D array, got {getattr(mask, 'shape', type(mask))}")


def remove_small_components(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Remove 8-connected components smaller than ``min_area`` pixels.

    Parameters
    ----------
    mask : numpy.ndarray
        bool (or 0/1 integer), shape (H, W).
    min_area : int
        Components with ``area < min_area`` are removed; ``min_area <= 1`` keeps all.

    Returns
    -------
    numpy.ndarray
        bool, shape (H, W). A new array, except that a bool input is returned as is
        when nothing needs removing.

    """
    _check_mask(mask)
    if mask.dtype != np.bool_:
        mask = mask != 0
    if min_area <= 1:
        return mask
    # A C-contiguous bool array is already 0/1 bytes: view it, don't copy it.
    src = np.ascontiguousarray(mask).view(np.uint8)
    # Labels only, then areas by bincount over the foreground pixels' labels, reused for
    # the result: on a 1024^2 map connectedComponentsWithStats costs 4-10 ms (bounding
    # boxes, centroids), a full-image label look-up ~1-2 ms more; this is ~1.5 ms in all.
    n, labels = cv2.connectedComponents(src, connectivity=8, ltype=cv2.CV_32S)
    if n <= 1:
        return mask
    fg = labels[mask]
    keep = np.bincount(fg, minlength=n) >= min_area
    keep[0] = False  # background
    if keep[1:].all():
        return mask
    out = np.zeros(mask.shape, dtype=bool)
    if keep.any():
        out[mask] = keep[fg]
    return out


def postprocess(
    prob_map: np.ndarray,
    params: PostprocessParams,
    *,
    class_probability: float | None = None,
    decision_threshold: float = 0.5,
) -> np.ndarray:
    """Turn a probability map into the displayed / exported / submitted mask.

    Parameters
    ----------
    prob_map : numpy.ndarray
        float (float32 preferred), shape (H, W), values in [0, 1]. NaN never passes.
    params : PostprocessParams
        Scheme, thresholds, minimum area and gate.
    class_probability : float or None
        The classifier's probability for the image; the gate only acts when it is given.
    decision_threshold : float
        The classifier's decision threshold: the gate's threshold when
        ``params.gate_threshold`` is None.

    Returns
    -------
    numpy.ndarray
        bool, shape (H, W), a new array (see the module docstring for the two schemes);
        all False when the gate is enabled and ``class_probability`` is below it.

    """
    if not isinstance(prob_map, np.ndarray) or prob_map.ndim != 2:
        raise ValueError(
            f"probability map must be a 2-D array, got {getattr(prob_map, 'shape', type(prob_map))}"
        )
    gate = effective_gate(params, decision_threshold)
    if gate is not None and class_probability is not None and class_probability < gate:
        return np.zeros(prob_map.shape, dtype=bool)
    if params.scheme == "triplet":
        if params.min_area > 0:
            confident = np.count_nonzero(prob_map >= params.top_threshold)
            if confident < params.min_area:
                return np.zeros(prob_map.shape, dtype=bool)
        return prob_map >= params.bottom_threshold
    mask = prob_map >= params.bottom_threshold
    if params.min_area > 1:
        mask = remove_small_components(mask, params.min_area)
    return mask
