"""Training data: the SIIM layout (DICOM tree + run-length CSV) and the PNG layout.

Images are decoded once, CLAHE'd and resized with the core's functions and kept in memory
as uint8 per input size (:class:`PreprocessedCache`); each epoch only normalises and
augments. Normalisation is the same fused affine step as
:func:`pneumoviewer.core.preprocessing.to_model_input`, so an un-augmented training
input equals the viewer's model input exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from model_training.records import Record
from pneumoviewer.core.errors import GroundTruthError

PNG_IMAGES = "png_images"
PNG_MASKS = "png_masks"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


@dataclass
class Corpus:
    """Labelled images of one data folder and how to read their pixels and masks.

    Attributes
    ----------
    root : Path
        The data folder.
    layout : {"siim", "png"}
        How the folder is organised.
    records : list of Record
        Every labelled image, sorted by image id.
    truth : GroundTruth or None
        The run-length table (SIIM layout only).
    """

    root: Path
    layout: str
    records: list[Record]
    truth: object | None = None

    def image(self, record: Record) -> np.ndarray:
        """Return the display image, uint8 (H, W) (DICOM via ``core.load_xray``, PNG via OpenCV)."""
        if record.path.suffix.lower() in IMAGE_SUFFIXES:
            return _read_png(record.path)
        from pneumoviewer.core.dicom_io import load_xray

        return load_xray(record.path).pixels

    def mask(self, record: Record, shape: tuple[int, int]) -> np.ndarray:
        """Return the ground-truth mask, bool (H, W) of the image's own ``shape``."""
        if record.mask_path is not None:
            m = _read_png(record.mask_path)
            if m.shape != tuple(shape):
                raise GroundTruthError(
                    record.mask_path, f"mask is {m.shape}, its image is {tuple(shape)}"
                )
            return m > 127
        if self.truth is None:
            return np.zeros(shape, dtype=bool)
        m = self.truth.mask(record.image_id, shape=tuple(shape))
        return np.zeros(shape, dtype=bool) if m is None else m


def _read_png(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise GroundTruthError(path, "cannot read this image file")
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY if img.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
    if img.dtype != np.uint8:
        img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return np.ascontiguousarray(img)


def load_corpus(root: str | Path, *, csv: str | Path | None = None) -> Corpus:
    """Find the labelled images of a data folder.

    Parameters
    ----------
    root : path-like
        Either a PNG layout (``png_images/`` and ``png_masks/`` with matching names, masks
        0/255) or a SIIM layout (a tree of DICOMs and a run-length CSV).
    csv : path-like or None
        The run-length CSV; None looks for a ``*rle*.csv`` in ``root`` or a parent.

    Returns
    -------
    Corpus

    Raises
    ------
    GroundTruthError
        When no labels can be found or no labelled image is present.
    """
    root = Path(root)
    if not root.is_dir():
        raise GroundTruthError(root, "data folder does not exist")
    if (root / PNG_IMAGES).is_dir() and (root / PNG_MASKS).is_dir():
        return _load_png(root)
    return _load_siim(root, csv)


def _load_png(root: Path) -> Corpus:
    records = []
    for img in sorted((root / PNG_IMAGES).iterdir()):
        if img.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        mask = root / PNG_MASKS / img.name
        if not mask.is_file():
            candidates = sorted((root / PNG_MASKS).glob(img.stem + ".*"))
            if not candidates:
                raise GroundTruthError(img, f"no mask with the same name in {root / PNG_MASKS}")
            mask = candidates[0]
        m = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
        if m is None:
            raise GroundTruthError(mask, "cannot read this mask file")
        records.append(Record(img.stem, img, bool((m > 127).any()), None, mask))
    if not records:
        raise GroundTruthError(root / PNG_IMAGES, "no images found")
    return Corpus(root, "png", records)


def _load_siim(root: Path, csv: str | Path | None) -> Corpus:
    from pneumoviewer.core.ground_truth import find_ground_truth_csv, read_rle_csv
    from pneumoviewer.core.studies import ScanProblem, scan_folder

    csv_path = Path(csv) if csv is not None else find_ground_truth_csv(root)
    if csv_path is None:
        raise GroundTruthError(root, "no run-length CSV (*rle*.csv) found; pass --csv")
    truth = read_rle_csv(csv_path)
    records = []
    for entry in scan_folder(root):
        if isinstance(entry, ScanProblem) or entry.image_id not in truth:
            continue
        positive = bool(truth.is_positive(entry.image_id))
        records.append(Record(entry.image_id, entry.path, positive, entry.metadata.patient_id))
    if not records:
        raise GroundTruthError(csv_path, f"none of its image ids is a DICOM under {root}")
    records.sort(key=lambda r: r.image_id)
    return Corpus(root, "siim", records, truth)


class PreprocessedCache:
    """CLAHE'd, resized uint8 images and masks of some records, kept in memory.

    Built once per input size (decode + CLAHE at full resolution is the expensive part),
    then shared by every epoch and by DataLoader workers (fork shares the arrays).

    Parameters
    ----------
    corpus : Corpus
        Where the pixels come from.
    records : sequence of Record
        The images to cache, in this order.
    size : int
        Side of the square model input.
    clahe_params : ClaheParams or None
        None skips CLAHE.
    progress : bool
        Show a tqdm bar.

    Attributes
    ----------
    images : ndarray
        uint8 (N, size, size): ``resize_image(clahe(pixels), size)``, as ``to_model_input``.
    masks : ndarray
        uint8 (N, size, size) in {0, 1}: the full-resolution mask area-resized, >= 0.5.
    shapes : list of (int, int)
        Each image's original (H, W).
    """

    def __init__(
        self,
        corpus: Corpus,
        records: Sequence[Record],
        *,
        size: int,
        clahe_params: object | None,
        progress: bool = False,
    ) -> None:
        from tqdm import tqdm

        from pneumoviewer.core.preprocessing import clahe, resize_image

        self.records = list(records)
        self.size = int(size)
        self.clahe_params = clahe_params
        n = len(self.records)
        self.images = np.zeros((n, size, size), dtype=np.uint8)
        self.masks = np.zeros((n, size, size), dtype=np.uint8)
        self.shapes: list[tuple[int, int]] = []
        bar = tqdm(self.records, desc=f"preprocess {size}px", disable=not progress, leave=False)
        for i, rec in enumerate(bar):
            pixels = corpus.image(rec)
            shape = pixels.shape
            self.shapes.append(shape)
            if clahe_params is not None:
                pixels = clahe(pixels, clahe_params)
            self.images[i] = resize_image(pixels, size)
            mask = corpus.mask(rec, shape)
            if mask.any():
                small = cv2.resize(
                    mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA
                )
                self.masks[i] = small >= 0.5
        self.labels = np.array([r.positive for r in self.records], dtype=bool)

    def __len__(self) -> int:
        return len(self.records)

