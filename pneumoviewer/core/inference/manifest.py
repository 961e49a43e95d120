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
                   "in_channels": 3, "mean": 0.5, "std": 0.25,
                   "postprocess_scheme": "triplet", "mask_threshold": 0.4,
                   "top_threshold": 0.75, "min_area": 2000, "gate_enabled": true,
                   "gate_threshold": null,
                   "decoder_channels": [256, 128, 64, 32, 16],
                   "weights": "segmenter.safetensors"},
     "training": {...}, "sha256": {"classifier.safetensors": "<hex>", ...}}

``clahe`` is required (``null`` when the model was trained without CLAHE): a manifest that
leaves it out is refused rather than silently run without it. ``architecture`` (and the
segmenter's ``encoder``) are registry names: any ``torchvision.models.get_model`` name for
the classifier, any ``segmentation_models_pytorch.create_model`` architecture and encoder
for the segmenter (see :mod:`.models`); a second architecture is a manifest change only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pneumoviewer.core.errors import ModelLoadError
from pneumoviewer.core.inference.manifest_schema import FORMAT_VERSION, validate_manifest
from pneumoviewer.core.inference.ood import OodSpec  # numpy only (#10)
from pneumoviewer.core.preprocessing import ClaheParams  # cv2 + numpy only, no torch
from pneumoviewer.core.quality import DEFAULT_INTENDED_USE, IntendedUse  # numpy only (#10)

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

#: File name of the manifest inside a model directory.
MANIFEST_NAME = "manifest.json"

#: How the model card names the usual architectures (others are shown as written).
_DISPLAY_NAMES = {"densenet121": "DenseNet-121", "unet": "U-Net", "unetplusplus": "U-Net++"}


@dataclass(frozen=True, kw_only=True)
class ClassifierSpec:
    """How to build and use the image-level classifier (a torchvision model, DenseNet-121).

    ``architecture`` is a ``torchvision.models.get_model`` name; ``in_channels`` other than
    3 replaces the network's first convolution.

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
    """How to build and use the segmenter (an smp model, U-Net, one logit channel).

    ``architecture`` and ``encoder`` are ``segmentation_models_pytorch.create_model`` names;
    ``decoder_channels`` (whose length is the encoder depth) applies to architectures with
    such a parameter (U-Net, U-Net++).

    Post-processing defaults (:mod:`pneumoviewer.core.postprocessing`):
    ``postprocess_scheme`` is ``"triplet"`` (SIIM 1st place: fewer than ``min_area`` pixels
    ``>= top_threshold`` -> empty mask, else the pixels ``>= mask_threshold``) or
    ``"components"`` (``>= mask_threshold``, then 8-connected components smaller than
    ``min_area`` removed). ``mask_threshold`` is the bottom threshold (the pixel threshold
    of the final mask); ``min_area`` is in pixels at the image's full resolution.
    ``gate_enabled`` (default on): the mask is emptied when the classifier's probability is
    below ``gate_threshold`` (``None``: the classifier's decision threshold).
    A manifest written before the triplet (no ``postprocess_scheme``) is read as the
    component scheme, which is what ran for it, with the gate on.
    """

    architecture: str = "unet"
    encoder: str = "resnet34"
    input_size: int = 256
    in_channels: int = 3
    mean: float = 0.5
    std: float = 0.25
    postprocess_scheme: str = "triplet"
    mask_threshold: float = 0.5
    top_threshold: float = 0.75
    min_area: int = 0
    gate_enabled: bool = True
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
    #: Which images the model is for (None: not stated, the defaults apply) (#10).
    intended_use: IntendedUse | None = None
    #: Out-of-distribution statistics (None: the check is skipped) (#10).
    ood: OodSpec | None = None

    @property
    def effective_intended_use(self) -> IntendedUse:
        """The stated intended use, else :data:`~pneumoviewer.core.quality.DEFAULT_INTENDED_USE`."""
        if self.intended_use is None:
            return DEFAULT_INTENDED_USE
        return dataclasses.replace(self.intended_use, stated=True)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready dict written to ``manifest.json``."""

        def spec(s: ClassifierSpec | SegmenterSpec | None) -> dict | None:
            if s is None:
                return None
            d = dataclasses.asdict(s)
            if "decoder_channels" in d:
                d["decoder_channels"] = list(d["decoder_channels"])
            return d

        d = {
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
        if self.intended_use is not None:  # written only when stated (#10)
            d["intended_use"] = self.intended_use.to_dict()
        if self.ood is not None:
            d["ood"] = self.ood.to_dict()
        return d

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
        return _from_validated(validate_manifest(data, Path(path)))

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
            arch = _DISPLAY_NAMES.get(c.architecture, c.architecture)
            lines.append(
                f"Classifier: {arch} {c.head} head, {c.input_size} px, "
                f"threshold {c.decision_threshold:g}{platt}"
            )
        if self.segmenter is not None:
            s = self.segmenter
            arch = _DISPLAY_NAMES.get(s.architecture, s.architecture)
            lines.append(
                f"Segmenter: {arch} {s.encoder}, {s.input_size} px, "
                + (
                    f"triplet top {s.top_threshold:g}, min area {s.min_area}, bottom "
                    f"{s.mask_threshold:g}"
                    if s.postprocess_scheme == "triplet"
                    else f"mask threshold {s.mask_threshold:g}, min area {s.min_area}"
                )
            )
        if self.clahe is not None:
            lines.append(f"CLAHE: clip {self.clahe.clip_limit:g}, tiles {self.clahe.tile_grid}")
        lines.append(f"Intended use: {self.effective_intended_use.describe()}")
        lines.append(
            "OOD check: none (no statistics in this model; the check is skipped)"
            if self.ood is None
            else f"OOD check: {self.ood.describe()}"
        )
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
    return _from_validated(validate_manifest(data, path))


def _from_validated(kw: dict[str, Any]) -> ModelManifest:
    """Build the dataclasses from :func:`validate_manifest`'s keyword dictionaries."""
    kw = dict(kw)
    if kw["classifier"] is not None:
        kw["classifier"] = ClassifierSpec(**kw["classifier"])
    if kw["segmenter"] is not None:
        kw["segmenter"] = SegmenterSpec(**kw["segmenter"])
    return ModelManifest(**kw)
