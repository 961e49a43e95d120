"""Fit the out-of-distribution statistics of an exported model directory (at export).

The classifier's pooled features of the training images give a mean and a Ledoit-Wolf
shrinkage covariance (plain numpy; the same estimator as scikit-learn's ``ledoit_wolf``);
its inverse and the mean go to ``ood.safetensors``; the refusal threshold is a percentile
of the Mahalanobis distances of the validation images. The features come from the core
:class:`~pneumoviewer.core.inference.engine.InferenceEngine` on the exported directory
itself, so training-time and viewing-time features are made by the same code (CLAHE,
resize, normalisation, fp16-rounded weights). See :mod:`pneumoviewer.core.inference.ood`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np

from pneumoviewer.core.inference.ood import OOD_FILE, OodSpec, OodStatistics

__all__ = [
    "extract_features",
    "fit_model_dir_ood",
    "fit_ood",
    "ledoit_wolf",
    "write_ood",
]


def ledoit_wolf(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit-Wolf shrinkage covariance (the samples are centred here).

    ``(1 - s) S + s mu I`` with ``S`` the maximum-likelihood covariance, ``mu`` its mean
    eigenvalue and ``s`` the Ledoit & Wolf (2004) optimal shrinkage.

    Parameters
    ----------
    x : numpy.ndarray
        (N, D) samples, N >= 2.

    Returns
    -------
    covariance : numpy.ndarray
        float64 (D, D).
    shrinkage : float
        In [0, 1].
    """
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    if n < 2:
        raise ValueError(f"need at least 2 samples for a covariance, got {n}")
    x = x - x.mean(axis=0)
    emp = x.T @ x / n
    mu = float(np.trace(emp)) / d
    if mu <= 0.0:
        raise ValueError("all samples are identical: no covariance to estimate")
    x2 = x**2
    fourth = float((x2.T @ x2).sum())  # sum over samples of ||x_k||^4
    emp_sq = float((emp**2).sum())  # ||S||_F^2
    beta = (fourth / n - emp_sq) / n  # (1/n^2) sum_k ||x_k x_k^T - S||_F^2
    delta = emp_sq - 2.0 * mu * float(np.trace(emp)) + d * mu**2  # ||S - mu I||_F^2
    beta = min(beta, delta)
    shrinkage = 0.0 if delta <= 0.0 else beta / delta
    cov = (1.0 - shrinkage) * emp
    cov[np.diag_indices(d)] += shrinkage * mu
    return cov, float(shrinkage)


def fit_ood(
    train: np.ndarray,
    held_out: np.ndarray | None = None,
    *,
    percentile: float = 99.0,
    threshold_from: str = "validation split",
) -> tuple[OodStatistics, OodSpec]:
    """Fit mean + precision on ``train``; threshold = percentile of ``held_out`` distances.

    Parameters
    ----------
    train : numpy.ndarray
        (N, D) pooled features of the training images.
    held_out : numpy.ndarray or None
        (M, D) features of the validation images. None (no held-out data, e.g. the demo):
        each training image's distance from statistics fitted without it, by K-fold
        cross-validation (K = min(N, 10); leave-one-out for N <= 10). In-sample distances
        would be far too small (demo: 2.9-3.7 in-sample against 4.9-100 left out).
    percentile : float
        Of the held-out distances, in (0, 100].
    threshold_from : str
        Where the threshold images came from, for the model card.

    Returns
    -------
    stats : OodStatistics
        float32 mean and precision (distances are computed from these rounded values).
    spec : OodSpec
        Without ``sha256`` (set by :func:`write_ood`).
    """
    train = np.asarray(train, dtype=np.float64)
    full, shrinkage = _statistics(train)
    stats = OodStatistics(full.mean.astype(np.float32), full.precision.astype(np.float32))
    if held_out is None:
        distances = cross_validated_distances(train)
        folds = min(len(train), 10)
        how = "leave-one-out" if folds == len(train) else f"{folds}-fold cross-validation"
        threshold_from = f"{how} over the training images (no held-out data)"
    else:
        ref = np.asarray(held_out, dtype=np.float64)
        if len(ref) == 0:
            raise ValueError("no images to choose the OOD threshold on")
        distances = stats.distance(ref)
    threshold = float(np.percentile(distances, percentile))
    spec = OodSpec(
        feature_dim=int(train.shape[1]),
        threshold=threshold,
        percentile=float(percentile),
        train_images=int(len(train)),
        threshold_images=int(len(distances)),
        shrinkage=shrinkage,
        threshold_from=threshold_from,
    )
    return stats, spec


def cross_validated_distances(train: np.ndarray, *, folds: int = 10) -> np.ndarray:
    """Each sample's distance from statistics fitted on the other folds (float64 (N,)).

    ``min(N, folds)`` contiguous folds after a fixed shuffle; needs N >= 3.
    """
    train = np.asarray(train, dtype=np.float64)
    n = len(train)
    if n < 3:
        raise ValueError(f"need at least 3 training images without held-out data, got {n}")
    order = np.random.default_rng(0).permutation(n)
    out = np.empty(n)
    for part in np.array_split(order, min(n, folds)):
        rest = np.setdiff1d(order, part)
        out[part] = _statistics(train[rest])[0].distance(train[part])
    return out


def _statistics(train: np.ndarray) -> tuple[OodStatistics, float]:
    """float64 mean and precision (inverse Ledoit-Wolf covariance, via eigh), shrinkage."""
    cov, shrinkage = ledoit_wolf(train)
    evals, evecs = np.linalg.eigh(cov)
    precision = (evecs / np.maximum(evals, evals.max() * 1e-12)) @ evecs.T
    return OodStatistics(train.mean(axis=0), precision), shrinkage


def extract_features(
    engine, images: Iterable[np.ndarray], *, batch: int = 8, progress: Callable | None = None
) -> np.ndarray:
    """Pooled classifier features of images through the core engine.

    Parameters
    ----------
    engine : InferenceEngine
        On the exported model directory (needs a classifier).
    images : iterable of numpy.ndarray
        uint8 (H, W) display images.
    batch : int
        Images per forward pass.
    progress : callable or None
        Called with the number of images done so far.

    Returns
    -------
    numpy.ndarray
        float32 (N, D).
    """
    out: list[np.ndarray] = []
    chunk: list[np.ndarray] = []

    def flush() -> None:
        for pred in engine.predict_batch(chunk):
            if pred.features is None:
                raise ValueError("the model has no classifier features to fit OOD statistics on")
            out.append(np.asarray(pred.features, dtype=np.float32))
        chunk.clear()
        if progress is not None:
            progress(len(out))

    for image in images:
        chunk.append(image)
        if len(chunk) == batch:
            flush()
    if chunk:
        flush()
    return np.stack(out) if out else np.zeros((0, 0), np.float32)


def write_ood(model_dir: str | Path, stats: OodStatistics, spec: OodSpec) -> OodSpec:
    """Write ``ood.safetensors`` and put ``spec`` (with its sha256) into ``manifest.json``.

    The manifest is updated as JSON (every other field kept as written) and re-validated.

    Returns
    -------
    OodSpec
        As written (``file`` and ``sha256`` set).
    """
    import hashlib

    from pneumoviewer.core.inference.manifest import MANIFEST_NAME, read_manifest
    from pneumoviewer.core.io import atomic_write_bytes, atomic_write_text

    model_dir = Path(model_dir)
    data = stats.to_bytes()
    name = spec.file or OOD_FILE
    atomic_write_bytes(model_dir / name, data, overwrite=True)
    spec = replace(spec, file=name, sha256=hashlib.sha256(data).hexdigest())
    path = model_dir / MANIFEST_NAME
    manifest = json.loads(path.read_text(encoding="utf-8-sig"))
    manifest["ood"] = spec.to_dict()
    atomic_write_text(
        path, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", overwrite=True
    )
    read_manifest(model_dir)  # what was written loads
    return spec


def fit_model_dir_ood(
    model_dir: str | Path,
    train_images: Iterable[np.ndarray],
    held_out_images: Iterable[np.ndarray] | None,
    *,
    percentile: float = 99.0,
    threshold_from: str = "validation split",
    device: str = "cpu",
) -> OodSpec:
    """Fit and write the OOD statistics of an exported model directory.

    Parameters
    ----------
    model_dir : path-like
        An exported model directory with a classifier.
    train_images, held_out_images : iterables of numpy.ndarray
        uint8 (H, W) display images of the training and validation splits
        (``held_out_images`` None: the threshold comes from the training images).
    percentile : float
        Threshold percentile of the held-out distances.
    threshold_from : str
        Said in the manifest and the model card.
    device : str
        Where the engine runs.

    Returns
    -------
    OodSpec
        As written into ``manifest.json``.
    """
    from pneumoviewer.core.inference.engine import InferenceEngine

    engine = InferenceEngine(model_dir, device=device)
    train = extract_features(engine, train_images)
    held = None if held_out_images is None else extract_features(engine, held_out_images)
    if held is not None and len(held) == 0:
        held = None  # an empty validation split: cross-validation over the training images
    stats, spec = fit_ood(train, held, percentile=percentile, threshold_from=threshold_from)
    return write_ood(model_dir, stats, spec)


def fit_ood_from_data(
    model_dir: str | Path,
    data,
    *,
    percentile: float = 99.0,
    device: str = "cpu",
) -> OodSpec:
    """Fit a model directory's OOD statistics on a data folder's train / val splits.

    Parameters
    ----------
    model_dir : path-like
        The exported model directory.
    data : DataConfig
        The data and split the classifier was trained with (``split_csv``: the run's
        ``split.csv``). With ``evaluate_on_train`` (the demo: no held-out images) the
        threshold comes from the training images, and the manifest says so.
    percentile : float
        Threshold percentile of the validation distances.
    device : str
        Where the engine runs.

    Returns
    -------
    OodSpec
        As written.
    """
    from model_training.runs import prepare_data

    prepared = prepare_data(data)
    corpus = prepared.corpus
    train = prepared.records("train")
    if not train:
        raise ValueError(f"{data.root}: no training images to fit OOD statistics on")
    if data.evaluate_on_train:
        held, source = None, ""  # fit_ood cross-validates and says so
    else:
        held, source = prepared.records("val"), "validation split"
    return fit_model_dir_ood(
        model_dir,
        (corpus.image(r) for r in train),
        None if held is None else (corpus.image(r) for r in held),
        percentile=percentile,
        threshold_from=source,
        device=device,
    )
