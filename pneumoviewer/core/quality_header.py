"""Header rules of the input-quality gate (see :mod:`pneumoviewer.core.quality`).

Cheap (a few microseconds per image): the viewer runs them in the folder scan.
"""

from __future__ import annotations

import re

from pneumoviewer.core.quality_types import (
    DEFAULT_INTENDED_USE,
    IntendedUse,
    QualityResult,
    Reason,
    _refuse,
    _warn,
)

__all__ = ["MAX_ASPECT", "MIN_SIDE_PX", "RADIOGRAPHY_MODALITIES", "check_header", "parse_age_years"]


#: Projection radiography modalities: DX, CR; DR and RG are older or vendor spellings.
RADIOGRAPHY_MODALITIES = frozenset({"CR", "DX", "DR", "RG"})
_LATERAL = frozenset({"LL", "RL", "LAT", "LATERAL", "LLAT", "RLAT", "LEFT", "RIGHT"})
_OTHER_VIEWS = frozenset(
    {
        "RLD",
        "LLD",
        "DECUBITUS",
        "DECUB",
        "RLO",
        "LLO",
        "OBL",
        "OBLIQUE",
        "RAO",
        "LAO",
        "RPO",
        "LPO",
        "AXIAL",
        "LORDOTIC",
        "APICAL",
    }  # fmt: skip
)
_CHEST_WORDS = ("CHEST", "THORAX", "LUNG", "TORAX", "THORAS")
#: Body Part Examined values naming another region (DICOM defined terms and common text).
_OTHER_BODY_PARTS = frozenset(
    {
        "ABDOMEN",
        "PELVIS",
        "SKULL",
        "HEAD",
        "BRAIN",
        "NECK",
        "FACE",
        "SPINE",
        "CSPINE",
        "TSPINE",
        "LSPINE",
        "SSPINE",
        "HAND",
        "WRIST",
        "FINGER",
        "ELBOW",
        "ARM",
        "FOREARM",
        "HUMERUS",
        "SHOULDER",
        "CLAVICLE",
        "KNEE",
        "FOOT",
        "TOE",
        "ANKLE",
        "HEEL",
        "HIP",
        "LEG",
        "FEMUR",
        "TIBIA",
        "EXTREMITY",
        "BREAST",
        "JAW",
        "TMJ",
        "SINUS",
        "DENTAL",
        "SACRUM",
        "COCCYX",
        "KUB",
        "ORBIT",
        "NOSE",
    }  # fmt: skip
)
#: Shorter side below this (pixels): a thumbnail or icon, not a radiograph (real CR/DX
#: images are >= ~1000 px; the SIIM images are 1024).
MIN_SIDE_PX = 256
#: Long side / short side above this: a strip or a scout, not a chest film (films are <= 1.4).
MAX_ASPECT = 2.5

_AGE_RE = re.compile(r"^\s*(\d{1,3})\s*([DWMY]?)\s*$", re.IGNORECASE)


def parse_age_years(text: str | None) -> int | None:
    """Patient's Age as whole years: ``"045Y"`` -> 45, ``"38"`` -> 38, ``"006M"`` -> 0.

    Bare numbers (the SIIM files write ``"38"``) are read as years; unparseable -> None.
    """
    if not text:
        return None
    m = _AGE_RE.match(str(text))
    if m is None:
        return None
    n, unit = int(m.group(1)), m.group(2).upper() or "Y"
    return {"Y": n, "M": n // 12, "W": n // 52, "D": n // 365}[unit]


def _tokens(value: str) -> list[str]:
    return [t for t in re.split(r"[^A-Z0-9]+", value.upper()) if t]


def _view_reasons(view: str | None, intended: IntendedUse) -> list[Reason]:
    wanted = ", ".join(intended.views) or "none"
    if not view:
        return [_warn("view-unknown", f"View Position not recorded (the model reads {wanted})")]
    toks = _tokens(view)
    if any(t in _LATERAL for t in toks) or "LATERAL" in view.upper():
        return [
            _refuse("lateral", f"lateral view (View Position {view}); the model reads {wanted}")
        ]
    if any(t in intended.views for t in toks):
        return []
    if any(t in _OTHER_VIEWS for t in toks) or any(t in ("AP", "PA") for t in toks):
        return [_refuse("view", f"view {view} is not one the model reads ({wanted})")]
    return [
        _warn("view-unknown", f"View Position {view!r} not recognised (the model reads {wanted})")
    ]


def _body_part_reasons(part: str | None, intended: IntendedUse) -> list[Reason]:
    if not part:
        return []
    up = part.upper()
    wanted = ", ".join(intended.body_parts) or "none"
    chest_ok = "CHEST" in intended.body_parts and any(w in up for w in _CHEST_WORDS)
    if chest_ok or any(t in intended.body_parts for t in _tokens(part)):
        return []
    if any(t in _OTHER_BODY_PARTS for t in _tokens(part)):
        return [_refuse("body-part", f"Body Part Examined is {part}; the model reads {wanted}")]
    return [_warn("body-part", f"Body Part Examined {part!r} not recognised as {wanted}")]


def _modality_reasons(modality: str | None, intended: IntendedUse) -> list[Reason]:
    wanted = " or ".join(intended.modalities) or "none"
    if not modality:
        return [_warn("modality", f"Modality not recorded (the model reads {wanted})")]
    m = modality.upper()
    if m in intended.modalities:
        return []
    if m in RADIOGRAPHY_MODALITIES:
        return [
            _warn("modality", f"Modality {m} is a radiograph, but the model was made for {wanted}")
        ]
    return [_refuse("modality", f"Modality {m} is not a radiograph (the model reads {wanted})")]


def _age_reasons(age: int | None, intended: IntendedUse) -> list[Reason]:
    if age is None:
        return []
    if intended.age_min is not None and age < intended.age_min:
        return [
            _warn(
                "age", f"patient is {age} y; the model is meant for {intended.age_min} y and older"
            )
        ]
    if intended.age_max is not None and age > intended.age_max:
        return [
            _warn("age", f"patient is {age} y; the model is meant for up to {intended.age_max} y")
        ]
    return []


def _size_reasons(rows: int, columns: int) -> list[Reason]:
    if rows <= 0 or columns <= 0:
        return [_refuse("size", "the image has no pixels")]
    if min(rows, columns) < MIN_SIDE_PX:
        return [_refuse("size", f"{columns} x {rows} px is too small to be a radiograph")]
    if max(rows, columns) / min(rows, columns) > MAX_ASPECT:
        return [_refuse("shape", f"{columns} x {rows} px is not shaped like a chest film")]
    return []


def check_header(metadata, intended: IntendedUse | None = None) -> QualityResult:
    """Header rules (cheap: for the folder scan).

    Parameters
    ----------
    metadata : XrayMetadata
        From :func:`pneumoviewer.core.dicom_io.read_header` or ``load_xray``; uses
        ``modality``, ``body_part``, ``view_position``, ``age_years`` (else
        ``patient_age``), ``rows`` and ``columns``.
    intended : IntendedUse or None
        The model's intended use (None: :data:`DEFAULT_INTENDED_USE`).

    Returns
    -------
    QualityResult
        Refused: not a radiograph modality, another body part, a lateral / oblique /
        decubitus view, smaller than :data:`MIN_SIDE_PX` or elongated past
        :data:`MAX_ASPECT`. Warn: age outside the range, view or modality missing or not
        recognised, an unrecognised body part, a radiograph modality the model was not
        made for.
    """
    use = intended or DEFAULT_INTENDED_USE
    age = getattr(metadata, "age_years", None)
    if age is None:
        age = parse_age_years(getattr(metadata, "patient_age", None))
    return QualityResult.of(
        _modality_reasons(metadata.modality, use)
        + _body_part_reasons(metadata.body_part, use)
        + _view_reasons(metadata.view_position, use)
        + _size_reasons(int(metadata.rows), int(metadata.columns))
        + _age_reasons(age, use)
    )
