"""The viewer's results: scalars in memory, model-size maps in a small LRU, all on disk.

:class:`ResultStore` is what the analysis controller talks to. Pure Python + NumPy (no
widgets). Three layers:

* ``scalars`` -- one :class:`AnalysisResult` (map None) per analysed image of the folder:
  the list columns, triage order and summary come from these;
* ``maps`` -- an LRU of uint8 maps **at the segmenter's output size** (64 KiB at 256²),
  bounded in bytes (32 MiB by default when a disk store backs it);
* ``disk`` -- :class:`~pneumoviewer.core.results_store.ResultsStore` (SQLite in the user's
  cache directory), keyed by the image's identity and the model key. Every result is
  written as it arrives; reopening a folder reads the scalars of all its images in one
  query (:meth:`ResultStore.restore`) and maps come back one at a time on demand.

The full-resolution float map of the image on screen is memoised (one image only).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from pneumoviewer.core.results_store import (
    DEFAULT_MAX_BYTES,
    ResultsStore,
    StoredResult,
    StoredStats,
    default_store_path,
    image_key,
    model_key,
)
from pneumoviewer.ui.cache import AnalysisResult, LRUCache, upsample_probability

log = logging.getLogger(__name__)

#: Map budget with a disk store behind the LRU (512 maps of 256²; the rest are re-read from
#: disk in well under a millisecond each, so a bigger cache would only cost memory).
DEFAULT_MAP_BUDGET = 32 << 20
#: Map budget without one (maps evicted from memory are gone until analysed again).
MEMORY_ONLY_MAP_BUDGET = 256 << 20
STATS_FLUSH_ITEMS = 256
STATS_FLUSH_SECONDS = 2.0


def open_disk_store(
    directory: str | os.PathLike | None = None, *, max_bytes: int | None = None
) -> tuple[ResultsStore | None, str | None]:
    """Open the persistent store; never raises.

    Parameters
    ----------
    directory : path-like or None
        Folder of the store (None: ``$PNEUMOVIEWER_RESULTS_DIR``, else the user's cache).
    max_bytes : int or None
        Size bound (None: the default, 2 GiB).

    Returns
    -------
    store, notice : ResultsStore or None, str or None
        ``notice`` is a sentence for the status bar when the store was rebuilt or cannot be
        used (then ``store`` is None and results live in memory only).

    """
    path = default_store_path(directory)
    try:
        store = ResultsStore(path, max_bytes=max_bytes or DEFAULT_MAX_BYTES)
    except (OSError, Exception) as exc:  # noqa: BLE001 - the viewer runs without it
        return None, f"Results are not kept between sessions: cannot use {path} ({exc})"
    return store, store.notice


def results_model_key(info: Any) -> str:
    """Return the store's model key of a loaded model (:class:`ModelInfo`).

    Manifest sha256 (read from ``model_dir/manifest.json``), the weights' sha256 from the
    manifest, and ``info.runtime`` (:func:`engine_runtime`: device, runtime per network, TTA).
    """
    from pneumoviewer.core.inference.manifest import MANIFEST_NAME, file_sha256

    manifest_path = Path(info.model_dir) / MANIFEST_NAME
    try:
        manifest_sha = file_sha256(manifest_path)
    except OSError:
        manifest_sha = "unreadable:" + str(manifest_path)
    runtime = getattr(info, "runtime", None) or f"{info.device}:torch"
    return model_key(
        manifest_sha256=manifest_sha,
        weights_sha256=dict(getattr(info.manifest, "sha256", {}) or {}),
        runtime=runtime,
    )


def engine_runtime(engine: Any) -> str:
    """Describe how an engine computes: ``"cpu:classifier=openvino,segmenter=torch"`` (+ ``/tta``).

    Part of the results-store key: results of another device, runtime or TTA setting are
    never shown as this one's.
    """
    runtimes = getattr(engine, "runtimes", None) or {}
    detail = ",".join(f"{k}={v}" for k, v in sorted(runtimes.items())) or "torch"
    text = f"{engine.device}:{detail}"
    return text + "/tta" if getattr(engine, "tta", False) else text


def stats_key(params: Any, decision_threshold: float, truth_rows: Iterable[str] | None) -> str:
    """Key of the numbers (area, Dice, label) of one image: parameters + its ground truth."""
    return stats_keyer(params, decision_threshold)(truth_rows)


def stats_keyer(params: Any, decision_threshold: float) -> Callable[[Iterable[str] | None], str]:
    """Return ``truth_rows -> key`` for fixed parameters (the part shared by every image once).

    ``stats_keyer(p, t)(rows) == stats_key(p, t, rows)``.
    """
    prefix = hashlib.sha1(f"{params!r}|{decision_threshold!r}|".encode(), usedforsecurity=False)

    def key(truth_rows: Iterable[str] | None) -> str:
        h = prefix.copy()
        h.update(b"none" if truth_rows is None else "\n".join(truth_rows).encode())
        return h.hexdigest()[:20]

    return key


class ResultStore:
    """Per-image analysis results (see the module docstring).

    Parameters
    ----------
    max_map_bytes : int or None
        Memory budget of the LRU of maps (None: 32 MiB with a disk store, else 256 MiB).
    disk : ResultsStore or None
        The persistent store (None: memory only).

    Attributes
    ----------
    model_key : str or None
        Results are read and written under this key (:meth:`use_model`); None: nothing is
        persisted.

    """

    def __init__(
        self, *, max_map_bytes: int | None = None, disk: ResultsStore | None = None
    ) -> None:
        if max_map_bytes is None:
            max_map_bytes = DEFAULT_MAP_BUDGET if disk is not None else MEMORY_ONLY_MAP_BUDGET
        self.maps = LRUCache(max_bytes=max_map_bytes)
        self.scalars: dict[str, AnalysisResult] = {}
        self.disk = disk
        self.model_key: str | None = None
        self.notice: str | None = None
        self._float: tuple[str, np.ndarray] | None = None
        self._paths: dict[str, Path] = {}
        self._keys: dict[str, str] = {}
        self._on_disk: set[str] = set()
        self._stats: dict[str, StoredStats] = {}
        self._stats_t = time.monotonic()
        self.disk_reads = 0

    def __contains__(self, image_id: str) -> bool:
        return image_id in self.scalars

    def __len__(self) -> int:
        return len(self.scalars)

    # --- model and images ------------------------------------------------------------
    def use_model(self, key: str | None) -> bool:
        """Switch to the results of another model (memory cleared); return whether it changed."""
        if key == self.model_key:
            return False
        self.flush()
        self.clear()
        self.model_key = key
        return True

    def register(self, image_id: str, path: str | os.PathLike) -> None:
        """Tell the store where ``image_id`` lives (its identity is read on first use)."""
        self._paths[image_id] = path if isinstance(path, Path) else Path(path)
        self._keys.pop(image_id, None)

    def _image_key(self, image_id: str) -> str | None:
        key = self._keys.get(image_id)
        if key is None and image_id in self._paths:
            key = self._keys[image_id] = image_key(image_id, self._paths[image_id])
        return key

    def restore(self, image_ids: Iterable[str]) -> list[tuple[AnalysisResult, StoredStats | None]]:
        """Load the stored scalars of registered images not yet in memory (one query).

        Returns
        -------
        list of (AnalysisResult, StoredStats or None)
            The restored results (map None: read on demand) with the numbers last computed.

        """
        if self.disk is None or self.model_key is None:
            return []
        wanted: dict[str, str] = {}
        for i in image_ids:
            if i in self.scalars:
                continue
            k = self._image_key(i)
            if k is not None:
                wanted[k] = i
        if not wanted:
            return []
        found = self.disk.scalars(self.model_key, list(wanted))
        self._take_notice()
        out = []
        for k, r in found.items():
            image_id = wanted[k]
            if r.image_id != image_id:
                continue
            res = AnalysisResult(
                image_id, r.class_probability, None, r.device, r.seconds, r.image_shape, r.score
            )
            self.scalars[image_id] = res
            if r.image_shape is not None:
                self._on_disk.add(image_id)
            out.append((res, r.stats))
        return out

    # --- results ---------------------------------------------------------------------------
    def add(self, result: AnalysisResult) -> None:
        """Store a result: scalars in memory, map in the LRU, everything on disk."""
        image_id = result.image_id
        self.scalars[image_id] = AnalysisResult(
            image_id, result.class_probability, None, result.device, result.seconds,
            result.image_shape, result.score,
        )  # fmt: skip
        self._stats.pop(image_id, None)
        self._on_disk.discard(image_id)
        if result.prob_u8 is not None:
            self.maps.put(image_id, result.prob_u8)
        if self._float is not None and self._float[0] == image_id:
            self._float = None
        key = self._image_key(image_id)
        if self.disk is None or self.model_key is None or key is None:
            return
        shape = result.image_shape or (None if result.prob_u8 is None else result.prob_u8.shape)
        stored = StoredResult(
            image_id, result.class_probability, result.score, result.prob_u8,
            None if result.prob_u8 is None else tuple(shape), result.device, result.seconds,
        )  # fmt: skip
        try:
            self.disk.put(self.model_key, key, stored)
        except Exception as exc:  # noqa: BLE001 - a full disk must not stop the viewer
            self.notice = f"Could not save the result of {image_id}: {exc}"
            log.warning(self.notice)
            return
        self._take_notice()
        if result.prob_u8 is not None:
            self._on_disk.add(image_id)

    def _map_u8(self, image_id: str) -> np.ndarray | None:
        u8 = self.maps.get(image_id)
        if u8 is None and image_id in self._on_disk and self.disk is not None:
            key = self._image_key(image_id)
            u8 = None if key is None else self.disk.load_map(self.model_key, key)
            self.disk_reads += 1
            self._take_notice()
            if u8 is None:
                self._on_disk.discard(image_id)
            else:
                self.maps.put(image_id, u8)
        return u8

    def get(self, image_id: str) -> AnalysisResult | None:
        """Return the full result (map at model size; None when absent or evicted)."""
        s = self.scalars.get(image_id)
        if s is None:
            return None
        return AnalysisResult(
            image_id, s.class_probability, self._map_u8(image_id), s.device, s.seconds,
            s.image_shape, s.score,
        )  # fmt: skip

    def has_map(self, image_id: str) -> bool:
        """Whether a probability map of ``image_id`` is in memory or on disk."""
        return image_id in self.maps or image_id in self._on_disk

    def float_map(self, image_id: str, *, memoise: bool = True) -> np.ndarray | None:
        """Return the float32 full-resolution map of ``image_id`` (None without one).

        The map of the last image asked for with ``memoise`` is kept (the image on screen:
        the slider path then only post-processes); list refreshes of other images pass
        ``memoise=False`` so they do not push it out.
        """
        if self._float is not None and self._float[0] == image_id:
            return self._float[1]
        u8 = self._map_u8(image_id)
        if u8 is None:
            return None
        s = self.scalars.get(image_id)
        shape = s.image_shape if s is not None and s.image_shape is not None else u8.shape
        full = upsample_probability(u8, shape)
        if memoise:
            self._float = (image_id, full)
        return full

    # --- post-processed numbers ---------------------------------------------------------
    def note_stats(
        self,
        image_id: str,
        key: str,
        *,
        area: int | None,
        dice: float | None,
        positive: bool | None,
        state: str | None = None,
    ) -> None:
        """Remember an image's area / Dice / label / state for key ``key`` (batched writes)."""
        if self.disk is None or self.model_key is None or image_id not in self.scalars:
            return
        self._stats[image_id] = StoredStats(key, area, dice, positive, state)
        now = time.monotonic()
        if len(self._stats) >= STATS_FLUSH_ITEMS or now - self._stats_t > STATS_FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the pending numbers to disk."""
        self._stats_t = time.monotonic()
        if not self._stats or self.disk is None or self.model_key is None:
            self._stats.clear()
            return
        items = [(k, s) for i, s in self._stats.items() if (k := self._image_key(i))]
        self._stats.clear()
        try:
            self.disk.put_stats(self.model_key, items)
        except Exception as exc:  # noqa: BLE001
            log.warning("could not save post-processed numbers: %s", exc)
        self._take_notice()

    def _take_notice(self) -> None:
        if self.disk is not None and self.disk.notice:
            self.notice, self.disk.notice = self.disk.notice, None
            self._on_disk.clear()

    def clear(self) -> None:
        """Forget every result in memory (new folder or new model); the disk keeps them."""
        self.flush()
        self.maps.clear()
        self.scalars.clear()
        self._on_disk.clear()
        self._float = None

    def close(self) -> None:
        """Flush and close the disk store."""
        self.flush()
        if self.disk is not None:
            self.disk.close()
            self.disk = None


def restore_rows(
    store: ResultStore,
    rows: Iterable[Any],
    *,
    stats_key_for: Callable[[str], str],
) -> tuple[int, list[str]]:
    """Fill the AI columns of list rows from the store (no model run, no map read).

    Parameters
    ----------
    store : ResultStore
    rows : iterable of StudyRow
        Rows just listed (registered with the store here).
    stats_key_for : callable
        ``image_id -> key`` of the current parameters and that image's ground truth.

    Returns
    -------
    restored, stale : int, list of str
        How many rows were filled; the ids whose area / Dice must be recomputed (their
        numbers were computed with other parameters or another ground truth).

    """
    by_id = {}
    for row in rows:
        store.register(row.image_id, row.path)
        by_id[row.image_id] = row
    stale = []
    restored = store.restore(by_id)
    for res, stats in restored:
        row = by_id[res.image_id]
        row.analysed = True
        row.probability = res.score if res.score is not None else res.class_probability
        if stats is not None and stats.key == stats_key_for(res.image_id):
            row.area, row.dice, row.predicted = stats.area, stats.dice, stats.positive
            if hasattr(row, "state"):
                row.state = stats.state
        else:
            row.area = row.dice = row.predicted = None
            if hasattr(row, "state"):
                row.state = None
            stale.append(res.image_id)
    return len(restored), stale
