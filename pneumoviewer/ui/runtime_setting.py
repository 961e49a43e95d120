"""The viewer's CPU-runtime setting (#11): names, availability and the words shown.

Torch-free on purpose: the toolbar is built before the first paint, and importing
:mod:`pneumoviewer.core.inference.runtimes` would import torch (2-4 s), while asking it
whether ONNX Runtime / OpenVINO can run would import them into the GUI process. So the
optional runtimes are looked up with :func:`importlib.util.find_spec` (nothing is
imported) and native bfloat16 from the CPU flags, as the core does it
(:func:`pneumoviewer.core.inference.runtimes.unavailable_reason` is the authority: the
inference worker resolves the choice with ``default_runtime`` and says when it had to
use another runtime).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

#: The setting's values in the order of the combo box (same as core's RUNTIME_CHOICES).
RUNTIME_CHOICES = ("auto", "torch", "torch-bf16", "onnxruntime", "openvino")
#: The words of each value in the combo box.
RUNTIME_LABELS = {
    "auto": "Auto",
    "torch": "PyTorch",
    "torch-bf16": "PyTorch bf16",
    "onnxruntime": "ONNX Runtime",
    "openvino": "OpenVINO",
}
#: Tooltips of the available entries.
RUNTIME_HINTS = {
    "auto": "The fastest runtime that is faithful to PyTorch fp32 on the bundled samples, "
    "per network (measured once per model and machine)",
    "torch": "PyTorch fp32 (the reference)",
    "torch-bf16": "PyTorch with CPU autocast to bfloat16",
    "onnxruntime": "ONNX Runtime (the model is exported to ONNX once, cached)",
    "openvino": "OpenVINO (the model is exported to ONNX once, cached)",
}
#: The QSettings key of the setting.
SETTINGS_KEY = "runtime"
#: Environment variable with the default (tests set it to torch); the setting wins.
RUNTIME_ENV = "PNEUMOVIEWER_RUNTIME"
INSTALL_HINT = "pip install 'pneumoviewer[runtimes]'"


def _cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str] | None:
    """Return the CPU flags (None when the system does not list them)."""
    try:
        text = cpuinfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return None


def runtime_unavailable(name: str) -> str | None:
    """Return None when runtime ``name`` can be chosen here, else why not and how to fix it.

    Parameters
    ----------
    name : str
        One of :data:`RUNTIME_CHOICES`.

    Returns
    -------
    str or None
        E.g. ``"openvino is not installed: pip install 'pneumoviewer[runtimes]'"``.
        Where the CPU flags are unknown (not Linux), ``torch-bf16`` is offered: the worker
        falls back and says so when the CPU has no native bfloat16.
    """
    if name in ("auto", "torch"):
        return None
    if name == "torch-bf16":
        flags = _cpu_flags()
        if flags is None or flags & {"avx512_bf16", "amx_bf16"}:
            return None
        return "this CPU has no native bfloat16 (avx512_bf16 or AMX): it would be slower"
    if name in ("onnxruntime", "openvino"):
        missing = [m for m in ("onnx", name) if importlib.util.find_spec(m) is None]
        if missing:
            return f"{' and '.join(missing)} not installed: {INSTALL_HINT}"
        return None
    return f"unknown runtime {name!r}"


def initial_runtime(stored: str | None) -> str:
    """Return the combo's value at start: the stored setting, else ``$PNEUMOVIEWER_RUNTIME``.

    Each only when it is a known runtime that can run here; else ``auto``.
    """
    for value in (stored, os.environ.get(RUNTIME_ENV)):
        if value in RUNTIME_CHOICES and runtime_unavailable(value) is None:
            return value
    return "auto"


#: Short names of the networks and runtimes (the status bar's room is scarce).
SHORT_NETWORKS = {"classifier": "cls", "segmenter": "seg"}
SHORT_LABELS = {**RUNTIME_LABELS, "onnxruntime": "ORT"}


def describe_runtimes(
    device: str, runtimes: Mapping[str, str], choice: str = "", *, short: bool = False
) -> str:
    """Say where and on what each network runs, for the status bar and the Model tab.

    Parameters
    ----------
    device : str
        ``"cpu"`` or ``"cuda"``.
    runtimes : mapping of str to str
        Network kind -> runtime it runs on (the engine's ``runtimes``).
    choice : str
        The setting the engine was built with (``"auto"`` marks auto's pick).
    short : bool
        Name the networks ``cls`` / ``seg`` and ONNX Runtime ``ORT`` (the status bar).

    Returns
    -------
    str
        ``"cpu · OpenVINO (auto)"`` when every network runs on one runtime, else
        ``"cpu · classifier OpenVINO, segmenter ONNX Runtime (auto)"`` (short:
        ``"cpu · cls OpenVINO, seg ORT (auto)"``).
    """
    labels = SHORT_LABELS if short else RUNTIME_LABELS
    names = {labels.get(v, v) for v in runtimes.values()}
    if not runtimes:
        return device
    if len(names) == 1:
        text = next(iter(names))
    else:
        networks = SHORT_NETWORKS if short else {}
        text = ", ".join(f"{networks.get(k, k)} {labels.get(v, v)}" for k, v in runtimes.items())
    return f"{device} · {text}" + (" (auto)" if choice == "auto" else "")
