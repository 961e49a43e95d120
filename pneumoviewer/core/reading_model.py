"""What a reading holds: verdicts, the AI context, a reading's state, provenance.

Plain frozen dataclasses (no I/O); :mod:`pneumoviewer.core.readings` stores them.
"""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import numpy as np

from pneumoviewer.core import rle

__all__ = [
    "AIContext",
    "Event",
    "Reading",
    "Verdict",
    "ai_context_from_manifest",
    "default_reader",
    "now_utc",
    "provenance",
]


class Verdict(StrEnum):
    """The reader's verdict on the AI's finding for one image."""

    AGREE = "agree"
    DISAGREE = "disagree"
    UNSURE = "unsure"


def now_utc() -> str:
    """Return the time now as ISO 8601 UTC with milliseconds (``...T04:05:06.123+00:00``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def default_reader() -> str:
    """Return the operating-system user name (``"unknown"`` when it cannot be found)."""
    try:
        name = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in the environment or the password db
        return "unknown"
    return name or "unknown"


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def mask_to_rle(mask: np.ndarray, what: str) -> tuple[str, int, int]:
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.size == 0:
        raise ValueError(f"{what} must be a non-empty 2-D array, got shape {mask.shape}")
    return rle.encode(mask), int(mask.shape[0]), int(mask.shape[1])


@dataclass(frozen=True, slots=True, kw_only=True)
class AIContext:
    """What the AI said when the reader gave a verdict or edited the mask.

    Attributes
    ----------
    probability : float or None
        Classifier probability (None: no classifier, or not analysed).
    model_name, model_version : str or None
        The model's name and version (or format/date) from its manifest.
    weights_sha256 : dict of str to str
        Weight file name -> sha256 (the manifest's ``sha256``).
    postprocess : dict of str to JSON scalars
        Post-processing numbers in force (scheme, thresholds, minimum area, gate...).
    decision_threshold : float or None
        The classifier's decision threshold.
    decision_state : str or None
        The decision state shown (``core.decision.DecisionState`` value, e.g. ``"positive"``).
    mask_rle : str or None
        The AI's post-processed mask, SIIM relative run-length (None: no segmenter).
    mask_shape : tuple of int or None
        ``(rows, columns)`` of ``mask_rle``.
    model_demo : bool or None
        The manifest's demo flag (exports then say "not for clinical use").
    """

    probability: float | None = None
    model_name: str | None = None
    model_version: str | None = None
    weights_sha256: dict[str, str] = field(default_factory=dict)
    postprocess: dict[str, Any] = field(default_factory=dict)
    decision_threshold: float | None = None
    decision_state: str | None = None
    mask_rle: str | None = None
    mask_shape: tuple[int, int] | None = None
    model_demo: bool | None = None

    @classmethod
    def build(cls, *, mask: np.ndarray | None = None, **fields: Any) -> AIContext:
        """Make a context, encoding the AI's bool (H, W) ``mask`` when given."""
        if mask is not None:
            text, rows, cols = mask_to_rle(mask, "AI mask")
            fields.update(mask_rle=text, mask_shape=(rows, cols))
        return cls(**fields)

    def mask(self) -> np.ndarray | None:
        """Return the AI's mask, bool (H, W), or None when there is none."""
        if self.mask_rle is None or self.mask_shape is None:
            return None
        return rle.decode(self.mask_rle, self.mask_shape)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (NaN probabilities become None)."""
        return {
            "probability": _finite(self.probability),
            "model_name": self.model_name,
            "model_version": self.model_version,
            "weights_sha256": dict(self.weights_sha256),
            "postprocess": dict(self.postprocess),
            "decision_threshold": _finite(self.decision_threshold),
            "decision_state": self.decision_state,
            "mask_rle": self.mask_rle,
            "mask_shape": list(self.mask_shape) if self.mask_shape else None,
            "model_demo": self.model_demo,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AIContext:
        """Inverse of :meth:`to_dict`; unknown keys (a later minor addition) are ignored."""
        shape = data.get("mask_shape")
        return cls(
            probability=_finite(data.get("probability")),
            model_name=data.get("model_name"),
            model_version=data.get("model_version"),
            weights_sha256=dict(data.get("weights_sha256") or {}),
            postprocess=dict(data.get("postprocess") or {}),
            decision_threshold=_finite(data.get("decision_threshold")),
            decision_state=data.get("decision_state"),
            mask_rle=data.get("mask_rle"),
            mask_shape=(int(shape[0]), int(shape[1])) if shape else None,
            model_demo=data.get("model_demo"),
        )

    def positive(self) -> bool | None:
        """Return whether the AI called the image positive (None when it cannot tell).

        The decision state when recorded (``positive`` and ``positive, not localised``
        are positive; ``not analysed`` / ``not assessed`` say nothing); for an unknown
        state, the probability against the decision threshold; else a non-empty mask.
        """
        state = self.decision_state
        if state in ("positive", "positive, not localised"):
            return True
        if state in ("negative", "localised, below threshold"):
            return False
        if state in ("not analysed", "not assessed"):
            return None
        if self.probability is not None and self.decision_threshold is not None:
            return self.probability >= self.decision_threshold
        mask = self.mask()
        return None if mask is None else bool(mask.any())


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def provenance(
    ai: AIContext | None, reading: Reading | None = None, *, time: str | None = None
) -> dict[str, str]:
    """Return the provenance of an output: model, weights, post-processing, reader, time.

    The one provenance of the reading exports (CSV rows, DICOM objects) until
    ``core.annotation`` offers a shared builder; keys are plain ASCII words.

    Parameters
    ----------
    ai : AIContext or None
        What the AI said (None: no AI result).
    reading : Reading or None
        The reader's reading (None: AI only, e.g. ``predict``).
    time : str or None
        When the output is made (default: now, ISO 8601 UTC).

    Returns
    -------
    dict of str to str
        ``model``, ``model_version``, ``weights_sha256`` ("file=hash; ..."),
        ``postprocessing`` ("key=value, ..."), ``decision_threshold``, ``reader``,
        ``reading_time``, ``created`` and ``software``; empty values are left out.
    """
    from pneumoviewer import __version__

    out: dict[str, str] = {}
    if ai is not None:
        out["model"] = ai.model_name or ""
        out["model_version"] = ai.model_version or ""
        out["weights_sha256"] = "; ".join(f"{k}={v}" for k, v in sorted(ai.weights_sha256.items()))
        out["postprocessing"] = ", ".join(
            f"{k}={_number(v)}" for k, v in sorted(ai.postprocess.items())
        )
        if ai.decision_threshold is not None:
            out["decision_threshold"] = _number(ai.decision_threshold)
    if reading is not None:
        out["reader"] = reading.reader
        out["reading_time"] = reading.time
    out["created"] = time or now_utc()
    out["software"] = f"pneumoviewer {__version__}"
    return {k: v for k, v in out.items() if v}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):
        return value.value  # enums
    return value


def ai_context_from_manifest(
    manifest: Any,
    *,
    probability: float | None,
    mask: np.ndarray | None,
    postprocess: Any = None,
    decision_threshold: float | None = None,
    decision_state: str | None = None,
) -> AIContext:
    """Build the AI context of one image from a model manifest and its result.

    Parameters
    ----------
    manifest : ModelManifest
        The model (``name``, ``sha256``, optional ``version``).
    probability : float or None
        Classifier probability.
    mask : numpy.ndarray or None
        The post-processed (gated) bool (H, W) mask; None without a segmenter.
    postprocess : dataclass, mapping or None
        Post-processing parameters in force (e.g. ``PostprocessParams``).
    decision_threshold : float or None
        The classifier's decision threshold.
    decision_state : str or None
        ``DecisionState`` value.

    Returns
    -------
    AIContext
        ``model_version`` is the manifest's ``version`` when it has one, else
        ``"sha256:<first 12 hex of the weights' hashes>"`` (identifies the weights).
    """
    if hasattr(postprocess, "to_dict"):  # core.postprocessing.PostprocessParams
        params = postprocess.to_dict(decision_threshold=decision_threshold)
    elif dataclasses.is_dataclass(postprocess) and not isinstance(postprocess, type):
        params = dataclasses.asdict(postprocess)
    elif isinstance(postprocess, Mapping):
        params = dict(postprocess)
    else:
        params = {}
    sha = dict(getattr(manifest, "sha256", {}) or {})
    version = getattr(manifest, "version", None)
    if not version and sha:
        joined = "".join(f"{k}={v};" for k, v in sorted(sha.items()))
        version = "sha256:" + hashlib.sha256(joined.encode()).hexdigest()[:12]
    return AIContext.build(
        probability=None if probability is None else float(probability),
        model_name=getattr(manifest, "name", None),
        model_version=version,
        weights_sha256=sha,
        postprocess={k: _plain(v) for k, v in params.items()},
        decision_threshold=decision_threshold,
        decision_state=None if decision_state is None else str(_plain(decision_state)),
        mask=mask,
        model_demo=getattr(manifest, "demo", None),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """The latest state of one image's reading.

    Attributes
    ----------
    image_id : str
        SOPInstanceUID (or file stem) of the image.
    verdict : Verdict or None
        None while the reader has given none (e.g. only a note or a mask).
    note : str
        Free text ("" when none).
    reader : str
        Who made the last change.
    time : str
        ISO 8601 UTC of the last change.
    source : str or None
        The DICOM file as stored (relative to the reading file's folder, or absolute).
    ai : AIContext or None
        The AI context recorded with the last verdict or mask edit.
    mask_rle : str or None
        The reader's mask, SIIM relative run-length; None when none was drawn.
    mask_shape : tuple of int or None
        ``(rows, columns)`` of the reader's mask.
    mask_time : str or None
        ISO 8601 UTC of the last mask edit.
    """

    image_id: str
    verdict: Verdict | None
    note: str
    reader: str
    time: str
    source: str | None = None
    ai: AIContext | None = None
    mask_rle: str | None = None
    mask_shape: tuple[int, int] | None = None
    mask_time: str | None = None

    @property
    def read(self) -> bool:
        """Whether the reader gave a verdict."""
        return self.verdict is not None

    def mask(self) -> np.ndarray | None:
        """Return the reader's mask, bool (H, W), or None when none was drawn."""
        if self.mask_rle is None or self.mask_shape is None:
            return None
        return rle.decode(self.mask_rle, self.mask_shape, image_id=self.image_id)


@dataclass(frozen=True, slots=True)
class Event:
    """One change in the history: ``kind`` is verdict, note, mask or ai."""

    image_id: str
    time: str
    reader: str
    kind: str
    value: str | None
