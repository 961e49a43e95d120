"""Device choice (auto / cpu / cuda), CUDA-failure detection and the autocast context.

The one implementation for the viewer, ``pneumoviewer predict`` and ``model_training``.
"""

from __future__ import annotations

import contextlib

import torch

__all__ = [
    "DEVICE_CHOICES",
    "autocast_context",
    "autocast_dtype",
    "is_cuda_failure",
    "needs_grad_scaler",
    "resolve_device",
]

#: The values accepted by :func:`resolve_device` (and the ``--device`` option).
DEVICE_CHOICES = ("auto", "cpu", "cuda")


def _cuda_usable() -> bool:
    try:
        return bool(torch.cuda.is_available()) and torch.cuda.device_count() > 0
    except Exception:  # a broken driver must not crash the app
        return False


def resolve_device(
    requested: str = "auto",
    *,
    warnings: list[str] | None = None,
    fallback: bool = True,
    index: int | None = None,
) -> torch.device:
    """Turn a device request into a torch device, falling back to the CPU.

    Parameters
    ----------
    requested : {"auto", "cpu", "cuda"}
        ``auto`` takes CUDA when available, else the CPU; ``cuda`` when CUDA is not
        available falls back to the CPU and appends a warning (or raises, see
        ``fallback``). ``cuda:N`` is accepted too.
    warnings : list of str or None
        Warnings (in words a user understands) are appended here.
    fallback : bool
        False: a CUDA request without a usable GPU raises instead (training, where a
        silent CPU run of hours is worse than an error).
    index : int or None
        With CUDA, use GPU ``index % device_count`` (a DDP process's local rank); None:
        the current GPU (or the ``N`` of ``cuda:N``).

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        When ``requested`` is not one of :data:`DEVICE_CHOICES` or ``cuda:N``.
    RuntimeError
        When CUDA was requested, none is usable and ``fallback`` is False.

    """
    req = (requested or "auto").strip().lower()
    if req not in DEVICE_CHOICES and not req.startswith("cuda:"):
        raise ValueError(f"unknown device {requested!r}; use one of {', '.join(DEVICE_CHOICES)}")
    if req == "cpu":
        return torch.device("cpu")
    usable = _cuda_usable()
    if usable:
        if index is not None:
            return torch.device("cuda", index % torch.cuda.device_count())
        return torch.device(req if req.startswith("cuda") else "cuda")
    if req == "auto":
        return torch.device("cpu")
    if not fallback:
        raise RuntimeError(f"--device {requested} was asked for but no CUDA device is available")
    if warnings is not None:
        warnings.append("CUDA was requested but is not available; running on the CPU.")
    return torch.device("cpu")


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


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """Return the mixed-precision dtype on CUDA (bf16 when supported, else fp16); None on CPU."""
    if device.type != "cuda":
        return None
    try:
        bf16 = torch.cuda.is_bf16_supported()
    except Exception:  # a broken driver must not crash the app
        bf16 = False
    return torch.bfloat16 if bf16 else torch.float16


def needs_grad_scaler(device: torch.device, *, amp: bool = True) -> bool:
    """Return True when training with autocast on ``device`` needs a gradient scaler (fp16)."""
    return amp and autocast_dtype(device) == torch.float16


def autocast_context(
    device: torch.device, *, enabled: bool = True
) -> contextlib.AbstractContextManager:
    """Return mixed-precision autocast on CUDA (see :func:`autocast_dtype`); no-op on CPU.

    Parameters
    ----------
    device : torch.device
        Where the forward pass runs.
    enabled : bool
        False: always a no-op (``--no-amp``).

    Returns
    -------
    contextlib.AbstractContextManager

    """
    dtype = autocast_dtype(device) if enabled else None
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=dtype)
