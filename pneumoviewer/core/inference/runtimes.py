"""CPU runtimes for the two networks: torch fp32, torch bf16 autocast, ONNX Runtime, OpenVINO.

A *runner* is a callable ``runner(x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor,
...]`` that takes the float32 (N, C, S, S) batch the engine built and returns float32
outputs on the CPU, exactly like the torch network it replaces. The engine keeps its
preprocessing, TTA and post-processing; only the forward pass changes.

- ``torch``: the network itself, fp32 (CUDA: the device's autocast, see :mod:`.devices`).
- ``torch-bf16``: CPU autocast to bfloat16; only where the CPU has native bf16
  (``avx512_bf16`` or AMX: :func:`bf16_supported`), elsewhere it is emulated and slower.
- ``onnxruntime`` / ``openvino``: the network exported once to ONNX
  (``torch.onnx.export(..., dynamo=False, opset_version=17)``, batch axis dynamic), run by
  ONNX Runtime (fp32) or OpenVINO (its default precision: bf16 on CPUs with native bf16,
  else fp32). Both are optional (``pip install 'pneumoviewer[runtimes]'``) and imported
  lazily; absent, the runtime is unavailable with a reason (:func:`unavailable_reason`).

Converted models live in the user's cache directory (``platformdirs.user_cache_dir
("pneumoviewer")/runtimes``, or ``$PNEUMOVIEWER_RUNTIME_CACHE``), keyed by the weights'
sha256, never in the model directory; each file is written atomically
(:mod:`pneumoviewer.core.io`). Nothing is downloaded: export is a local trace of the
loaded network. Choosing the fastest *faithful* runtime (``auto``) lives in
:mod:`.runtime_choice`.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from pneumoviewer.core.io import atomic_write_bytes

__all__ = [
    "CACHE_ENV",
    "RUNTIMES",
    "RUNTIME_CHOICES",
    "Runner",
    "bf16_supported",
    "cache_root",
    "default_runtime",
    "make_runner",
    "onnx_file",
    "unavailable_reason",
]

#: The runtimes, in the order ``auto`` tries them (ties go to the earlier one).
RUNTIMES = ("torch", "torch-bf16", "onnxruntime", "openvino")
#: The values of ``--runtime`` (and the viewer's setting).
RUNTIME_CHOICES = ("auto", *RUNTIMES)
#: Environment variable overriding the cache folder of converted models (tests use it).
CACHE_ENV = "PNEUMOVIEWER_RUNTIME_CACHE"
ONNX_OPSET = 17

Runner = Callable[[torch.Tensor], "torch.Tensor | tuple[torch.Tensor, ...]"]

_export_lock = threading.Lock()


def cache_root() -> Path:
    """Return the folder of converted models and runtime choices (created when missing)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        root = Path(env)
    else:
        import platformdirs

        root = Path(platformdirs.user_cache_dir("pneumoviewer", appauthor=False)) / "runtimes"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def bf16_supported() -> bool:
    """Return True when the CPU computes bfloat16 natively (avx512_bf16 or AMX)."""
    flags = _cpu_flags()
    if flags & {"avx512_bf16", "amx_bf16"}:
        return True
    try:  # macOS / Windows: ask oneDNN
        if not flags:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # pragma: no cover - older torch
        pass
    return False


def unavailable_reason(name: str) -> str | None:
    """Return None when runtime ``name`` can run here, else why not (in words)."""
    if name == "torch":
        return None
    if name == "torch-bf16":
        return None if bf16_supported() else "this CPU has no native bfloat16 (avx512_bf16/AMX)"
    if name in ("onnxruntime", "openvino"):
        try:
            import onnx  # noqa: F401  (torch.onnx.export needs it)

            if name == "onnxruntime":
                import onnxruntime  # noqa: F401
            else:
                import openvino  # noqa: F401
        except ImportError as exc:
            return f"{exc.name or name} is not installed (pip install 'pneumoviewer[runtimes]')"
        return None
    return f"unknown runtime {name!r} (choose from {', '.join(RUNTIME_CHOICES)})"


#: Environment variable with the default runtime (predict's ``--runtime``, the viewer).
RUNTIME_ENV = "PNEUMOVIEWER_RUNTIME"


def default_runtime(setting: str | None = None) -> str:
    """Return the runtime to use: ``setting``, else ``$PNEUMOVIEWER_RUNTIME``, else ``auto``.

    Each only when valid and available here. The viewer passes its ``runtime`` setting
    (settings INI); an unknown or no longer installed runtime falls back to ``auto``
    instead of failing the model load.
    """
    for value in (setting, os.environ.get(RUNTIME_ENV)):
        if value == "auto" or (value in RUNTIMES and unavailable_reason(value) is None):
            return value
    return "auto"


def onnx_file(net: nn.Module, *, key: str, input_size: int, in_channels: int) -> Path:
    """Return the cached ONNX export of ``net`` (exported now when missing).

    Parameters
    ----------
    net : torch.nn.Module
        The network as the engine runs it (fp32, CPU); its outputs become the graph's
        outputs (one tensor, or a tuple).
    key : str
        Cache key: the weights' sha256 plus what shapes the graph (kind, outputs).
    input_size, in_channels : int
        The input is (N, in_channels, input_size, input_size), N dynamic.
    """
    path = cache_root() / key / f"model-{input_size}.onnx"
    if path.is_file():
        return path
    with _export_lock:
        if path.is_file():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        was_training = net.training
        net.eval()
        dummy = torch.zeros(1, in_channels, input_size, input_size)
        with torch.no_grad():
            probe = net(dummy)
        n_out = len(probe) if isinstance(probe, tuple) else 1
        names = [f"out{i}" for i in range(n_out)]
        buf = io.BytesIO()
        with torch.no_grad():
            torch.onnx.export(
                net,
                (dummy,),
                buf,
                dynamo=False,
                opset_version=ONNX_OPSET,
                input_names=["x"],
                output_names=names,
                dynamic_axes={"x": {0: "n"}, **{n: {0: "n"} for n in names}},
            )
        net.train(was_training)
        atomic_write_bytes(path, buf.getvalue(), overwrite=True)
    return path


def _threads() -> int:
    return max(1, torch.get_num_threads())


def _torch_runner(net: nn.Module, *, bf16: bool) -> Runner:
    def run(x: torch.Tensor):
        x = x.contiguous(memory_format=torch.channels_last)
        if bf16:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                out = net(x)
        else:
            with torch.inference_mode():
                out = net(x)
        if isinstance(out, tuple):
            return tuple(o.float() for o in out)
        return out.float()

    return run


def _ort_runner(path: Path) -> Runner:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = _threads()
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    n_out = len(session.get_outputs())

    def run(x: torch.Tensor):
        outs = session.run(None, {"x": x.contiguous().numpy()})
        tensors = tuple(torch.from_numpy(o) for o in outs)
        return tensors if n_out > 1 else tensors[0]

    return run


def _ov_runner(path: Path) -> Runner:
    import openvino as ov

    core = ov.Core()
    config = {
        "INFERENCE_NUM_THREADS": _threads(),
        "PERFORMANCE_HINT": "LATENCY",
        "CACHE_DIR": str(path.parent / "openvino"),
    }
    compiled = core.compile_model(str(path), "CPU", config)
    lock = threading.Lock()  # one infer request, one caller at a time
    request = compiled.create_infer_request()
    n_out = len(compiled.outputs)

    def run(x: torch.Tensor):
        with lock:
            request.infer({0: x.contiguous().numpy()})
            outs = [request.get_output_tensor(i).data.copy() for i in range(n_out)]
        tensors = tuple(torch.from_numpy(o) for o in outs)
        return tensors if n_out > 1 else tensors[0]

    return run


def make_runner(
    name: str, net: nn.Module, *, key: str, input_size: int, in_channels: int
) -> Runner:
    """Build the runner of ``net`` on runtime ``name`` (see the module docstring).

    Raises
    ------
    RuntimeError
        When the runtime is unavailable here (with the reason).
    """
    reason = unavailable_reason(name)
    if reason is not None:
        raise RuntimeError(f"runtime {name} unavailable: {reason}")
    if name in ("torch", "torch-bf16"):
        return _torch_runner(net, bf16=name == "torch-bf16")
    path = onnx_file(net, key=key, input_size=input_size, in_channels=in_channels)
    return _ort_runner(path) if name == "onnxruntime" else _ov_runner(path)
