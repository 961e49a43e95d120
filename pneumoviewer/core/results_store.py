"""Analysis results that persist across sessions: an SQLite store (standard library only).

One row per (model, image): the class probability, the triage score, the segmenter's
probability map **at the model's output size** (uint8, zlib-compressed), the image's shape,
where and how fast it ran, and the post-processed numbers (area, Dice, label) last computed
for one parameter set. Reopening a folder reads the scalars of every listed image in one
query; maps are read one at a time when an image is shown or its numbers recomputed.

Keys
----
image key
    ``SOPInstanceUID | file size | modification time (ns)`` (:func:`image_key`): a file
    rewritten in place (new pixels, same UID) gets a new key.
model key
    sha256 of the manifest (which records the sha256 of every weights file, checked at
    load), the weights hashes themselves, the runtime (device, precision, TTA) and
    :data:`PREPROCESSING_VERSION` (:func:`model_key`). Any change gives a new key, so
    results of another model, runtime or pipeline are never shown.

Durability
----------
WAL journal, one transaction per result (:meth:`ResultsStore.put`): a viewer killed with
SIGKILL keeps every result it finished. The size is bounded (``max_bytes`` of stored maps
and rows); past it the oldest results are deleted first. A file that is not a results
store (damaged, foreign, newer schema) is renamed aside (``*.damaged-<time>``) and a new
store is created; :attr:`ResultsStore.notice` says so in words.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ENV_DIR",
    "PREPROCESSING_VERSION",
    "ResultsStore",
    "StoredResult",
    "StoredStats",
    "default_store_path",
    "image_key",
    "model_key",
]

#: Version of everything between a DICOM file and the model's output that is not in the
#: model directory: display conversion (Modality/VOI LUT, MONOCHROME1 inversion, padding),
#: the CLAHE implementation, resize interpolation, normalisation code, the sigmoid/clip of
#: the map and the uint8 quantisation (``round(p * 255)``) of the stored map. Bump it when
#: any of them changes the numbers: stored results of older versions are then not shown.
PREPROCESSING_VERSION = "2026.11.1"

#: Environment variable naming the folder of the store (tests, shared machines).
ENV_DIR = "PNEUMOVIEWER_RESULTS_DIR"
#: Default bound: 2 GiB (about 30,000 images at 256² before compression).
DEFAULT_MAX_BYTES = 2 << 30
FILE_NAME = "results.sqlite"
_APPLICATION_ID = 0x504E5652  # "PNVR"
_SCHEMA_VERSION = 1
_ROW_OVERHEAD = 256  # bytes counted per row on top of its map

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    model_key TEXT NOT NULL,
    image_key TEXT NOT NULL,
    image_id TEXT NOT NULL,
    class_probability REAL,
    score REAL,
    map BLOB,
    map_h INTEGER, map_w INTEGER,
    image_h INTEGER, image_w INTEGER,
    device TEXT, seconds REAL,
    stats_key TEXT, area INTEGER, dice REAL, positive INTEGER, state TEXT,
    nbytes INTEGER NOT NULL,
    created REAL NOT NULL,
    UNIQUE (model_key, image_key)
);
"""


@dataclass(frozen=True, slots=True)
class StoredStats:
    """Post-processed numbers of one image for one parameter set (``key``).

    ``state`` is the decision state's text (:class:`pneumoviewer.core.decision.DecisionState`)
    and ``positive`` the image-level label (None: not decided).
    """

    key: str
    area: int | None
    dice: float | None
    positive: bool | None
    state: str | None = None


@dataclass(frozen=True, slots=True)
class StoredResult:
    """One image's model output as stored.

    Attributes
    ----------
    image_id : str
    class_probability : float or None
    score : float or None
        Triage score: the class probability, else the map's maximum.
    map_u8 : numpy.ndarray or None
        uint8 (h, w) at the segmenter's output size, ``round(p * 255)``; None without a
        segmenter, or when only the scalars were read.
    image_shape : tuple of int or None
        ``(H, W)`` of the image the map belongs to (None without a map).
    device : str
    seconds : float
    stats : StoredStats or None

    """

    image_id: str
    class_probability: float | None
    score: float | None
    map_u8: np.ndarray | None
    image_shape: tuple[int, int] | None
    device: str = "cpu"
    seconds: float = 0.0
    stats: StoredStats | None = None


def default_store_path(directory: str | os.PathLike | None = None) -> Path:
    """Return the store file in ``directory``, else ``$PNEUMOVIEWER_RESULTS_DIR``, else the cache.

    The cache is ``platformdirs.user_cache_dir("pneumoviewer")``.
    """
    if directory is None:
        directory = os.environ.get(ENV_DIR) or None
    if directory is None:
        import platformdirs

        directory = platformdirs.user_cache_dir("pneumoviewer", appauthor=False)
    return Path(directory) / FILE_NAME


def image_key(image_id: str, path: str | os.PathLike) -> str:
    """Return ``"<image_id>|<size>|<mtime_ns>"``, the identity of an image file.

    ``"<image_id>|?"`` when the file cannot be read (still a key within a session).
    """
    try:
        st = os.stat(path)
    except OSError:
        return f"{image_id}|?"
    return f"{image_id}|{st.st_size}|{st.st_mtime_ns}"


def model_key(
    *,
    manifest_sha256: str,
    weights_sha256: Mapping[str, str],
    runtime: str,
    preprocessing_version: str = PREPROCESSING_VERSION,
) -> str:
    """Return a hex digest naming a model, its runtime and the preprocessing version.

    Parameters
    ----------
    manifest_sha256 : str
        sha256 of ``manifest.json`` (thresholds, CLAHE, input sizes, Platt scaling...).
    weights_sha256 : mapping of str to str
        Weights file name -> sha256 (the manifest's ``sha256`` field).
    runtime : str
        e.g. ``"torch/cpu/fp32"``, with ``"/tta"`` when test-time augmentation is on.
    preprocessing_version : str
        :data:`PREPROCESSING_VERSION`.

    """
    text = "\n".join(
        [
            "pneumoviewer-results-key/1",
            manifest_sha256,
            *(f"{k}={v}" for k, v in sorted(weights_sha256.items())),
            runtime,
            preprocessing_version,
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _encode_map(map_u8: np.ndarray) -> bytes:
    a = np.ascontiguousarray(map_u8, dtype=np.uint8)
    return zlib.compress(a.tobytes(), 1)


def _decode_map(blob: bytes, h: int, w: int) -> np.ndarray:
    return np.frombuffer(zlib.decompress(blob), dtype=np.uint8).reshape(h, w).copy()


class ResultsStore:
    """An SQLite file of analysis results (thread-safe: one connection behind a lock).

    Parameters
    ----------
    path : path-like
        The store file (created with its folder when missing).
    max_bytes : int
        Bound on the stored bytes (compressed maps + a fixed per-row overhead); past it the
        oldest results are deleted until 90 % of it remains.

    Attributes
    ----------
    path : Path
    notice : str or None
        A sentence for the user when the file was set aside and rebuilt.
    set_aside : Path or None
        Where the unusable file went.

    """

    def __init__(self, path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = int(max_bytes)
        self.notice: str | None = None
        self.set_aside: Path | None = None
        self._lock = threading.RLock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = self._open()
        except sqlite3.DatabaseError as exc:
            self._set_aside(str(exc))
            self._con = self._open()
        self._total = self._sum_bytes()

    # --- opening ---------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
        try:
            app_id = con.execute("PRAGMA application_id").fetchone()[0]
            version = con.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
            if tables and (app_id != _APPLICATION_ID or version != _SCHEMA_VERSION):
                what = (
                    "another program's database"
                    if app_id != _APPLICATION_ID
                    else (f"schema version {version}, expected {_SCHEMA_VERSION}")
                )
                raise sqlite3.DatabaseError(f"not a pneumoviewer results store ({what})")
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA busy_timeout=5000")
            if not tables:
                con.execute(_SCHEMA)
                con.execute(f"PRAGMA application_id={_APPLICATION_ID}")
                con.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            con.execute("SELECT count(*) FROM results").fetchone()
        except sqlite3.DatabaseError:
            con.close()
            raise
        return con

    def _set_aside(self, reason: str) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{n}")
        os.replace(self.path, target)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                os.replace(side, target.with_name(target.name + suffix))
        self.set_aside = target
        self.notice = (
            f"The results store {self.path} could not be used ({reason}); it was moved to "
            f"{target.name} and a new, empty store was created."
        )

    def _recover(self, exc: sqlite3.DatabaseError) -> None:
        """Set a store that broke while in use aside and start a new one."""
        try:
            self._con.close()
        except sqlite3.Error:
            pass
        self._set_aside(str(exc))
        self._con = self._open()
        self._total = 0

    def _sum_bytes(self) -> int:
        return int(self._con.execute("SELECT coalesce(sum(nbytes), 0) FROM results").fetchone()[0])

    def close(self) -> None:
        """Close the connection (checkpoints the WAL)."""
        with self._lock:
            try:
                self._con.close()
            except sqlite3.Error:
                pass

    def __len__(self) -> int:
        with self._lock:
            return int(self._con.execute("SELECT count(*) FROM results").fetchone()[0])

    @property
    def nbytes(self) -> int:
        """Bytes counted against ``max_bytes``."""
        return self._total

    # --- writing -------------------------------------------------------------------------
    def put(self, model: str, image: str, result: StoredResult) -> None:
        """Store one result in its own transaction (replacing an older one), then evict."""
        self.put_many(model, [(image, result)])

    def put_many(self, model: str, items: Iterable[tuple[str, StoredResult]]) -> None:
        """Store several results in one transaction, then evict the oldest past the bound."""
        rows = []
        now = time.time()
        for image, r in items:
            blob = None if r.map_u8 is None else _encode_map(r.map_u8)
            mh, mw = (None, None) if r.map_u8 is None else r.map_u8.shape
            ih, iw = r.image_shape if r.image_shape is not None else (None, None)
            s = r.stats
            rows.append(
                (
                    model, image, r.image_id, r.class_probability, r.score, blob, mh, mw, ih, iw,
                    r.device, float(r.seconds),
                    None if s is None else s.key, None if s is None else s.area,
                    None if s is None else s.dice,
                    None if s is None or s.positive is None else int(s.positive),
                    None if s is None else s.state,
                    _ROW_OVERHEAD + (0 if blob is None else len(blob)), now,
                )
            )  # fmt: skip
        if not rows:
            return
        with self._lock:
            try:
                self._write(model, rows)
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                    raise
                self._recover(exc)
                self._write(model, rows)

    def _write(self, model: str, rows: list[tuple]) -> None:
        con = self._con
        keys = [(model, r[1]) for r in rows]
        con.execute("BEGIN IMMEDIATE")
        try:
            old = 0
            for k in keys:
                hit = con.execute(
                    "SELECT nbytes FROM results WHERE model_key=? AND image_key=?", k
                ).fetchone()
                old += 0 if hit is None else hit[0]
            con.executemany("DELETE FROM results WHERE model_key=? AND image_key=?", keys)
            con.executemany(
                "INSERT INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
            )
            total = self._total - old + sum(r[-2] for r in rows)
            if total > self.max_bytes:
                total = self._evict(total)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self._total = total

    def _evict(self, total: int) -> int:
        """Delete the oldest rows until ``total`` <= 90 % of the bound (inside a transaction)."""
        goal = int(self.max_bytes * 0.9)
        doomed = []
        for rowid, nbytes in self._con.execute("SELECT rowid, nbytes FROM results ORDER BY rowid"):
            if total <= goal:
                break
            doomed.append((rowid,))
            total -= nbytes
        self._con.executemany("DELETE FROM results WHERE rowid=?", doomed)
        return total

    def put_stats(self, model: str, items: Iterable[tuple[str, StoredStats]]) -> None:
        """Remember post-processed numbers (one transaction); unknown rows are ignored."""
        rows = [
            (s.key, s.area, s.dice, None if s.positive is None else int(s.positive), s.state,
             model, image)
            for image, s in items
        ]  # fmt: skip
        if not rows:
            return
        with self._lock:
            try:
                self._con.execute("BEGIN IMMEDIATE")
                self._con.executemany(
                    "UPDATE results SET stats_key=?, area=?, dice=?, positive=?, state=? "
                    "WHERE model_key=? AND image_key=?",
                    rows,
                )
                self._con.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                if self._con.in_transaction:
                    self._con.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                    raise
                self._recover(exc)

    # --- reading -----------------------------------------------------------------------------
    def scalars(self, model: str, images: Sequence[str]) -> dict[str, StoredResult]:
        """Return ``image key -> result`` for the stored ones among ``images``.

        The maps are not read (``map_u8`` is None); ``image_shape`` is set exactly when a
        map is stored (:meth:`load_map` reads it).
        """
        out: dict[str, StoredResult] = {}
        images = list(images)
        with self._lock:
            try:
                for i in range(0, len(images), 900):
                    chunk = images[i : i + 900]
                    marks = ",".join("?" * len(chunk))
                    for row in self._con.execute(
                        "SELECT image_key, image_id, class_probability, score, image_h, "
                        "image_w, device, seconds, stats_key, area, dice, positive, state, "
                        "map IS NOT NULL FROM results "
                        f"WHERE model_key=? AND image_key IN ({marks})",
                        (model, *chunk),
                    ):
                        out[row[0]] = _scalar_row(row)
            except sqlite3.DatabaseError as exc:
                self._recover(exc)
                return {}
        return out

    def load_map(self, model: str, image: str) -> np.ndarray | None:
        """Return the stored uint8 (h, w) map of one image, or None."""
        with self._lock:
            try:
                row = self._con.execute(
                    "SELECT map, map_h, map_w FROM results WHERE model_key=? AND image_key=?",
                    (model, image),
                ).fetchone()
            except sqlite3.DatabaseError as exc:
                self._recover(exc)
                return None
        if row is None or row[0] is None:
            return None
        try:
            return _decode_map(row[0], row[1], row[2])
        except (zlib.error, ValueError):
            return None


def _scalar_row(row: tuple) -> StoredResult:
    (_, image_id, cp, score, ih, iw, device, seconds, skey, area, dice, pos, state, has_map) = row
    positive = None if pos is None else bool(pos)
    stats = None if skey is None else StoredStats(skey, area, dice, positive, state)
    shape = None if ih is None else (int(ih), int(iw))
    return StoredResult(
        image_id, cp, score, None, shape if has_map else None, device or "cpu", seconds or 0.0,
        stats,
    )  # fmt: skip
