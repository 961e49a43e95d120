"""Build the networks a manifest describes, save and load model directories (never downloads).

Architectures come from registries: ``torchvision.models.get_model`` for the classifier and
``segmentation_models_pytorch.create_model`` for the segmenter, named by the manifest, so a
second architecture or encoder is a manifest change; unknown names are refused with the list
of valid ones.

Loading never executes code: weights come from ``.safetensors`` files whose sha256 is
checked against the manifest; the architectures are built with ``weights=None`` /
``encoder_weights=None``; ``.pt``/``.pth`` files are only read through
:func:`import_checkpoint`, which uses ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
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
from pneumoviewer.core.io import atomic_write_bytes, atomic_write_text

__all__ = [
    "LoadedModel",
    "build_classifier",
    "build_segmenter",
    "classifier_architecture_names",
    "import_checkpoint",
    "load_model_dir",
    "save_model_dir",
    "segmenter_architecture_names",
    "segmenter_encoder_names",
]

_MAX_LISTED_KEYS = 5
_DEFAULT_DECODER_CHANNELS = SegmenterSpec().decoder_channels


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


def segmenter_architecture_names() -> list[str]:
    """Return the architectures ``segmentation_models_pytorch.create_model`` knows."""
    import segmentation_models_pytorch as smp

    return list(smp.MODEL_ARCHITECTURES_MAPPING)


def classifier_architecture_names() -> list[str]:
    """Return the classification models ``torchvision.models.get_model`` knows."""
    import torchvision.models

    return list(torchvision.models.list_models(module=torchvision.models))


def _replace_first_conv(model: nn.Module, in_channels: int) -> None:
    """Give the first ``nn.Conv2d`` ``in_channels`` inputs (same name, so same state keys)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            parent_name, _, attr = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            conv = nn.Conv2d(
                in_channels,
                module.out_channels,
                kernel_size=module.kernel_size,
                stride=module.stride,
                padding=module.padding,
                dilation=module.dilation,
                groups=1 if module.groups == module.in_channels else module.groups,
                bias=module.bias is not None,
                padding_mode=module.padding_mode,
            )
            setattr(parent, attr, conv)
            return
    raise ValueError("the network has no convolution to adapt to the input channels")


def build_classifier(spec: ClassifierSpec, *, path: str | os.PathLike = MANIFEST_NAME) -> nn.Module:
    """Build a randomly initialised classifier from torchvision's registry (no download).

    ``torchvision.models.get_model(spec.architecture, weights=None,
    num_classes=spec.num_outputs)``; DenseNet-121 by default.

    Parameters
    ----------
    spec : ClassifierSpec
        ``head="svm"``: the network outputs one margin per image, shape (N, 1);
        ``head="softmax"``: two logits, shape (N, 2). ``in_channels`` other than 3 replaces
        the first convolution.
    path : path-like
        Named in the error when the architecture is unknown.

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    ModelLoadError
        When torchvision does not know the architecture (the message lists the names it
        knows) or cannot build it.

    """
    import torchvision.models

    names = classifier_architecture_names()
    if spec.architecture not in names:
        raise ModelLoadError(
            path,
            f"field 'classifier.architecture': unknown architecture {spec.architecture!r}; "
            f"torchvision knows {', '.join(sorted(names))}",
        )
    try:
        model = torchvision.models.get_model(
            spec.architecture, weights=None, num_classes=spec.num_outputs
        )
        if spec.in_channels != 3:
            _replace_first_conv(model, spec.in_channels)
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        problem = f"cannot build the classifier {spec.architecture}: {exc}"
        raise ModelLoadError(path, problem) from exc
    return model


def build_segmenter(spec: SegmenterSpec, *, path: str | os.PathLike = MANIFEST_NAME) -> nn.Module:
    """Build a randomly initialised smp model with one logit channel (no download).

    ``segmentation_models_pytorch.create_model(arch=spec.architecture,
    encoder_name=spec.encoder, encoder_weights=None, ...)``; a U-Net by default.

    Parameters
    ----------
    spec : SegmenterSpec
        Architecture, encoder, input channels and decoder channels. For architectures
        whose decoder takes a list of channels (U-Net, U-Net++, MA-Net) the encoder depth
        is ``len(spec.decoder_channels)``; the others use their own defaults.
    path : path-like
        Named in the error when the architecture or encoder is unknown.

    Returns
    -------
    torch.nn.Module
        Maps (N, C, S, S) float32 to (N, 1, S, S) logits.

    Raises
    ------
    ModelLoadError
        When smp does not know the architecture or encoder (the message lists the names
        it knows) or cannot build the configuration.

    """
    import segmentation_models_pytorch as smp

    archs = segmenter_architecture_names()
    arch = spec.architecture.lower()
    if arch not in archs:
        raise ModelLoadError(
            path,
            f"field 'segmenter.architecture': unknown architecture {spec.architecture!r}; "
            f"segmentation_models_pytorch knows {', '.join(archs)}",
        )
    names = segmenter_encoder_names()
    if spec.encoder not in names:
        raise ModelLoadError(
            path,
            f"field 'segmenter.encoder': unknown encoder {spec.encoder!r}; "
            f"segmentation_models_pytorch knows {', '.join(sorted(names))}",
        )
    kwargs: dict = {}
    default = inspect.signature(smp.MODEL_ARCHITECTURES_MAPPING[arch]).parameters.get(
        "decoder_channels"
    )
    if default is not None and isinstance(default.default, tuple | list):
        kwargs = {
            "decoder_channels": tuple(spec.decoder_channels),
            "encoder_depth": len(spec.decoder_channels),
        }
    elif tuple(spec.decoder_channels) != _DEFAULT_DECODER_CHANNELS:
        raise ModelLoadError(
            path,
            f"field 'segmenter.decoder_channels': the {arch} architecture takes no list of "
            "decoder channels (leave the field out)",
        )
    try:
        return smp.create_model(
            arch=arch,
            encoder_name=spec.encoder,
            encoder_weights=None,
            in_channels=spec.in_channels,
            classes=1,
            activation=None,
            **kwargs,
        )
    except (ValueError, KeyError, TypeError, RuntimeError, AssertionError) as exc:
        raise ModelLoadError(path, f"cannot build the segmenter {arch}: {exc}") from exc


def _state_to_tensors(module: nn.Module, *, fp16: bool) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in module.state_dict().items():
        t = value.detach().to("cpu")
        if fp16 and t.is_floating_point():
            t = t.to(torch.float16)
        out[key] = t.contiguous().clone()
    return out


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
        atomic_write_bytes(model_dir / spec.weights, data, overwrite=overwrite)
        hashes[spec.weights] = hashlib.sha256(data).hexdigest()
    # OOD statistics are written afterwards by model_training.ood.write_ood (#10): a manifest
    # written here never names a file it did not write
    written = dataclasses.replace(manifest, sha256=hashes, ood=None)
    atomic_write_text(model_dir / MANIFEST_NAME, written.to_json(), overwrite=overwrite)
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


def _load_state(
    module: nn.Module, state: Mapping[str, torch.Tensor], path: Path, *, assign: bool = False
) -> None:
    """Strictly load ``state`` into ``module``; any mismatch raises ModelLoadError.

    ``assign``: the module's tensors become ``state``'s (a module built on the meta device).
    """
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
        module.load_state_dict(dict(state), strict=True, assign=assign)
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
        build = build_classifier if field == "classifier" else build_segmenter
        # #11 (surgical, helper E): built on the meta device and the file's tensors assigned,
        # so the weights are not allocated (and randomly initialised) twice at load; an
        # architecture with non-persistent buffers is built normally instead.
        with torch.device("meta"):
            net = build(spec, path=manifest_path)
        path, state = _read_weights(model_dir, manifest, spec.weights, f"{field}.weights")
        _load_state(net, state, path, assign=True)
        if any(t.is_meta for t in (*net.parameters(), *net.buffers())):
            net = build(spec, path=manifest_path)
            _load_state(net, state, path)
        del state
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
