"""The inference engine: a uint8 image in, a class probability and a probability map out.

Thread-safety: an :class:`InferenceEngine` is meant to be used from one worker thread at a
time (the GUI's analysis worker, or the CLI's main loop). Two threads calling
:meth:`InferenceEngine.predict` at once would share the networks and torch's thread pool;
create one engine per thread instead, or serialise the calls.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pneumoviewer.core.decision import default_params
from pneumoviewer.core.inference.calibration import platt_probability, scores_to_probability
from pneumoviewer.core.inference.devices import autocast_context, is_cuda_failure, resolve_device
from pneumoviewer.core.inference.explain import (  # #10: pooled features, Grad-CAM
    FeatureClassifier,
    grad_cam,
    grad_cam_target,
    supports_features,
)
from pneumoviewer.core.inference.manifest import (
    MANIFEST_NAME,
    ModelManifest,
    file_sha256,
)
from pneumoviewer.core.inference.models import load_model_dir
from pneumoviewer.core.postprocessing import PostprocessParams
from pneumoviewer.core.preprocessing import clahe, to_model_input
from pneumoviewer.core.probability_map import quantise_probability, upsample_probability

__all__ = ["InferenceEngine", "Prediction", "platt_probability", "scores_to_probability"]


def _sample_images() -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Return the bundled samples' pixels (and padding) for the faithfulness check of ``auto``.

    Without the samples (a trimmed install), 4 smooth synthetic images stand in.
    """
    from pneumoviewer import SAMPLES_DIR
    from pneumoviewer.core.dicom_io import load_xray

    out = []
    for path in sorted(SAMPLES_DIR.glob("*.dcm")) if SAMPLES_DIR.is_dir() else []:
        try:
            image = load_xray(path)
        except Exception:  # noqa: BLE001 - a damaged sample is just skipped
            continue
        out.append((image.pixels, image.padding))
    if not out:
        rng = np.random.default_rng(0)
        for _ in range(4):
            small = rng.integers(0, 256, (8, 8)).astype(np.float32)
            big = np.kron(small, np.ones((64, 64), np.float32))
            out.append((big.astype(np.uint8), None))
    return out


def _batch(inputs: list[np.ndarray]) -> np.ndarray:
    """Stack (C, S, S) inputs into (N, C, S, S); one image is a view, not a copy."""
    return inputs[0][None] if len(inputs) == 1 else np.stack(inputs)


@dataclass(frozen=True, slots=True)
class Prediction:
    """What the models say about one image.

    Attributes
    ----------
    image_id : str
        The image's id as given to :meth:`InferenceEngine.predict`.
    class_probability : float or None
        Probability of pneumothorax from the classifier (None without a classifier).
    class_score : float or None
        The raw classifier output: the SVM margin, or ``logit1 - logit0`` for softmax.
    probability_map : numpy.ndarray or None
        float32, shape (H, W) of the input image, values in [0, 1] (None without a
        segmenter). Thresholds are applied later (:mod:`pneumoviewer.core.postprocessing`).
    device : str
        Where it ran (``"cpu"`` or ``"cuda"``).
    seconds : float
        Wall time of preprocessing + models + resizing for this image (preprocessing
        only when :meth:`InferenceEngine.predict` computed its ``inputs`` itself).
    map_at_model_size : numpy.ndarray or None
        float32, shape (s, s) of the segmenter's output, values in [0, 1]: the map before
        it is resized to the image (``probability_map`` is
        ``upsample_probability(quantise_probability(map_at_model_size), (H, W))``). The viewer keeps
        this one (64 KB as uint8 at 256²); None without a segmenter.

    """

    image_id: str
    class_probability: float | None
    class_score: float | None
    probability_map: np.ndarray | None
    device: str
    seconds: float
    map_at_model_size: np.ndarray | None = None
    #: float32 (D,): the classifier's pooled last feature block (DenseNet-121: 1024), for
    #: the out-of-distribution score (:mod:`.ood`); None without a DenseNet classifier (#10).
    features: np.ndarray | None = None


class InferenceEngine:
    """Run a model directory's classifier and segmenter on uint8 images.

    Parameters
    ----------
    model_dir : path-like
        A model directory (``manifest.json`` + safetensors), see :mod:`.manifest`.
    device : {"auto", "cpu", "cuda"}
        ``auto`` prefers CUDA. A CUDA failure (unavailable, out of memory, unsupported GPU)
        at load or inference falls back to the CPU and adds a message to :attr:`warnings`.
    tta : bool
        Horizontal-flip test-time augmentation: average the probabilities of the image and
        its mirror image (the mirrored map is flipped back first).
    runtime : {"torch", "auto", "torch-bf16", "onnxruntime", "openvino"}
        The CPU runtime of the forward passes (:mod:`.runtimes`). ``auto`` picks, per
        network, the fastest runtime that is faithful to torch fp32 on the bundled samples
        (measured once per weights and machine, then cached: :mod:`.runtime_choice`). On
        CUDA the networks always run in torch.

    Attributes
    ----------
    manifest : ModelManifest
    manifest_sha256 : str
        sha256 of ``manifest.json`` (for provenance).
    device : str
        ``"cpu"`` or ``"cuda"``, where the models are now.
    warnings : list of str
        Fallbacks that happened, in words a user understands.
    runtimes : dict of str to str
        The runtime each network runs on (``{"classifier": "openvino", ...}``).
    runtime_reports : dict of str to list
        With ``auto``: the :class:`.runtime_choice.RuntimeReport` of each network.

    Raises
    ------
    ModelLoadError
        When the model directory cannot be loaded.

    Notes
    -----
    Use one engine from one thread at a time (see the module docstring).

    """

    def __init__(
        self,
        model_dir: str | os.PathLike,
        *,
        device: str = "auto",
        tta: bool = False,
        runtime: str = "torch",
    ) -> None:
        self.model_dir = Path(model_dir)
        self.tta = bool(tta)
        self.warnings: list[str] = []
        dev = resolve_device(device, warnings=self.warnings)
        try:
            loaded = load_model_dir(self.model_dir, device=dev)
        except Exception as exc:
            if dev.type != "cuda" or not is_cuda_failure(exc):
                raise
            self.warnings.append(f"Loading the model on CUDA failed ({exc}); using the CPU.")
            dev = torch.device("cpu")
            loaded = load_model_dir(self.model_dir, device=dev)
        self.manifest: ModelManifest = loaded.manifest
        self.manifest_sha256 = file_sha256(self.model_dir / MANIFEST_NAME)
        self._classifier: nn.Module | None = loaded.classifier
        self._segmenter: nn.Module | None = loaded.segmenter
        # #10: the same forward with a non-in-place ReLU, also returning pooled features
        # (shares the classifier's parameters, so _place moves it too)
        self._features: FeatureClassifier | None = (
            FeatureClassifier(loaded.classifier)
            if loaded.classifier is not None and supports_features(loaded.classifier)
            else None
        )
        from pneumoviewer.core.inference.ood import OodDetector

        #: The model's OOD rule (None: the model has no statistics; the check is skipped).
        self.ood: OodDetector | None = OodDetector.from_model_dir(self.model_dir, self.manifest.ood)
        self._place(dev)
        self._runners: dict[int, object] = {}  # id(net) -> runner (CPU only; else torch)
        self.runtimes: dict[str, str] = {}
        self.runtime_reports: dict[str, list] = {}
        self._use_runtime(runtime)

    # --- device handling ----------------------------------------------------------------

    def _place(self, dev: torch.device) -> None:
        fmt = torch.channels_last if dev.type == "cpu" else torch.contiguous_format
        for net in (self._classifier, self._segmenter):
            if net is not None:
                net.to(device=dev, dtype=torch.float32, memory_format=fmt)
        self._device = dev

    def _networks(self):
        """Yield (kind, net as run, spec) for the networks present."""
        cls_net = self._features if self._features is not None else self._classifier
        if cls_net is not None:
            yield "classifier", cls_net, self.manifest.classifier
        if self._segmenter is not None:
            yield "segmenter", self._segmenter, self.manifest.segmenter

    def _use_runtime(self, runtime: str) -> None:
        """Build the runners of ``runtime`` (see the class docstring)."""
        from pneumoviewer.core.inference import runtime_choice as rc
        from pneumoviewer.core.inference.runtimes import RUNTIME_CHOICES, unavailable_reason

        if runtime not in RUNTIME_CHOICES:
            raise ValueError(f"unknown runtime {runtime!r} (choose from {RUNTIME_CHOICES})")
        self._runners = {}
        self.runtimes = {kind: "torch" for kind, _, _ in self._networks()}
        if self._device.type != "cpu":
            if runtime not in ("auto", "torch"):
                self.warnings.append(f"runtime {runtime} runs on the CPU only; torch on CUDA.")
            return
        if runtime != "auto":
            reason = unavailable_reason(runtime)
            if reason is not None:
                raise ValueError(f"runtime {runtime} is unavailable: {reason}")
        samples = None
        for kind, net, spec in self._networks():
            key = f"{file_sha256(self.model_dir / spec.weights)}-{kind}"
            if kind == "classifier" and net is self._features:
                key += "-features"
            make = rc.runner_factory(
                net, key=key, input_size=spec.input_size, in_channels=spec.in_channels
            )
            name = runtime
            if runtime == "auto":
                if samples is None:
                    samples = [self.prepare(p, pad) for p, pad in _sample_images()]
                batch = np.stack([s[0 if kind == "classifier" else 1] for s in samples])
                name, reports = rc.choose(
                    key,
                    make,
                    batch,
                    kind=kind,
                    to_probability=lambda raw: scores_to_probability(raw, self.manifest.classifier)[
                        0
                    ],
                    threshold=self.postprocess_params().bottom_threshold,
                )
                self.runtime_reports[kind] = reports
            if name != "torch":
                self._runners[id(net)] = make(name)
            self.runtimes[kind] = name

    @property
    def runtime(self) -> str:
        """The runtimes in words: ``"openvino"`` or ``"classifier openvino, segmenter torch"``."""
        names = set(self.runtimes.values())
        if len(names) <= 1:
            return next(iter(names), "torch")
        return ", ".join(f"{k} {v}" for k, v in self.runtimes.items())

    @property
    def device(self) -> str:
        """Where the models run now: ``"cpu"`` or ``"cuda"``."""
        return self._device.type

    def _fall_back_to_cpu(self, exc: BaseException) -> None:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        self.warnings.append(f"CUDA failed during inference ({first[:160]}); using the CPU.")
        self._place(torch.device("cpu"))
        try:
            torch.cuda.empty_cache()
        except Exception:  # pragma: no cover - best effort
            pass

    # --- inference ----------------------------------------------------------------------

    def postprocess_params(self) -> PostprocessParams:
        """Return the manifest's default post-processing (scheme, thresholds, min area, gate).

        See :func:`pneumoviewer.core.decision.default_params`: the gate is on with a
        classifier, at the manifest's ``gate_threshold``, else at the decision threshold.
        """
        return default_params(self.manifest)

    def prepare(
        self, pixels: np.ndarray, padding: np.ndarray | None = None
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Return both networks' inputs for one image: CLAHE once, then resize + normalise.

        Thread-safe and torch-free (numpy and OpenCV only), so a batch run can prepare the
        next images in its decode threads while the networks run (#11 §1); pass the result
        to :meth:`predict` / :meth:`predict_batch` as ``inputs``.

        Parameters
        ----------
        pixels : numpy.ndarray
            uint8 (H, W) display image, as for :meth:`predict`.
        padding : numpy.ndarray or None
            bool (H, W) padding pixels (``XrayImage.padding``): left out of CLAHE and 0
            (black) in the inputs, as in the display.

        Returns
        -------
        tuple of (numpy.ndarray or None)
            ``(classifier input, segmenter input)``, each float32 (C, S, S) at that
            network's input size, None for a network the model does not have.

        Raises
        ------
        ValueError
            When ``pixels`` is not a uint8 (H, W) array.
        """
        if not isinstance(pixels, np.ndarray) or pixels.ndim != 2 or pixels.dtype != np.uint8:
            raise ValueError(
                f"expected a uint8 (H, W) image, got {getattr(pixels, 'dtype', type(pixels))} "
                f"{getattr(pixels, 'shape', '')}"
            )
        pixels = np.ascontiguousarray(pixels)  # views (flips, crops) are fine
        clahe_params = self.manifest.clahe
        base = pixels if clahe_params is None else clahe(pixels, clahe_params, padding=padding)
        out = []
        for spec in (self.manifest.classifier, self.manifest.segmenter):
            if spec is None:
                out.append(None)
                continue
            out.append(
                to_model_input(
                    base,
                    size=spec.input_size,
                    clahe_params=None,
                    mean=spec.mean,
                    std=spec.std,
                    channels=spec.in_channels,
                    padding=padding if clahe_params is None else None,
                )
            )
        return out[0], out[1]

    _inputs = prepare  # the name the tests and benchmarks used before it was public

    def _run(self, net: nn.Module, batch: np.ndarray) -> torch.Tensor:
        """Forward (N, C, S, S) float32 (plus mirrored copies with TTA) on the device."""
        dev = self._device
        x = torch.from_numpy(batch).to(dev, non_blocking=True)
        if self.tta:
            x = torch.cat([x, x.flip(-1)])
        runner = self._runners.get(id(net)) if dev.type == "cpu" else None
        if runner is not None:  # ONNX Runtime / OpenVINO / bf16 autocast (.runtimes)
            return runner(x)
        if dev.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), autocast_context(dev):
            out = net(x)
        if isinstance(out, tuple):  # FeatureClassifier: (outputs, pooled features)
            return tuple(o.float().cpu() for o in out)
        return out.float().cpu()

    def _forward(self, cls_batch, seg_batch):
        """Return (raw classifier outputs, probability maps, pooled features), each or None."""
        n = len(cls_batch if cls_batch is not None else seg_batch)
        raw = prob = feats = None
        if cls_batch is not None and self._features is not None:
            out, pooled = self._run(self._features, cls_batch)
            raw = out.numpy().astype(np.float64)
            feats = pooled[:n].numpy().astype(np.float32)  # with TTA: the unflipped image's
        elif cls_batch is not None:
            out = self._run(self._classifier, cls_batch).numpy().astype(np.float64)
            raw = out
        if seg_batch is not None:
            logits = self._run(self._segmenter, seg_batch)[:, 0]
            p = torch.sigmoid(logits)
            if self.tta:
                p = (p[:n] + p[n:].flip(-1)) / 2
            prob = p.numpy().astype(np.float32, copy=False)
        return raw, prob, feats

    def _forward_with_fallback(self, cls_batch, seg_batch):
        try:
            return self._forward(cls_batch, seg_batch)
        except Exception as exc:
            if self._device.type != "cuda" or not is_cuda_failure(exc):
                raise
            self._fall_back_to_cpu(exc)
            return self._forward(cls_batch, seg_batch)

    def predict(
        self,
        pixels: np.ndarray,
        *,
        image_id: str = "",
        padding: np.ndarray | None = None,
        inputs: tuple[np.ndarray | None, np.ndarray | None] | None = None,
    ) -> Prediction:
        """Run the models on one image.

        Parameters
        ----------
        pixels : numpy.ndarray
            uint8, shape (H, W), the display image (air dark), any size.
        image_id : str
            Copied into the result.
        padding : numpy.ndarray or None
            bool (H, W) padding pixels (``XrayImage.padding``): left out of CLAHE, 0 in
            the model input.
        inputs : tuple or None
            ``self.prepare(pixels, padding)`` when already computed (e.g. in a decode
            thread); None computes it here. The result is the same either way.

        Returns
        -------
        Prediction
            ``probability_map`` is float32 (H, W) in [0, 1].

        """
        return self.predict_batch(
            [pixels],
            image_ids=[image_id],
            paddings=[padding],
            inputs=None if inputs is None else [inputs],
        )[0]

    def heatmap(self, pixels: np.ndarray, *, padding: np.ndarray | None = None) -> np.ndarray:
        """Grad-CAM of the classifier for one image (#10, :mod:`.explain`).

        Parameters
        ----------
        pixels : numpy.ndarray
            uint8 (H, W) display image, as for :meth:`predict`.
        padding : numpy.ndarray or None
            As for :meth:`predict`.

        Returns
        -------
        numpy.ndarray
            float32 (H, W) in [0, 1]; explains the svm margin or the softmax class 1. Runs
            in float32 with gradients; costs about one classifier forward pass (the
            gradient stops at the last feature block: benchmarks/bench_quality.py).

        Raises
        ------
        ValueError
            When the model has no DenseNet classifier.
        """
        if self._features is None or self.manifest.classifier is None:
            raise ValueError("this model has no DenseNet classifier to explain")
        cls_input, _ = self.prepare(pixels, padding)
        x = torch.from_numpy(cls_input[None]).to(self._device)
        target = grad_cam_target(self.manifest.classifier.head)
        return grad_cam(self._features, x, target=target, out_shape=pixels.shape)

    def predict_batch(
        self,
        images: Sequence[np.ndarray],
        *,
        image_ids: Sequence[str] | None = None,
        paddings: Sequence[np.ndarray | None] | None = None,
        inputs: Sequence[tuple[np.ndarray | None, np.ndarray | None]] | None = None,
    ) -> list[Prediction]:
        """Run the models on several images in one forward pass per model.

        Parameters
        ----------
        images : sequence of numpy.ndarray
            uint8 (H_i, W_i) images; sizes may differ.
        image_ids : sequence of str or None
            One id per image (default ``""``).
        paddings : sequence of (numpy.ndarray or None) or None
            One padding mask per image (see :meth:`predict`); default none.
        inputs : sequence of tuple or None
            One :meth:`prepare` result per image, when already computed; then
            ``paddings`` is not used (it went into ``prepare``).

        Returns
        -------
        list of Prediction
            In input order; each map at its own image's resolution. ``seconds`` is the
            batch's wall time divided by the number of images.

        """
        if not images:
            return []
        ids = list(image_ids) if image_ids is not None else [""] * len(images)
        if len(ids) != len(images):
            raise ValueError("image_ids must have one id per image")
        t0 = time.perf_counter()
        pads = list(paddings) if paddings is not None else [None] * len(images)
        if len(pads) != len(images):
            raise ValueError("paddings must have one entry per image")
        if inputs is not None:
            pairs = list(inputs)
            if len(pairs) != len(images):
                raise ValueError("inputs must have one entry per image")
        else:
            pairs = [self.prepare(img, pad) for img, pad in zip(images, pads, strict=True)]
        cls_batch = None if pairs[0][0] is None else _batch([p[0] for p in pairs])
        seg_batch = None if pairs[0][1] is None else _batch([p[1] for p in pairs])
        raw, prob, feats = self._forward_with_fallback(cls_batch, seg_batch)
        n = len(images)
        probs = scores = None
        if raw is not None:
            p_all, s_all = scores_to_probability(raw, self.manifest.classifier)
            if self.tta:  # average the probabilities (and scores) of image and mirror image
                p_all = (p_all[:n] + p_all[n:]) / 2
                s_all = (s_all[:n] + s_all[n:]) / 2
            probs, scores = p_all, s_all
        maps = [None] * n
        if prob is not None:
            # The one map representation (core.probability_map): uint8 at the model's size,
            # upsampled; the viewer keeps the same uint8 map, so both threshold one map.
            maps = [
                upsample_probability(quantise_probability(prob[i]), img.shape)
                for i, img in enumerate(images)
            ]
        seconds = (time.perf_counter() - t0) / n
        return [
            Prediction(
                image_id=ids[i],
                class_probability=None if probs is None else float(probs[i]),
                class_score=None if scores is None else float(scores[i]),
                probability_map=maps[i],
                device=self.device,
                seconds=seconds,
                map_at_model_size=None if prob is None else prob[i].copy(),
                features=None if feats is None else feats[i].copy(),
            )
            for i in range(n)
        ]
