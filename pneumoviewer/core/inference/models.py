"""Build the networks a manifest describes, save and load model directories (never downloads).

Loading never executes code: weights come from ``.safetensors`` files whose sha256 is
checked against the manifest; the architectures are built with ``weights=None`` /
``encoder_weights=None``; ``.pt``/``.pth`` files are only read through
:func:`import_checkpoint`, which uses ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_save
from torch import nn

from pneumoviewer.core.errors import ModelLoadError
from pneumoviewer.core.inference.manifest import (
    MANIFEST_NAME,
    ClassifierSpec,
    ModelManifest,
    SegmenterSpec,
    read_manifest,
)

__all__ = [
    "LoadedModel",
    "build_classifier",
    "build_segmenter",
    "import_checkpoint",
    "load_model_dir",
    "save_model_dir",
    "segmenter_encoder_names",
]

_MAX_LISTED_KEYS = 5


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A loaded model directory: the manifest and the networks in eval mode."""

    manifest: ModelManifest
    classifier: nn.Module | None
    segmenter: nn.Module | None


def segmenter_encoder_names() -> list[str]:
    """Return the encoder names segmentation_models_pytorch can build."""
    import segmentation_models_pytorch as smp

    return list(smp.encoders.get_encoder_names())


def build_classifier(spec: ClassifierSpec) -> nn.Module:
    """Build a randomly initialised DenseNet-121 classifier (no download).

    Parameters
    ----------
    spec : ClassifierSpec
        ``head="svm"``: the network outputs one margin per image, shape (N, 1);
        ``head="softmax"``: two logits, shape (N, 2). ``in_channels`` other than 3 replaces
        the first convolution.

    Returns
    -------
    torch.nn.Module

    """
    from torchvision.models import densenet121

    model = densenet121(weights=None, num_classes=spec.num_outputs)
    if spec.in_channels != 3:
        model.features.conv0 = nn.Conv2d(
            spec.in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False
        )
    return model


def build_segmenter(spec: SegmenterSpec, *, path: str | os.PathLike = MANIFEST_NAME) -> nn.Module:
    """Build a randomly initialised smp U-Net with one logit channel (no download).

    Parameters
    ----------
    spec : SegmenterSpec
        Encoder name, input channels and decoder channels; the encoder depth is
        ``len(spec.decoder_channels)``.
    path : path-like
        Named in the error when the encoder is unknown.

    Returns
    -------
    torch.nn.Module
        Maps (N, C, S, S) float32 to (N, 1, S, S) logits.

    Raises
    ------
    ModelLoadError
        When smp does not know the encoder or cannot build the configuration.

    """
    import segmentation_models_pytorch as smp

    names = segmenter_encoder_names()
    if spec.encoder not in names:
        raise ModelLoadError(
            path,
            f"field 'segmenter.encoder': unknown encoder {spec.encoder!r} "
            f"(segmentation_models_pytorch knows e.g. {', '.join(sorted(names)[:8])}, ...)",
        )
    try:
        return smp.Unet(
            encoder_name=spec.encoder,
            encoder_depth=len(spec.decoder_channels),
            encoder_weights=None,
            decoder_channels=tuple(spec.decoder_channels),
            in_channels=spec.in_channels,
            classes=1,
            activation=None,
        )
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise ModelLoadError(path, f"cannot build the segmenter U-Net: {exc}") from exc


def _state_to_tensors(module: nn.Module, *, fp16: bool) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in module.state_dict().items():
        t = value.detach().to("cpu")
        if fp16 and t.is_floating_point():
            t = t.to(torch.float16)
        out[key] = t.contiguous().clone()
    return out


def _atomic_write(path: Path, data: bytes, *, overwrite: bool) -> None:
    try:
        from pneumoviewer.core.export import atomic_write_bytes
    except ImportError:  # pragma: no cover - only before core/export.py exists
        atomic_write_bytes = None
    if atomic_write_bytes is not None:
        atomic_write_bytes(path, data, overwrite=overwrite)
        return
    if path.exists() and not overwrite:  # pragma: no cover
        raise FileExistsError(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")  # pragma: no cover
    tmp.write_bytes(data)  # pragma: no cover
    os.replace(tmp, path)  # pragma: no cover


def save_model_dir(
    model_dir: str | os.PathLike,
    manifest: ModelManifest,
    *,
    classifier: nn.Module | None = None,
    segmenter: nn.Module | None = None,
    fp16: bool = False,
    overwrite: bool = True,
) -> ModelManifest:
    """Write a model directory: weights as safetensors, then ``manifest.json`` with hashes.

    Parameters
    ----------
    model_dir : path-like
        Created when missing.
    manifest : ModelManifest
        Must describe a classifier exactly when ``classifier`` is given (same for the
        segmenter); its ``sha256`` is replaced by the hashes of the written files.
    classifier, segmenter : torch.nn.Module or None
        The networks whose ``state_dict`` is saved.
    fp16 : bool
        Store floating-point tensors as float16 (half the size; loading casts back).
    overwrite : bool
        Replace existing files (``FileExistsError`` otherwise).

    Returns
    -------
    ModelManifest
        The manifest as written (with the sha256 of each weights file).

    """
    model_dir = Path(model_dir)
    for label, spec, net in (
        ("classifier", manifest.classifier, classifier),
        ("segmenter", manifest.segmenter, segmenter),
    ):
        if (spec is None) != (net is None):
            raise ValueError(f"{label}: the manifest and the arguments disagree on its presence")
    model_dir.mkdir(parents=True, exist_ok=True)
    hashes: dict[str, str] = {}
    for spec, net in ((manifest.classifier, classifier), (manifest.segmenter, segmenter)):
        if spec is None or net is None:
            continue
        data = safetensors_save(_state_to_tensors(net, fp16=fp16), metadata={"format": "pt"})
        _atomic_write(model_dir / spec.weights, data, overwrite=overwrite)
        hashes[spec.weights] = hashlib.sha256(data).hexdigest()
    written = dataclasses.replace(manifest, sha256=hashes)
    _atomic_write(model_dir / MANIFEST_NAME, written.to_json().encode("utf-8"), overwrite=overwrite)
    return written


def _read_weights(model_dir: Path, manifest: ModelManifest, name: str, field: str):
    path = model_dir / name
    if not path.is_file():
        raise ModelLoadError(path, f"weights file is missing (named by manifest field '{field}')")
    expected = manifest.sha256.get(name)
    if expected is None:
        raise ModelLoadError(
            model_dir / MANIFEST_NAME, f"field 'sha256.{name}': no sha256 recorded for {name}"
        )
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ModelLoadError(
            path,
            f"sha256 mismatch: the file hashes to {actual[:12]}..., the manifest says "
            f"{expected[:12]}... (file changed or corrupted)",
        )
    try:
        tensors = safetensors_load(data)
    except Exception as exc:  # safetensors raises its own error types
        raise ModelLoadError(path, f"not a valid safetensors file: {exc}") from exc
    return path, {
        k: (v.float() if v.dtype in (torch.float16, torch.bfloat16) else v)
        for k, v in tensors.items()
    }


def _load_state(module: nn.Module, state: Mapping[str, torch.Tensor], path: Path) -> None:
    """Strictly load ``state`` into ``module``; any mismatch raises ModelLoadError."""
    own = module.state_dict()

    def listed(keys: list[str]) -> str:
        more = f" and {len(keys) - _MAX_LISTED_KEYS} more" if len(keys) > _MAX_LISTED_KEYS else ""
        return ", ".join(keys[:_MAX_LISTED_KEYS]) + more

    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} (file {tuple(state[k].shape)}, model {tuple(v.shape)})"
        for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys: {listed(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {listed(unexpected)}")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatches: {listed(shapes)}")
    if problems:
        raise ModelLoadError(
            path, "weights do not match the architecture in manifest.json: " + "; ".join(problems)
        )
    try:
        module.load_state_dict(dict(state), strict=True)
    except RuntimeError as exc:  # pragma: no cover - checked above
        raise ModelLoadError(path, f"weights do not match the architecture: {exc}") from exc


def load_model_dir(
    model_dir: str | os.PathLike, *, device: str | torch.device = "cpu"
) -> LoadedModel:
    """Load a model directory: validate, verify hashes, build, load weights, eval mode.

    Parameters
    ----------
    model_dir : path-like
        Folder with ``manifest.json`` and the weights files it names.
    device : str or torch.device
        Where to put the networks.

    Returns
    -------
    LoadedModel
        The networks are float32, in eval mode, with gradients disabled.

    Raises
    ------
    ModelLoadError
        Bad manifest, unknown encoder, missing weights file, sha256 mismatch, missing or
        unexpected keys, shape mismatches; the message says which and names the file.

    """
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    manifest_path = model_dir / MANIFEST_NAME
    nets: dict[str, nn.Module | None] = {"classifier": None, "segmenter": None}
    for field, spec in (("classifier", manifest.classifier), ("segmenter", manifest.segmenter)):
        if spec is None:
            continue
        if field == "classifier":
            net = build_classifier(spec)
        else:
            net = build_segmenter(spec, path=manifest_path)
        path, state = _read_weights(model_dir, manifest, spec.weights, f"{field}.weights")
        _load_state(net, state, path)
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        nets[field] = net.to(device)
    return LoadedModel(manifest, nets["classifier"], nets["segmenter"])


def import_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read tensors from a PyTorch ``.pt``/``.pth`` checkpoint without executing code.

    Uses ``torch.load(weights_only=True)``: a pickle that would run code (or holds any
    object other than tensors and plain containers) is refused. A checkpoint holding
    ``{"state_dict": {...}}`` or ``{"model": {...}}`` is unwrapped, and a ``module.``
    prefix (DataParallel) is removed.

    Parameters
    ----------
    path : path-like
        The checkpoint file.

    Returns
    -------
    dict of str to torch.Tensor

    Raises
    ------
    ModelLoadError
        When the file is missing, is not a safe weights-only checkpoint, or holds no tensors.

    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(path, "checkpoint file does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError, EOFError, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            path,
            "refused: not a plain weights checkpoint (torch.load with weights_only=True "
            f"failed; it may contain code or be corrupt): {first[:200]}",
        ) from exc
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj:
        raise ModelLoadError(path, "the checkpoint does not hold a dictionary of tensors")
    out: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ModelLoadError(path, f"entry {key!r} is not a tensor")
        out[key.removeprefix("module.")] = value
    return out
