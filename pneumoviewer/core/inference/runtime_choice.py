"""``auto``: the fastest *faithful* runtime for each network, measured once per machine.

Faithful (issue #11): on the bundled samples, against torch fp32,

- classifier: the probability differs by at most :data:`MAX_PROB_DIFF` (0.02) on every
  sample;
- segmenter: the mask binarised at the operating threshold (the post-processing's bottom
  threshold) has Dice >= :data:`MIN_DICE` (0.99) on every sample (two empty masks: 1).

A runtime that fails this on a network is not used for that network. The choice (and the
numbers behind it) is cached next to the converted models, keyed by the weights' sha256
and a fingerprint of the machine (CPU, thread count, runtime versions), so it is measured
once: :func:`choose`.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from pneumoviewer.core.inference.runtimes import (
    RUNTIMES,
    Runner,
    _cpu_flags,
    cache_root,
    make_runner,
    unavailable_reason,
)
from pneumoviewer.core.io import atomic_write_text

__all__ = ["MAX_PROB_DIFF", "MIN_DICE", "RuntimeReport", "choose", "evaluate", "machine_key"]

MAX_PROB_DIFF = 0.02
MIN_DICE = 0.99
_CHOICE_VERSION = 1


@dataclass(frozen=True, slots=True)
class RuntimeReport:
    """How one runtime did on one network.

    ``ms`` is the median time of one forward pass at batch 1 (None when it failed);
    ``faithfulness`` the worst probability difference (classifier) or the worst Dice
    (segmenter) over the samples; ``reason`` says why it is unavailable / unfaithful.
    """

    runtime: str
    ms: float | None
    faithful: bool
    faithfulness: float | None
    reason: str = ""


def _versions() -> str:
    parts = [f"torch {torch.__version__}"]
    for mod in ("onnxruntime", "openvino"):
        try:
            parts.append(f"{mod} {__import__(mod).__version__}")
        except Exception:
            parts.append(f"{mod} -")
    return ", ".join(parts)


def machine_key() -> str:
    """Return a short fingerprint of this machine for the cached choice."""
    model = ""
    try:
        for line in open("/proc/cpuinfo", encoding="ascii", errors="replace"):  # noqa: SIM115
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    flags = sorted(f for f in _cpu_flags() if f.startswith(("avx", "amx", "fma", "sse4")))
    text = "|".join(
        [platform.machine(), model, " ".join(flags), str(torch.get_num_threads()), _versions()]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def dice_binary(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two boolean masks (1.0 when both are empty)."""
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


def _first(out):
    return out[0] if isinstance(out, tuple) else out


def _time(runner: Runner, x: torch.Tensor, reps: int) -> float:
    runner(x)  # warm-up (graph compilation, caches)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        runner(x)
        times.append((time.perf_counter() - t) * 1000.0)
    return float(np.median(times))


def evaluate(
    make: Callable[[str], Runner],
    batch: np.ndarray,
    *,
    kind: str,
    to_probability: Callable[[np.ndarray], np.ndarray] | None = None,
    threshold: float = 0.5,
    runtimes: tuple[str, ...] = RUNTIMES,
    reps: int = 3,
) -> list[RuntimeReport]:
    """Measure speed and faithfulness of each runtime on one network.

    Parameters
    ----------
    make : callable
        ``make(runtime_name) -> runner`` (raises when it cannot be built).
    batch : numpy.ndarray
        float32 (N, C, S, S) model inputs of the samples.
    kind : {"classifier", "segmenter"}
    to_probability : callable
        Classifier only: raw outputs (N, K) float64 -> probabilities (N,).
    threshold : float
        Segmenter only: the pixel threshold of the mask.
    runtimes : tuple of str
        The candidates; ``torch`` (the reference) is always measured first.
    reps : int
        Timed repetitions at batch 1 (median).

    Returns
    -------
    list of RuntimeReport
        One per candidate, in ``runtimes`` order.
    """
    x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
    ref = None
    reports = []
    for name in ("torch", *[r for r in runtimes if r != "torch"]):
        reason = unavailable_reason(name)
        if reason is not None:
            reports.append(RuntimeReport(name, None, False, None, reason))
            continue
        try:
            runner = make(name)
            out = _first(runner(x)).numpy()
            ms = _time(runner, x[:1], reps)
        except Exception as exc:  # a runtime that cannot run this network is not used
            reports.append(RuntimeReport(name, None, False, None, f"failed: {exc}"[:300]))
            continue
        if kind == "classifier":
            value = to_probability(out.astype(np.float64))
            if ref is None:
                ref = value
            worst = float(np.max(np.abs(value - ref)))
            faithful = worst <= MAX_PROB_DIFF
            why = "" if faithful else f"probability differs by {worst:.4f} > {MAX_PROB_DIFF}"
        else:
            mask = torch.sigmoid(torch.from_numpy(out[:, 0])).numpy() >= threshold
            if ref is None:
                ref = mask
            worst = min(dice_binary(m, r) for m, r in zip(mask, ref, strict=True))
            faithful = worst >= MIN_DICE
            why = "" if faithful else f"mask Dice {worst:.4f} < {MIN_DICE}"
        reports.append(RuntimeReport(name, ms, faithful, worst, why))
    return [r for name in runtimes for r in reports if r.runtime == name]


def fastest(reports: list[RuntimeReport]) -> str:
    """Return the fastest faithful runtime of ``reports`` (``torch`` when none is)."""
    ok = [r for r in reports if r.faithful and r.ms is not None]
    return min(ok, key=lambda r: r.ms).runtime if ok else "torch"


def choose(
    key: str,
    make: Callable[[str], Runner],
    batch: np.ndarray,
    *,
    kind: str,
    to_probability: Callable[[np.ndarray], np.ndarray] | None = None,
    threshold: float = 0.5,
) -> tuple[str, list[RuntimeReport]]:
    """Return ``(runtime, reports)`` for a network: cached, or measured now and cached.

    ``key`` names the network's weights (sha256 + kind); the cache file is
    ``<cache>/<key>/choice-<machine>.json``.
    """
    path = cache_root() / key / f"choice-{machine_key()}-t{threshold:g}.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") == _CHOICE_VERSION:
                reports = [RuntimeReport(**r) for r in data["reports"]]
                return data["runtime"], reports
        except (OSError, ValueError, TypeError, KeyError):
            pass  # measured again and rewritten
    reports = evaluate(make, batch, kind=kind, to_probability=to_probability, threshold=threshold)
    runtime = fastest(reports)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "version": _CHOICE_VERSION,
        "runtime": runtime,
        "kind": kind,
        "machine": machine_key(),
        "reports": [asdict(r) for r in reports],
    }
    atomic_write_text(path, json.dumps(data, indent=2) + "\n", overwrite=True)
    return runtime, reports


def runner_factory(net, *, key: str, input_size: int, in_channels: int):
    """Return ``make(name) -> runner`` for :func:`evaluate` / :func:`choose`."""

    def make(name: str) -> Runner:
        return make_runner(name, net, key=key, input_size=input_size, in_channels=in_channels)

    return make
