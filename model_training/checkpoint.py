"""Run checkpoints: weights as safetensors, optimizer as a tensors-only file, state as JSON.

Every file is written atomically (:mod:`pneumoviewer.core.io`): an interrupted run keeps
its previous checkpoint intact.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_save
from torch import nn

from pneumoviewer.core.errors import ModelLoadError
from pneumoviewer.core.io import atomic_write_bytes, atomic_write_text, atomic_writer

CHECKPOINTS = "checkpoints"


def save_weights(path: str | Path, model: nn.Module) -> Path:
    """Write a module's state dict as safetensors (float32, contiguous CPU copies)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, safetensors_save(state, metadata={"format": "pt"}), overwrite=True)
    return path


def load_weights(path: str | Path, model: nn.Module) -> nn.Module:
    """Load safetensors weights into ``model`` strictly; ModelLoadError when they differ."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(path, "checkpoint weights file does not exist")
    state = load_file(str(path))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(path, f"weights do not match the model: {exc}") from exc
    return model


def save_checkpoint(
    run_dir: str | Path,
    tag: str,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    state: dict,
    scaler: torch.amp.GradScaler | None = None,
) -> Path:
    """Write ``checkpoints/{tag}.safetensors``, ``{tag}.optim.pt`` and ``{tag}.json``.

    The optimizer file holds only tensors and plain containers, so it loads with
    ``torch.load(weights_only=True)``.
    """
    ck = Path(run_dir) / CHECKPOINTS
    ck.mkdir(parents=True, exist_ok=True)
    save_weights(ck / f"{tag}.safetensors", model)
    if optimizer is not None:
        payload = {"optimizer": optimizer.state_dict()}
        if scaler is not None and scaler.is_enabled():
            payload["scaler"] = scaler.state_dict()
        with atomic_writer(ck / f"{tag}.optim.pt", overwrite=True) as f:
            torch.save(payload, f)
    text = json.dumps(state, indent=2, default=float) + "\n"
    atomic_write_text(ck / f"{tag}.json", text, overwrite=True)
    return ck / f"{tag}.safetensors"


def load_checkpoint(
    run_dir: str | Path,
    tag: str,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> dict:
    """Restore weights (and optimizer/scaler when given); return the JSON state."""
    ck = Path(run_dir) / CHECKPOINTS
    state_path = ck / f"{tag}.json"
    if not state_path.is_file():
        raise ModelLoadError(state_path, "no checkpoint state to resume from")
    load_weights(ck / f"{tag}.safetensors", model)
    if optimizer is not None and (ck / f"{tag}.optim.pt").is_file():
        payload = torch.load(ck / f"{tag}.optim.pt", map_location="cpu", weights_only=True)
        optimizer.load_state_dict(payload["optimizer"])
        if scaler is not None and "scaler" in payload:
            scaler.load_state_dict(payload["scaler"])
    return json.loads(state_path.read_text(encoding="utf-8"))
