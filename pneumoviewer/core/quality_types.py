"""Result types and intended use of the input-quality gate (see :mod:`pneumoviewer.core.quality`).

The rule modules (:mod:`.quality_header`, :mod:`.quality_pixels`) and :mod:`.quality`
import from here, so there is no import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "DEFAULT_INTENDED_USE",
    "IntendedUse",
    "Quality",
    "QualityResult",
    "Reason",
    "combine",
    "parse_intended_use",
]


class Quality(StrEnum):
    """The gate's verdict on one image (ordered: ok < warn < refused)."""

    OK = "ok"
    WARN = "warn"
    REFUSED = "refused"

    @property
    def rank(self) -> int:
        """0 for ok, 1 for warn, 2 for refused."""
        return _RANK[self]


_RANK = {Quality.OK: 0, Quality.WARN: 1, Quality.REFUSED: 2}


@dataclass(frozen=True, slots=True)
class Reason:
    """One finding: its level, a stable code (for filters and tests) and plain words."""

    level: Quality
    code: str
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class QualityResult:
    """The gate's answer for one image.

    Attributes
    ----------
    level : Quality
        The worst level among the reasons (ok when there are none).
    reasons : tuple of Reason
        Worst first. An ok result may carry notes (level ok), e.g. "OOD check skipped".
    """

    level: Quality = Quality.OK
    reasons: tuple[Reason, ...] = ()

    @classmethod
    def of(cls, reasons: list[Reason] | tuple[Reason, ...]) -> QualityResult:
        """Build a result from findings: level = the worst, reasons sorted worst first."""
        seen: set[str] = set()
        unique = []
        for r in sorted(reasons, key=lambda r: -r.level.rank):  # stable: keeps rule order
            if r.text not in seen:
                seen.add(r.text)
                unique.append(r)
        level = unique[0].level if unique else Quality.OK
        return cls(level, tuple(unique))

    @property
    def refused(self) -> bool:
        """True when the AI answer must be withheld."""
        return self.level is Quality.REFUSED

    @property
    def codes(self) -> tuple[str, ...]:
        """The reasons' codes, worst first."""
        return tuple(r.code for r in self.reasons)

    @property
    def text(self) -> str:
        """The reasons at the result's own level, joined by "; " ("" when ok)."""
        return "; ".join(r.text for r in self.reasons if r.level is self.level and r.level.rank)

    def __str__(self) -> str:
        return f"{self.level}: {self.text}" if self.text else str(self.level)


def _refuse(code: str, text: str) -> Reason:
    return Reason(Quality.REFUSED, code, text)


def _warn(code: str, text: str) -> Reason:
    return Reason(Quality.WARN, code, text)


def combine(*results: QualityResult | None) -> QualityResult:
    """Merge results (``None`` skipped): the worst level, all reasons worst first, no repeats."""
    reasons: list[Reason] = []
    for res in results:
        if res is not None:
            reasons.extend(res.reasons)
    return QualityResult.of(reasons)


# --- intended use ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class IntendedUse:
    """Which images a model is meant for (``manifest.json`` field ``intended_use``).

    Attributes
    ----------
    age_min, age_max : int or None
        Age range in years, inclusive (None: open). Outside it -> warn.
    views : tuple of str
        View Position values the model reads (upper case), e.g. ``("PA", "AP")``.
    modalities : tuple of str
        DICOM modalities it reads, e.g. ``("CR", "DX")``.
    body_parts : tuple of str
        Body Part Examined values it reads, e.g. ``("CHEST",)``.
    stated : bool
        True when the manifest states it; False for the defaults (the card says so).
    """

    age_min: int | None = 18
    age_max: int | None = None
    views: tuple[str, ...] = ("PA", "AP")
    modalities: tuple[str, ...] = ("CR", "DX")
    body_parts: tuple[str, ...] = ("CHEST",)
    stated: bool = field(default=False, compare=False)

    def to_dict(self) -> dict:
        """JSON-ready dict (``stated`` is not written: a written one is stated)."""
        return {
            "age_min": self.age_min,
            "age_max": self.age_max,
            "views": list(self.views),
            "modalities": list(self.modalities),
            "body_parts": list(self.body_parts),
        }

    def describe(self) -> str:
        """One line for the model card, e.g. "adults 18 y and older; PA, AP; CR, DX; CHEST"."""
        if self.age_min is not None and self.age_max is not None:
            ages = f"ages {self.age_min}-{self.age_max} y"
        elif self.age_min is not None:
            ages = f"ages {self.age_min} y and older"
        elif self.age_max is not None:
            ages = f"ages up to {self.age_max} y"
        else:
            ages = "any age"
        text = (
            f"{ages}; views {', '.join(self.views)}; modalities {', '.join(self.modalities)}; "
            f"body part {', '.join(self.body_parts)}"
        )
        return text if self.stated else text + " (defaults: the manifest does not state it)"


#: Used when a manifest does not state its intended use: adult frontal chest radiographs.
DEFAULT_INTENDED_USE = IntendedUse()


def parse_intended_use(data, path) -> IntendedUse | None:
    """Validate the manifest's ``intended_use`` field (None/absent -> None: defaults apply).

    Parameters
    ----------
    data : Any
        The parsed JSON value: ``{"age_min": 18, "age_max": null, "views": ["PA", "AP"],
        "modalities": ["CR", "DX"], "body_parts": ["CHEST"]}``; missing keys take the
        defaults of :class:`IntendedUse`.
    path : path-like
        The manifest, named in errors.

    Raises
    ------
    ModelLoadError
        Naming the file and the field ``intended_use.<key>``.
    """
    from pneumoviewer.core.errors import ModelLoadError

    if data is None:
        return None

    def fail(key: str, problem: str) -> ModelLoadError:
        return ModelLoadError(path, f"field 'intended_use{'.' + key if key else ''}': {problem}")

    if not isinstance(data, dict):
        raise fail("", f"must be a JSON object, got {type(data).__name__}")
    kw: dict = {"stated": True}
    for key in ("age_min", "age_max"):
        value = data.get(key, getattr(DEFAULT_INTENDED_USE, key))
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 150
        ):
            raise fail(key, f"must be a whole number of years (0-150) or null, got {value!r:.30}")
        kw[key] = value
    if kw["age_min"] is not None and kw["age_max"] is not None and kw["age_min"] > kw["age_max"]:
        raise fail("age_min", f"{kw['age_min']} is above age_max {kw['age_max']}")
    for key in ("views", "modalities", "body_parts"):
        value = data.get(key, list(getattr(DEFAULT_INTENDED_USE, key)))
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v.strip() for v in value)
        ):
            raise fail(key, f"must be a non-empty list of strings, got {value!r:.40}")
        kw[key] = tuple(v.strip().upper() for v in value)
    return IntendedUse(**kw)
