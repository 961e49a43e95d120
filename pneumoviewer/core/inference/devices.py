"""Device choice (auto / cpu / cuda), CUDA-failure detection and the autocast context."""

from __future__ import annotations

import contextlib

import torch

__all__ = [
    "DEVICE_CHOICES",
    "autocast_context",
    "is_cuda_failure",
    "resolve_device",
]

#: The values accepted by :func:`resolve_device` (and the ``--device`` option).
DEVICE_CHOICES = ("auto", "cpu", "cuda")


def _cuda_usable() -> bool:
    try:
        return bool(torch.cuda.is_available()) and torch.cuda.device_count() > 0
    except Exception:  # a broken driver must not crash the app
        return False


def resolve_device(requested: str = "auto", *, warnings: list[str] | None = None) -> torch.device:
    """Turn a device request into a torch device, falling back to the CPU.

    Parameters
    ----------
    requested : {"auto", "cpu", "cuda"}
        ``auto`` takes CUDA when available, else the CPU; ``cuda`` when CUDA is not
        available falls back to the CPU and appends a warning.
    warnings : list of str or None
        Warnings (in words a user understands) are appended here.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        When ``requested`` is not one of :data:`DEVICE_CHOICES` (also ``cuda:N`` is accepted).

    """
    req = (requested or "auto").strip().lower()
    if req == "cpu":
        return torch.device("cpu")
    if req == "auto":
        return torch.device("cuda") if _cuda_usable() else torch.device("cpu")
    if req == "cuda" or req.startswith("cuda:"):
        if _cuda_usable():
            return torch.device(req)
        if warnings is not None:
            warnings.append("CUDA was requested but is not available; running on the CPU.")
        return torch.device("cpu")
    raise ValueError(f"unknown device {requested!r}; use one of {', '.join(DEVICE_CHOICES)}")


def is_cuda_failure(exc: BaseException) -> bool:
    """Return True when ``exc`` looks like a CUDA problem worth a CPU fallback.

    Out of memory, no kernel image for this GPU, driver or cuDNN/cuBLAS errors.
    """
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    accel = getattr(torch, "AcceleratorError", None)
    if accel is not None and isinstance(exc, accel):
        return True
    if isinstance(exc, RuntimeError):
        text = str(exc).lower()
        return any(
            word in text
            for word in ("cuda", "cudnn", "cublas", "no kernel image", "out of memory", "nvrtc")
        )
    return False


def autocast_context(device: torch.device) -> contextlib.AbstractContextManager:
    """Return mixed-precision autocast on CUDA (bf16 when supported, else fp16); no-op on CPU."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    try:
        bf16 = torch.cuda.is_bf16_supported()
    except Exception:
        bf16 = False
    return torch.autocast("cuda", dtype=torch.bfloat16 if bf16 else torch.float16)
