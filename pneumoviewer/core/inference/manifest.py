"""The model directory format: ``manifest.json`` plus ``*.safetensors`` weights (torch-free).

A model directory describes itself: architectures, input sizes, normalisation, CLAHE,
thresholds, Platt scaling, training provenance and the sha256 of each weights file. This
module only reads and validates the JSON, so the GUI can show a model card before torch is
imported. Building and loading the networks lives in :mod:`.models`.

Layout of ``manifest.json`` (format_version 1)::

    {"format_version": 1, "name": "...", "description": "...", "demo": false,
     "clahe": {"clip_limit": 2.0, "tile_grid": [8, 8]},        # or null: no CLAHE
     "classifier": {"architecture": "densenet121", "head": "svm", "input_size": 224,
                    "in_channels": 3, "mean": 0.5, "std": 0.25, "decision_threshold": 0.5,
                    "platt_a": -1.7, "platt_b": 0.1, "weights": "classifier.safetensors"},
     "segmenter": {"architecture": "unet", "encoder": "resnet34", "input_size": 256,
                   "in_channels": 3, "mean": 0.5, "std": 0.25, "mask_threshold": 0.5,
                   "min_area": 0, "gate_threshold": null,
                   "decoder_channels": [256, 128, 64, 32, 16],
                   "weights": "segmenter.safetensors"},
     "training": {...}, "sha256": {"classifier.safetensors": "<hex>", ...}}
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pneumoviewer.core.errors import ModelLoadError
from pneumoviewer.core.preprocessing import ClaheParams  # cv2 + numpy only, no torch

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "ClaheParams",
    "ClassifierSpec",
    "ModelManifest",
    "SegmenterSpec",
    "file_sha256",
    "read_manifest",
]

#: The newest manifest format this version of pneumoviewer understands.
FORMAT_VERSION = 1
#: File name of the manifest inside a model directory.
MANIFEST_NAME = "manifest.json"

CLASSIFIER_HEADS = ("svm", "softmax")
CLASSIFIER_ARCHITECTURES = ("densenet121",)
SEGMENTER_ARCHITECTURES = ("unet",)
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, kw_only=True)
class ClassifierSpec:
    """How to build and use the image-level classifier (DenseNet-121).

    ``head="svm"``: one output, a margin; probability ``1 / (1 + exp(a * margin + b))``
    with Platt parameters ``(platt_a, platt_b)``, else ``sigmoid(margin)``.
    ``head="softmax"``: two logits; probability is the softmax of logit 1.
    """

    architecture: str = "densenet121"
    head: str = "svm"
    input_size: int = 224
    in_channels: int = 3
    mean: float = 0.5
    std: float = 0.25
    decision_threshold: float = 0.5
    platt_a: float | None = None
    platt_b: float | None = None
    weights: str = "classifier.safetensors"

    @property
    def num_outputs(self) -> int:
        """Number of network outputs per image: 1 for ``svm``, 2 for ``softmax``."""
        return 1 if self.head == "svm" else 2


@dataclass(frozen=True, kw_only=True)
class SegmenterSpec:
    """How to build and use the segmenter (smp U-Net with one logit channel).

    ``gate_threshold`` is the default classification gate (``None``: gate off by default).
    """

    architecture: str = "unet"
    encoder: str = "resnet34"
    input_size: int = 256
    in_channels: int = 3
    mean: float = 0.5
    std: float = 0.25
    mask_threshold: float = 0.5
    min_area: int = 0
    gate_threshold: float | None = None
    decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16)
    weights: str = "segmenter.safetensors"


@dataclass(frozen=True, kw_only=True)
class ModelManifest:
    """Everything ``manifest.json`` says about a model directory."""

    format_version: int = FORMAT_VERSION
    name: str
    description: str = ""
    demo: bool = False
    clahe: ClaheParams | None = field(default_factory=ClaheParams)
    classifier: ClassifierSpec | None = None
    segmenter: SegmenterSpec | None = None
    training: dict = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready dict written to ``manifest.json``."""

        def spec(s: ClassifierSpec | SegmenterSpec | None) -> dict | None:
            if s is None:
                return None
            d = dataclasses.asdict(s)
            if "decoder_channels" in d:
                d["decoder_channels"] = list(d["decoder_channels"])
            return d

        return {
            "format_version": self.format_version,
            "name": self.name,
            "description": self.description,
            "demo": self.demo,
            "clahe": None if self.clahe is None else _clahe_to_dict(self.clahe),
            "classifier": spec(self.classifier),
            "segmenter": spec(self.segmenter),
            "training": dict(self.training),
            "sha256": dict(self.sha256),
        }

    def to_json(self) -> str:
        """Return the manifest as indented JSON text (UTF-8 safe, trailing newline)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, *, path: str | os.PathLike = MANIFEST_NAME) -> ModelManifest:
        """Validate a parsed ``manifest.json`` and build the manifest.

        Parameters
        ----------
        data : Any
            The parsed JSON.
        path : path-like
            The manifest file, named in error messages.

        Raises
        ------
        ModelLoadError
            Naming the file and the field when a field is missing or has a wrong type/value,
            or when ``format_version`` is newer than :data:`FORMAT_VERSION`.

        """
        return _parse_manifest(data, Path(path))

    @classmethod
    def read(cls, model_dir: str | os.PathLike) -> ModelManifest:
        """Read and validate ``model_dir/manifest.json`` (see :func:`read_manifest`)."""
        return read_manifest(model_dir)

    def weight_files(self) -> list[str]:
        """Return the weights file names the manifest refers to (classifier first)."""
        return [s.weights for s in (self.classifier, self.segmenter) if s is not None]

    def card_lines(self) -> list[str]:
        """Return a short human-readable model card (one fact per line)."""
        lines = [f"{self.name}" + (" (demo model: not for diagnosis)" if self.demo else "")]
        if self.description:
            lines.append(self.description)
        if self.classifier is not None:
            c = self.classifier
            platt = "" if c.platt_a is None else f", Platt a={c.platt_a:g} b={c.platt_b:g}"
            lines.append(
                f"Classifier: DenseNet-121 {c.head} head, {c.input_size} px, "
                f"threshold {c.decision_threshold:g}{platt}"
            )
        if self.segmenter is not None:
            s = self.segmenter
            lines.append(
                f"Segmenter: U-Net {s.encoder}, {s.input_size} px, mask threshold "
                f"{s.mask_threshold:g}, min area {s.min_area}"
            )
        if self.clahe is not None:
            lines.append(f"CLAHE: clip {self.clahe.clip_limit:g}, tiles {self.clahe.tile_grid}")
        for key, value in self.training.items():
            if isinstance(value, str | int | float | bool):
                lines.append(f"{key}: {value}")
        return lines


def _clahe_to_dict(p: ClaheParams) -> dict:
    d = p.to_dict()
    if "tile_grid" in d:
        d["tile_grid"] = list(d["tile_grid"])
    return d


def file_sha256(path: str | os.PathLike) -> str:
    """Return the hex sha256 of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(model_dir: str | os.PathLike) -> ModelManifest:
    """Read and validate ``manifest.json`` of a model directory (torch-free).

    Parameters
    ----------
    model_dir : path-like
        The model directory.

    Returns
    -------
    ModelManifest

    Raises
    ------
    ModelLoadError
        When the folder or manifest is missing, not valid JSON, or a field is wrong; the
        message names the file and the field.

    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelLoadError(model_dir, "model directory does not exist or is not a folder")
    path = model_dir / MANIFEST_NAME
    if not path.is_file():
        raise ModelLoadError(path, f"missing {MANIFEST_NAME} (not a pneumoviewer model folder)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelLoadError(path, f"cannot read the manifest: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelLoadError(
            path, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    return _parse_manifest(data, path)


# --- validation -------------------------------------------------------------------------


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


def _parse_classifier(f: _Fields) -> ClassifierSpec:
    head = f.choice("head", CLASSIFIER_HEADS)
    platt_a = f.get("platt_a", "float", None, nullable=True)
    platt_b = f.get("platt_b", "float", None, nullable=True)
    if (platt_a is None) != (platt_b is None):
        raise f.fail("platt_a", "platt_a and platt_b must both be given or both be null")
    if platt_a is not None and head != "svm":
        raise f.fail("platt_a", "Platt scaling applies to the svm head only")
    spec = ClassifierSpec(
        architecture=f.choice("architecture", CLASSIFIER_ARCHITECTURES, "densenet121"),
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
    if spec.std <= 0:
        raise f.fail("std", f"must be positive, got {spec.std}")
    return spec


def _parse_segmenter(f: _Fields) -> SegmenterSpec:
    raw = f.get("decoder_channels", "list", [256, 128, 64, 32, 16])
    if not 1 <= len(raw) <= 5 or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in raw
    ):
        raise f.fail("decoder_channels", f"must be 1 to 5 positive integers, got {raw!r:.60}")
    encoder = f.get("encoder", "str", "resnet34")
    if not encoder:
        raise f.fail("encoder", "must not be empty")
    spec = SegmenterSpec(
        architecture=f.choice("architecture", SEGMENTER_ARCHITECTURES, "unet"),
        encoder=encoder,
        input_size=f.positive_int("input_size"),
        in_channels=f.positive_int("in_channels", 3),
        mean=f.get("mean", "float"),
        std=f.get("std", "float"),
        mask_threshold=f.unit("mask_threshold", 0.5),
        min_area=f.get("min_area", "int", 0),
        gate_threshold=f.unit("gate_threshold", None, nullable=True),
        decoder_channels=tuple(raw),
        weights=f.filename("weights", "segmenter.safetensors"),
    )
    if spec.std <= 0:
        raise f.fail("std", f"must be positive, got {spec.std}")
    if spec.min_area < 0:
        raise f.fail("min_area", f"must be >= 0, got {spec.min_area}")
    if spec.input_size % 32:
        raise f.fail("input_size", f"U-Net input size must be a multiple of 32: {spec.input_size}")
    return spec


def _parse_clahe(f: _Fields) -> ClaheParams | None:
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


def _parse_manifest(data: Any, path: Path) -> ModelManifest:
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
    manifest = ModelManifest(
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
    )
    if (
        manifest.classifier is not None
        and manifest.segmenter is not None
        and manifest.classifier.weights == manifest.segmenter.weights
    ):
        raise f.fail("segmenter.weights", "classifier and segmenter must use different files")
    return manifest
