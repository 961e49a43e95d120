"""Device choice and autocast: one implementation for the viewer, predict and training."""

from __future__ import annotations

import contextlib

import pytest
import torch

from pneumoviewer.core.inference import devices
from pneumoviewer.core.inference.devices import (
    autocast_context,
    autocast_dtype,
    needs_grad_scaler,
    resolve_device,
)


@pytest.fixture
def gpus(monkeypatch):
    """Pretend ``n`` usable GPUs (0: none) without touching CUDA."""

    def set_count(n: int) -> None:
        monkeypatch.setattr(devices, "_cuda_usable", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)

    return set_count


def test_without_gpu(gpus):
    gpus(0)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    warnings: list[str] = []
    assert resolve_device("cuda", warnings=warnings) == torch.device("cpu")
    assert warnings == ["CUDA was requested but is not available; running on the CPU."]
    with pytest.raises(RuntimeError, match="--device cuda was asked for but no CUDA device"):
        resolve_device("cuda", fallback=False)
    assert resolve_device("auto", fallback=False, index=3) == torch.device("cpu")


def test_with_gpus_the_rank_picks_its_own(gpus):
    gpus(2)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("auto", index=3) == torch.device("cuda", 1)  # local rank 3 of 2 GPUs
    assert resolve_device("cuda", fallback=False, index=0) == torch.device("cuda", 0)


def test_unknown_device_is_refused():
    with pytest.raises(ValueError, match="unknown device 'tpu'; use one of auto, cpu, cuda"):
        resolve_device("tpu")


@pytest.mark.filterwarnings("ignore:CUDA is not available:UserWarning")  # CPU-only test machine
def test_autocast_only_on_cuda(monkeypatch):
    cpu = torch.device("cpu")
    assert autocast_dtype(cpu) is None and not needs_grad_scaler(cpu, amp=True)
    assert isinstance(autocast_context(cpu), contextlib.nullcontext)
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert autocast_dtype(cuda) == torch.float16
    assert needs_grad_scaler(cuda, amp=True) and not needs_grad_scaler(cuda, amp=False)
    assert isinstance(autocast_context(cuda, enabled=False), contextlib.nullcontext)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert autocast_dtype(cuda) == torch.bfloat16 and not needs_grad_scaler(cuda, amp=True)
    ctx = autocast_context(cuda)
    assert isinstance(ctx, torch.autocast) and ctx.fast_dtype == torch.bfloat16


def test_broken_driver_means_no_bf16(monkeypatch):
    def boom():
        raise RuntimeError("driver exploded")

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", boom)
    assert autocast_dtype(torch.device("cuda")) == torch.float16
