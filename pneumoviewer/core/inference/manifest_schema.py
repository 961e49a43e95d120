"""Validation of ``manifest.json`` (torch-free, and free of the manifest's own classes).

Typed field access whose errors name the file and the field. :func:`validate_manifest`
turns parsed JSON into plain keyword dictionaries; :mod:`pneumoviewer.core.inference.manifest`
builds its dataclasses from them (this module never imports it: no import cycle).
Architecture names are checked against the model registries when the networks are built
(:mod:`pneumoviewer.core.inference.models`), since listing them needs torch.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from pneumoviewer.core.errors import ModelLoadError
from pneumoviewer.core.inference.calibration import HEADS  # NumPy only, no torch
from pneumoviewer.core.inference.ood import parse_ood_spec  # numpy only (#10)
from pneumoviewer.core.preprocessing import ClaheParams  # cv2 + numpy only, no torch
from pneumoviewer.core.quality import parse_intended_use  # numpy only (#10)

__all__ = ["CLASSIFIER_HEADS", "FORMAT_VERSION", "validate_manifest"]

#: The newest manifest format this version of pneumoviewer understands.
FORMAT_VERSION = 1
#: Classifier heads: one SVM margin, or two softmax logits (the calibration module's).
CLASSIFIER_HEADS = HEADS

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_ARCH_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


class _Fields:
    """Typed access to one JSON object, raising ModelLoadError naming file and field."""

    def __init__(self, data: Any, path: Path, prefix: str) -> None:
        if not isinstance(data, dict):
            where = f"field '{prefix}'" if prefix else "the manifest"
            raise ModelLoadError(path, f"{where} must be a JSON object, got {_tname(data)}")
        self.data, self.path, self.prefix = data, path, prefix

    def name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def fail(self, key: str, problem: str) -> ModelLoadError:
        return ModelLoadError(self.path, f"field '{self.name(key)}': {problem}")

    def get(self, key: str, kind: str, default: Any = ..., *, nullable: bool = False) -> Any:
        if key not in self.data or (self.data[key] is None and not nullable):
            if default is ...:
                raise self.fail(key, "required field is missing")
            return default
        value = self.data[key]
        if value is None:
            return None
        checks = {
            "str": lambda v: isinstance(v, str),
            "bool": lambda v: isinstance(v, bool),
            "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "dict": lambda v: isinstance(v, dict),
            "list": lambda v: isinstance(v, list),
        }
        if not checks[kind](value):
            raise self.fail(key, f"must be {kind}, got {_tname(value)} {value!r:.40}")
        if kind == "float":
            value = float(value)
            if not math.isfinite(value):
                raise self.fail(key, f"must be a finite number, got {value}")
        return value

    def positive_int(self, key: str, default: Any = ...) -> int:
        value = self.get(key, "int", default)
        if value <= 0:
            raise self.fail(key, f"must be a positive integer, got {value}")
        return value

    def unit(self, key: str, default: Any = ..., *, nullable: bool = False) -> float | None:
        value = self.get(key, "float", default, nullable=nullable)
        if value is not None and not 0.0 <= value <= 1.0:
            raise self.fail(key, f"must be between 0 and 1, got {value}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: Any = ...) -> str:
        value = self.get(key, "str", default)
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def architecture(self, key: str, default: str) -> str:
        value = self.get(key, "str", default)
        if not _ARCH_RE.match(value):
            raise self.fail(key, f"must be a model name such as {default!r}, got {value!r:.40}")
        return value

    def filename(self, key: str, default: str) -> str:
        value = self.get(key, "str", default)
        if not value or "/" in value or "\\" in value or value in (".", "..") or ":" in value:
            raise self.fail(key, f"must be a plain file name inside the model folder: {value!r}")
        if not value.endswith(".safetensors"):
            raise self.fail(key, f"weights must be a .safetensors file, got {value!r}")
        return value


def _tname(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _parse_classifier(f: _Fields) -> dict[str, Any]:
    head = f.choice("head", CLASSIFIER_HEADS)
    platt_a = f.get("platt_a", "float", None, nullable=True)
    platt_b = f.get("platt_b", "float", None, nullable=True)
    if (platt_a is None) != (platt_b is None):
        raise f.fail("platt_a", "platt_a and platt_b must both be given or both be null")
    if platt_a is not None and head != "svm":
        raise f.fail("platt_a", "Platt scaling applies to the svm head only")
    spec = dict(
        architecture=f.architecture("architecture", "densenet121"),
        head=head,
        input_size=f.positive_int("input_size"),
        in_channels=f.positive_int("in_channels", 3),
        mean=f.get("mean", "float"),
        std=f.get("std", "float"),
        decision_threshold=f.unit("decision_threshold", 0.5),
        platt_a=platt_a,
        platt_b=platt_b,
        weights=f.filename("weights", "classifier.safetensors"),
    )
    if spec["std"] <= 0:
        raise f.fail("std", f"must be positive, got {spec['std']}")
    return spec


def _parse_segmenter(f: _Fields) -> dict[str, Any]:
    raw = f.get("decoder_channels", "list", [256, 128, 64, 32, 16])
    if not 1 <= len(raw) <= 5 or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in raw
    ):
        raise f.fail("decoder_channels", f"must be 1 to 5 positive integers, got {raw!r:.60}")
    encoder = f.get("encoder", "str", "resnet34")
    if not encoder:
        raise f.fail("encoder", "must not be empty")
    spec = dict(
        architecture=f.architecture("architecture", "unet"),
        encoder=encoder,
        input_size=f.positive_int("input_size"),
        in_channels=f.positive_int("in_channels", 3),
        mean=f.get("mean", "float"),
        std=f.get("std", "float"),
        # No postprocess_scheme: a manifest from before the triplet, which ran the components.
        postprocess_scheme=f.choice("postprocess_scheme", ("triplet", "components"), "components"),
        mask_threshold=f.unit("mask_threshold", 0.5),
        top_threshold=f.unit("top_threshold", 0.75),
        min_area=f.get("min_area", "int", 0),
        gate_enabled=f.get("gate_enabled", "bool", True),
        gate_threshold=f.unit("gate_threshold", None, nullable=True),
        decoder_channels=tuple(raw),
        weights=f.filename("weights", "segmenter.safetensors"),
    )
    if spec["std"] <= 0:
        raise f.fail("std", f"must be positive, got {spec['std']}")
    if spec["min_area"] < 0:
        raise f.fail("min_area", f"must be >= 0, got {spec['min_area']}")
    if spec["input_size"] % 32:
        size = spec["input_size"]
        raise f.fail("input_size", f"the segmenter's input size must be a multiple of 32: {size}")
    return spec


def _parse_clahe(f: _Fields) -> ClaheParams | None:
    if "clahe" not in f.data:
        raise f.fail(
            "clahe",
            "required field is missing: write the CLAHE the model was trained with, e.g. "
            '{"clip_limit": 2.0, "tile_grid": [8, 8]}, or null if it was trained without CLAHE',
        )
    raw = f.get("clahe", "dict", None, nullable=True)
    if raw is None:
        return None
    c = _Fields(raw, f.path, "clahe")
    clip = c.get("clip_limit", "float", 2.0)
    grid = c.get("tile_grid", "list", [8, 8])
    if len(grid) != 2 or not all(isinstance(v, int) and v > 0 for v in grid):
        raise c.fail("tile_grid", f"must be two positive integers, got {grid!r}")
    if clip <= 0:
        raise c.fail("clip_limit", f"must be positive, got {clip}")
    try:
        return ClaheParams.from_dict({"clip_limit": clip, "tile_grid": [grid[0], grid[1]]})
    except ValueError as exc:  # pragma: no cover - the checks above come first
        raise c.fail("tile_grid", str(exc)) from exc


def validate_manifest(data: Any, path: Path) -> dict[str, Any]:
    """Validate parsed ``manifest.json`` data.

    Parameters
    ----------
    data : Any
        The parsed JSON.
    path : Path
        The manifest file, named in error messages.

    Returns
    -------
    dict
        The keyword arguments of ``ModelManifest``; ``classifier`` and ``segmenter`` are
        ``None`` or the keyword arguments of ``ClassifierSpec`` / ``SegmenterSpec``;
        ``clahe`` is a :class:`ClaheParams` or ``None``.

    Raises
    ------
    ModelLoadError
        Naming the file and the field.

    """
    f = _Fields(data, path, "")
    version = f.get("format_version", "int")
    if version > FORMAT_VERSION:
        raise ModelLoadError(
            path,
            f"format_version {version} is newer than this pneumoviewer understands "
            f"(up to {FORMAT_VERSION}); update pneumoviewer to load this model",
        )
    if version < 1:
        raise f.fail("format_version", f"must be >= 1, got {version}")
    classifier = f.get("classifier", "dict", None, nullable=True)
    segmenter = f.get("segmenter", "dict", None, nullable=True)
    if classifier is None and segmenter is None:
        raise ModelLoadError(path, "the manifest has neither a 'classifier' nor a 'segmenter'")
    sha = f.get("sha256", "dict", {})
    for key, value in sha.items():
        if not isinstance(value, str) or not _SHA256_RE.match(value):
            raise f.fail(f"sha256.{key}", "must be 64 lowercase hexadecimal digits")
    manifest = dict(
        format_version=version,
        name=f.get("name", "str"),
        description=f.get("description", "str", ""),
        demo=f.get("demo", "bool", False),
        clahe=_parse_clahe(f),
        classifier=None
        if classifier is None
        else _parse_classifier(_Fields(classifier, path, "classifier")),
        segmenter=None
        if segmenter is None
        else _parse_segmenter(_Fields(segmenter, path, "segmenter")),
        training=f.get("training", "dict", {}),
        sha256=dict(sha),
        intended_use=parse_intended_use(f.data.get("intended_use"), path),
        ood=parse_ood_spec(f.data.get("ood"), path),
    )
    if (
        manifest["classifier"] is not None
        and manifest["segmenter"] is not None
        and manifest["classifier"]["weights"] == manifest["segmenter"]["weights"]
    ):
        raise f.fail("segmenter.weights", "classifier and segmenter must use different files")
    return manifest
