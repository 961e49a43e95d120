"""Out-of-distribution score: how far an image's classifier features lie from the training set.

The statistics live in the model directory: ``ood.safetensors`` holds the training
features' mean (``mean``, float32 (D,)) and the inverse of their Ledoit-Wolf shrinkage
covariance (``precision``, float32 (D, D)); ``manifest.json`` field ``ood`` says how they
were made and the refusal threshold::

    "ood": {"method": "mahalanobis", "covariance": "ledoit-wolf", "file": "ood.safetensors",
            "sha256": "<hex>", "feature_dim": 1024, "threshold": 41.3, "percentile": 99.0,
            "train_images": 9000, "threshold_images": 1000, "shrinkage": 0.12,
            "threshold_from": "validation split"}

Without held-out data (the demo model) the threshold comes from cross-validated distances
of the training images (``model_training.ood.fit_ood``).

The features are the classifier's global-average-pooled last feature block (DenseNet-121:
1024 values, :attr:`pneumoviewer.core.inference.engine.Prediction.features`); the distance
is the Mahalanobis distance ``sqrt((x - mean)ᵀ precision (x - mean))``. The threshold is a
percentile of the distances of held-out (validation) images, so about 1 % of in-distribution
images are refused at the 99th percentile. Fitting happens in ``model_training.ood``.

Torch-free; loading never runs code (safetensors, sha256 checked against the manifest).
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pneumoviewer.core.errors import ModelLoadError
from pneumoviewer.core.quality import QualityResult, check_ood

__all__ = ["OOD_FILE", "OodDetector", "OodSpec", "OodStatistics", "parse_ood_spec"]

#: Default file name of the statistics inside a model directory.
OOD_FILE = "ood.safetensors"
#: Said once (not per image) when a model has no statistics.
SKIPPED_MESSAGE = "out-of-distribution check skipped: the model has no OOD statistics"
_BLOCK = 32  # columns of the precision per BLAS call for one vector (single-threaded size)


@dataclass(frozen=True, kw_only=True)
class OodSpec:
    """The manifest's ``ood`` field (see the module docstring)."""

    method: str = "mahalanobis"
    covariance: str = "ledoit-wolf"
    file: str = OOD_FILE
    sha256: str = ""
    feature_dim: int = 1024
    threshold: float = 0.0
    percentile: float = 99.0
    train_images: int = 0
    threshold_images: int = 0
    shrinkage: float = 0.0
    threshold_from: str = "validation split"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict for ``manifest.json``."""
        return asdict(self)

    def describe(self) -> str:
        """One line for the model card."""
        return (
            f"Mahalanobis distance of the pooled classifier features ({self.feature_dim}-d, "
            f"Ledoit-Wolf shrinkage {self.shrinkage:.2f}, {self.train_images} training "
            f"images); refused above {self.threshold:.1f}, the {self.percentile:g}th "
            f"percentile of {self.threshold_images} held-out distances: {self.threshold_from}"
        )


def parse_ood_spec(data: Any, path: str | os.PathLike) -> OodSpec | None:
    """Validate the manifest's ``ood`` field (None/absent -> None).

    Raises
    ------
    ModelLoadError
        Naming the manifest and the field ``ood.<key>``.
    """
    if data is None:
        return None
    path = Path(path)

    def fail(key: str, problem: str) -> ModelLoadError:
        return ModelLoadError(path, f"field 'ood{'.' + key if key else ''}': {problem}")

    if not isinstance(data, dict):
        raise fail("", f"must be a JSON object, got {type(data).__name__}")
    kw: dict[str, Any] = {}
    for key, default in asdict(OodSpec()).items():
        value = data.get(key, default)
        if isinstance(default, str):
            ok = isinstance(value, str)
        elif isinstance(default, int) and not isinstance(default, bool):
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        else:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and math.isfinite(value)
        if not ok:
            raise fail(key, f"wrong type or value: {value!r:.40}")
        kw[key] = float(value) if isinstance(default, float) else value
    spec = OodSpec(**kw)
    if spec.method != "mahalanobis":
        raise fail("method", f"unknown method {spec.method!r} (this version knows mahalanobis)")
    name = spec.file
    if not name.endswith(".safetensors") or "/" in name or "\\" in name or ":" in name:
        raise fail("file", f"must be a plain *.safetensors name in the model folder: {name!r}")
    if len(spec.sha256) != 64 or any(c not in "0123456789abcdef" for c in spec.sha256):
        raise fail("sha256", "must be 64 lowercase hexadecimal digits")
    if spec.feature_dim <= 0 or spec.threshold <= 0 or not 0 < spec.percentile <= 100:
        raise fail("threshold", "feature_dim, threshold and percentile must be positive")
    return spec


@dataclass(frozen=True, eq=False)
class OodStatistics:
    """Mean and precision (inverse shrinkage covariance) of the training features.

    Attributes
    ----------
    mean : numpy.ndarray
        float32 (D,).
    precision : numpy.ndarray
        float32 (D, D), symmetric positive definite.
    """

    mean: np.ndarray
    precision: np.ndarray

    def distance(self, features: np.ndarray) -> np.ndarray:
        """Mahalanobis distances of feature vectors.

        Parameters
        ----------
        features : numpy.ndarray
            (D,) or (N, D), any float dtype.

        Returns
        -------
        numpy.ndarray
            float64 (N,) (N = 1 for a single vector), >= 0; NaN/inf features give inf.
        """
        x = np.atleast_2d(np.asarray(features, dtype=np.float64))
        if x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"expected {self.mean.shape[0]} features, got {x.shape[1]}")
        d = x - self.mean.astype(np.float64)
        if len(d) == 1:  # one image (predict, the viewer): see _row_times_precision
            dp = self._row_times_precision(d[0])[None]
        else:
            dp = d @ self._precision64()
        d2 = (dp * d).sum(axis=1)
        out = np.sqrt(np.maximum(d2, 0.0))
        out[~np.isfinite(x).all(axis=1)] = np.inf
        return out

    def _row_times_precision(self, row: np.ndarray) -> np.ndarray:
        """Return ``row @ precision`` (float64 (D,)), bit-identical to the (1, D) product.

        Computed on column blocks of 32 (``np.dot`` per block, each output from the same
        OpenBLAS kernel over the same D terms, so the same bits:
        tests/core/inference/test_ood.py). The whole product at once is one multi-threaded
        BLAS call whose worker threads then spin ~30 ms of CPU per image on the cores the
        models need (measured on 2 cores under load: 27-35 ms of process CPU per call
        against 1.3 ms for the blocks, #11 §1).
        """
        blocks = self.__dict__.get("_p64_blocks")
        if blocks is None:
            p = self.precision  # float32; the blocks are its float64 copy (8 MB at D = 1024)
            blocks = [
                np.ascontiguousarray(p[:, j : j + _BLOCK], dtype=np.float64)
                for j in range(0, p.shape[1], _BLOCK)
            ]
            self.__dict__["_p64_blocks"] = blocks
        return np.concatenate([np.dot(row, b) for b in blocks])

    def _precision64(self) -> np.ndarray:
        """Return the precision as float64, converted once (8 MB at D = 1024)."""
        cached = self.__dict__.get("_p64")
        if cached is None:
            cached = self.precision.astype(np.float64)
            self.__dict__["_p64"] = cached
        return cached

    def to_bytes(self) -> bytes:
        """Serialise as safetensors (float32 ``mean`` and ``precision``)."""
        from safetensors.numpy import save

        tensors = {
            "mean": np.ascontiguousarray(self.mean, dtype=np.float32),
            "precision": np.ascontiguousarray(self.precision, dtype=np.float32),
        }
        return save(tensors, metadata={"format": "pneumoviewer-ood"})

    @classmethod
    def from_bytes(cls, data: bytes, path: str | os.PathLike) -> OodStatistics:
        """Read :meth:`to_bytes` output (no code runs); errors name ``path``."""
        from safetensors.numpy import load

        try:
            tensors = load(data)
            mean, precision = tensors["mean"], tensors["precision"]
        except Exception as exc:  # safetensors' own error types, KeyError
            raise ModelLoadError(path, f"not a valid OOD statistics file: {exc}") from exc
        dim = mean.shape[0] if mean.ndim == 1 else -1
        if precision.shape != (dim, dim) or not np.isfinite(precision).all():
            raise ModelLoadError(
                path, f"mean {mean.shape} and precision {precision.shape} do not match"
            )
        return cls(mean.astype(np.float32), precision.astype(np.float32))


class OodDetector:
    """The OOD rule of a model directory: features -> (distance, quality).

    Build with :meth:`from_model_dir`; None when the model has no statistics (then call
    :func:`pneumoviewer.core.quality.check_ood` with ``None`` or show :data:`SKIPPED_MESSAGE`).
    """

    def __init__(self, spec: OodSpec, stats: OodStatistics) -> None:
        self.spec = spec
        self.stats = stats

    @property
    def threshold(self) -> float:
        """Distances above this are refused."""
        return self.spec.threshold

    @classmethod
    def from_model_dir(cls, model_dir: str | os.PathLike, spec: OodSpec | None):
        """Load and verify the statistics (None when ``spec`` is None).

        Raises
        ------
        ModelLoadError
            Missing file, sha256 mismatch, unreadable file, wrong feature size.
        """
        if spec is None:
            return None
        path = Path(model_dir) / spec.file
        if not path.is_file():
            raise ModelLoadError(path, "OOD statistics file is missing (named by field 'ood.file')")
        data = path.read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != spec.sha256:
            raise ModelLoadError(
                path,
                f"sha256 mismatch: the file hashes to {actual[:12]}..., the manifest says "
                f"{spec.sha256[:12]}... (file changed or corrupted)",
            )
        stats = OodStatistics.from_bytes(data, path)
        if stats.mean.shape[0] != spec.feature_dim:
            raise ModelLoadError(
                path, f"{stats.mean.shape[0]} features, the manifest says {spec.feature_dim}"
            )
        return cls(spec, stats)

    def distance(self, features: np.ndarray) -> float:
        """Mahalanobis distance of one image's features (D,)."""
        return float(self.stats.distance(features)[0])

    def check(self, features: np.ndarray | None) -> tuple[float | None, QualityResult]:
        """Distance and the quality rule for one image (None features -> skipped)."""
        if features is None:
            return None, check_ood(None, None)
        dist = self.distance(features)
        return dist, check_ood(dist, self.threshold)
