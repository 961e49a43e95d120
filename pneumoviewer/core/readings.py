"""The reading file: a reader's verdicts, notes and corrected masks for one study.

One SQLite database (standard library, WAL journal) per study. Every change -- a verdict,
a note, a mask edit, the AI context the reader saw -- is one transaction, committed before
the call returns (``synchronous=FULL``), so a crash or a kill loses nothing that was
acknowledged, and a file is never left half-written. Reopening the file resumes the reading.

Layout (format version 1; ``PRAGMA application_id`` = ``0x504E5652`` "PNVR",
``PRAGMA user_version`` = the format version):

``meta(key, value)``
    ``study`` (the study key, see :func:`study_key`), ``study_name``, ``created``,
    ``software``.
``readings(image_id PRIMARY KEY, ...)``
    The latest state per image: ``verdict`` (agree / disagree / unsure or NULL), ``note``,
    ``reader``, ``time`` (ISO 8601 UTC of the last change), ``source`` (the DICOM file,
    relative to the reading file's folder when it lies below it), ``ai`` (JSON of
    :class:`AIContext`), ``mask_rle`` / ``mask_rows`` / ``mask_cols`` / ``mask_time`` (the
    reader's mask as a SIIM relative run-length string, :mod:`pneumoviewer.core.rle`; NULL
    when the reader has not drawn one).
``events(id, image_id, time, reader, kind, value)``
    Append-only history: one row per change (``verdict``, ``note``, ``mask``, ``ai``), the
    value as written (masks as run-length strings).

A file of another study or of a newer format version, or a file that is not a reading
file, is refused with :class:`ReadingFileError` and left untouched.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pneumoviewer.core.errors import PneumoviewerError
from pneumoviewer.core.reading_model import (
    AIContext,
    Event,
    Reading,
    Verdict,
    ai_context_from_manifest,
    default_reader,
    mask_to_rle,
    now_utc,
    provenance,
)

__all__ = [
    "APPLICATION_ID",
    "FORMAT_VERSION",
    "READING_FILE_NAME",
    "AIContext",
    "Event",
    "Reading",
    "ReadingFile",
    "ReadingFileError",
    "Verdict",
    "ai_context_from_manifest",
    "default_reader",
    "default_reading_path",
    "fallback_reading_path",
    "now_utc",
    "provenance",
    "reading_path_for",
    "study_key",
]

FORMAT_VERSION = 1
APPLICATION_ID = 0x504E5652  # "PNVR"
#: Default name of the reading file in the study folder (hidden: scans skip it).
READING_FILE_NAME = ".pneumoviewer-readings.sqlite"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE readings (
    image_id TEXT PRIMARY KEY,
    verdict TEXT CHECK (verdict IN ('agree', 'disagree', 'unsure')),
    note TEXT NOT NULL DEFAULT '',
    reader TEXT NOT NULL,
    time TEXT NOT NULL,
    source TEXT,
    ai TEXT,
    mask_rle TEXT,
    mask_rows INTEGER,
    mask_cols INTEGER,
    mask_time TEXT,
    seq INTEGER NOT NULL
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    image_id TEXT NOT NULL,
    time TEXT NOT NULL,
    reader TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT
);
CREATE INDEX events_image ON events (image_id);
"""


class ReadingFileError(PneumoviewerError):
    """A reading file cannot be used (not one, another study, newer format, unreadable).

    Parameters
    ----------
    path : str or Path
        The reading file.
    problem : str
        What is wrong, in words a user understands.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def default_reading_path(folder: str | os.PathLike[str]) -> Path:
    """Return where a study folder's reading file lives: ``folder/READING_FILE_NAME``.

    The name is hidden, so folder scans skip it (and its ``-wal``/``-shm`` companions).
    Where the folder is read-only, the caller asks the user for another path, or uses
    :func:`fallback_reading_path`.
    """
    return Path(folder) / READING_FILE_NAME


def fallback_reading_path(folder: str | os.PathLike[str]) -> Path:
    """Return the per-user reading file of a study whose folder is not writable.

    ``<user data dir>/pneumoviewer/readings/<folder name>-<12 hex of its key>.sqlite``
    (platformdirs), one per study folder.
    """
    import hashlib

    import platformdirs

    key = study_key(folder)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(key).name)[:40]
    base = Path(platformdirs.user_data_dir("pneumoviewer", "pneumoviewer"))
    return base / "readings" / f"{name or 'study'}-{digest}.sqlite"


def reading_path_for(folder: str | os.PathLike[str]) -> Path:
    """Return the reading file to use for a folder: beside the study when it is writable.

    An existing file beside the study wins; else the folder's own file when the folder is
    writable; else :func:`fallback_reading_path` (its folder is created).
    """
    beside = default_reading_path(folder)
    if beside.exists() or os.access(folder, os.W_OK):
        return beside
    fallback = fallback_reading_path(folder)
    fallback.parent.mkdir(parents=True, exist_ok=True)
    return fallback


def study_key(folder: str | os.PathLike[str]) -> str:
    """Return the key identifying a study folder: its resolved absolute path."""
    return str(Path(folder).resolve())


#: Seconds a write waits for another process's write to finish before giving up.
BUSY_TIMEOUT_S = 10.0


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    return sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_S)


def _check_existing(con: sqlite3.Connection, path: Path) -> dict[str, str]:
    """Validate an existing file (read-only queries only); return its meta table."""
    try:
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        version = con.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise ReadingFileError(path, f"not a pneumoviewer reading file ({exc})") from None
    if app_id != APPLICATION_ID:
        raise ReadingFileError(
            path, "not a pneumoviewer reading file (another SQLite database); left unchanged"
        )
    if version > FORMAT_VERSION:
        raise ReadingFileError(
            path,
            f"written by a newer pneumoviewer (reading-file format {version}; this version "
            f"reads up to {FORMAT_VERSION}); update pneumoviewer. The file was not changed",
        )
    try:
        return dict(con.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError as exc:
        raise ReadingFileError(path, f"damaged reading file ({exc}); left unchanged") from None


class ReadingFile:
    """An open reading file; every setter is committed before it returns.

    Parameters
    ----------
    path : str or os.PathLike
        The SQLite file; created (with its folder's write permission) when missing.
    study : str or None
        Key of the study being read (:func:`study_key` of the folder). An existing file
        of another study is refused unless every image it has read is in ``image_ids``
        (the same study, moved). None (read-only export) accepts any study.
    study_name : str
        Shown to people (e.g. the folder name); stored when the file is created.
    image_ids : collection of str, optional
        Image ids of the study being opened, for the "moved folder" check above.
    reader : str or None
        Name written with each change; None uses :func:`default_reader`.
    durable : bool
        ``synchronous=FULL`` (default): each change is on disk before the call returns,
        surviving a power loss too (about 10 ms per change on a slow disk). False uses
        ``synchronous=NORMAL``: still safe against a crash or kill of the process (and the
        file stays consistent), but the last changes may be lost on a power loss.
    readonly : bool
        Open without writing anything (export); the file must exist.

    Raises
    ------
    ReadingFileError
        Not a reading file, newer format, another study, damaged, or cannot be created.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        study: str | None,
        study_name: str = "",
        image_ids: Collection[str] | None = None,
        reader: str | None = None,
        durable: bool = True,
        readonly: bool = False,
    ) -> None:
        self.path = Path(path)
        self.reader = reader or default_reader()
        self.readonly = readonly
        exists = self.path.exists() and self.path.stat().st_size > 0
        if readonly and not exists:
            raise ReadingFileError(self.path, "no such reading file")
        if self.path.is_dir():
            raise ReadingFileError(self.path, "is a folder, not a reading file")
        try:
            self._con = _connect(self.path, readonly=readonly)
        except sqlite3.Error as exc:
            raise ReadingFileError(self.path, f"cannot open ({exc})") from None
        try:
            if exists:
                self.meta = _check_existing(self._con, self.path)
                self._check_study(study, image_ids)
            else:
                self.meta = self._create(study, study_name)
            if not readonly:
                self._con.execute("PRAGMA journal_mode=WAL")
                self._con.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        except sqlite3.Error as exc:
            self._con.close()
            raise ReadingFileError(self.path, f"cannot use this file ({exc})") from None
        except BaseException:
            self._con.close()
            raise
        self.study = self.meta.get("study", "")
        self.study_name = self.meta.get("study_name", "")

    # -- opening ---------------------------------------------------------------------------
    def _create(self, study: str | None, study_name: str) -> dict[str, str]:
        from pneumoviewer import __version__

        meta = {
            "study": study or "",
            "study_name": study_name,
            "created": now_utc(),
            "software": f"pneumoviewer {__version__}",
        }
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute(f"PRAGMA application_id={APPLICATION_ID}")
            con.execute(f"PRAGMA user_version={FORMAT_VERSION}")
            for statement in _SCHEMA.strip().split(";"):
                if statement.strip():
                    con.execute(statement)
            con.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return meta

    def _check_study(self, study: str | None, image_ids: Collection[str] | None) -> None:
        stored = self.meta.get("study", "")
        if study is None or stored == study:
            return
        read_ids = [r[0] for r in self._con.execute("SELECT image_id FROM readings")]
        if image_ids is not None and read_ids:
            ids = image_ids if isinstance(image_ids, set | frozenset | dict) else set(image_ids)
            if all(i in ids for i in read_ids):
                return  # the same study, moved or renamed: every image read is here
        name = self.meta.get("study_name") or stored
        raise ReadingFileError(
            self.path,
            f"belongs to another study ({name!r} at {stored}), not {study}; "
            "the file was not changed (choose another reading file)",
        )

    # -- life cycle ------------------------------------------------------------------------
    def close(self) -> None:
        """Close the database (idempotent)."""
        con, self._con = getattr(self, "_con", None), None
        if con is not None:
            con.close()

    def __enter__(self) -> ReadingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _db(self) -> sqlite3.Connection:
        if self._con is None:
            raise ReadingFileError(self.path, "reading file is closed")
        if self.readonly:
            raise ReadingFileError(self.path, "opened read-only")
        return self._con

    # -- writing ---------------------------------------------------------------------------
    def _source(self, source: str | os.PathLike[str] | None) -> str | None:
        if source is None:
            return None
        src = Path(source)
        try:
            return src.resolve().relative_to(self.path.resolve().parent).as_posix()
        except ValueError:
            return str(src.resolve())

    def _write(
        self,
        image_id: str,
        kind: str,
        value: str | None,
        columns: dict[str, Any],
        *,
        ai: AIContext | None,
        source: str | os.PathLike[str] | None,
    ) -> None:
        con = self._db()
        image_id = str(image_id)
        time = now_utc()
        columns = dict(columns, reader=self.reader, time=time)
        if ai is not None:
            columns["ai"] = json.dumps(ai.to_dict(), sort_keys=True)
        if source is not None:
            columns["source"] = self._source(source)
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise ReadingFileError(self.path, f"cannot save ({exc})") from None
        try:
            row = con.execute("SELECT ai FROM readings WHERE image_id = ?", (image_id,)).fetchone()
            new_ai = "ai" in columns and (row is None or row[0] != columns["ai"])
            if row is not None:
                sets = ", ".join(f"{k} = ?" for k in columns)
                con.execute(
                    f"UPDATE readings SET {sets} WHERE image_id = ?",  # noqa: S608 - our names
                    (*columns.values(), image_id),
                )
            else:
                seq = con.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM readings").fetchone()[0]
                cols = {"image_id": image_id, "seq": seq, **columns}
                con.execute(
                    f"INSERT INTO readings ({', '.join(cols)}) "  # noqa: S608 - our names
                    f"VALUES ({', '.join('?' * len(cols))})",
                    tuple(cols.values()),
                )
            if kind != "ai" or new_ai:
                con.execute(
                    "INSERT INTO events (image_id, time, reader, kind, value) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (image_id, time, self.reader, kind, value),
                )
            if new_ai and kind != "ai":  # the AI context changed: one history entry
                con.execute(
                    "INSERT INTO events (image_id, time, reader, kind, value) "
                    "VALUES (?, ?, ?, 'ai', ?)",
                    (image_id, time, self.reader, columns["ai"]),
                )
            con.execute("COMMIT")
        except sqlite3.Error as exc:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise ReadingFileError(self.path, f"cannot save ({exc})") from None
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise

    def set_verdict(
        self,
        image_id: str,
        verdict: Verdict | str | None,
        *,
        ai: AIContext | None = None,
        source: str | os.PathLike[str] | None = None,
    ) -> None:
        """Record (or, with None, withdraw) the verdict on one image.

        Parameters
        ----------
        image_id : str
            The image.
        verdict : Verdict, str or None
            ``agree`` / ``disagree`` / ``unsure``; None clears it.
        ai : AIContext, optional
            The AI context the reader saw (stored with the verdict).
        source : path-like, optional
            The image's DICOM file (kept for the DICOM export).
        """
        value = None if verdict is None else Verdict(verdict).value
        self._write(image_id, "verdict", value, {"verdict": value}, ai=ai, source=source)

    def set_note(
        self,
        image_id: str,
        note: str,
        *,
        source: str | os.PathLike[str] | None = None,
    ) -> None:
        """Record the free-text note of one image ("" clears it)."""
        self._write(image_id, "note", str(note), {"note": str(note)}, ai=None, source=source)

    def set_mask(
        self,
        image_id: str,
        mask: np.ndarray | None,
        *,
        ai: AIContext | None = None,
        source: str | os.PathLike[str] | None = None,
    ) -> None:
        """Record the reader's mask of one image (call once per finished stroke).

        Parameters
        ----------
        image_id : str
            The image.
        mask : numpy.ndarray or None
            (H, W), non-zero = in the mask; None removes the reader's mask (back to "none
            drawn"). An all-zero mask is kept: the reader says "no pneumothorax here".
        ai, source
            As in :meth:`set_verdict`.
        """
        if mask is None:
            cols: dict[str, Any] = dict.fromkeys(("mask_rle", "mask_rows", "mask_cols"))
            cols["mask_time"] = now_utc()
            self._write(image_id, "mask", None, cols, ai=ai, source=source)
            return
        text, rows, columns = mask_to_rle(mask, "reader mask")
        cols = {"mask_rle": text, "mask_rows": rows, "mask_cols": columns, "mask_time": now_utc()}
        self._write(image_id, "mask", f"{rows}x{columns}:{text}", cols, ai=ai, source=source)

    def set_ai(
        self,
        image_id: str,
        ai: AIContext,
        *,
        source: str | os.PathLike[str] | None = None,
    ) -> None:
        """Record the AI context of one image without changing verdict, note or mask."""
        value = json.dumps(ai.to_dict(), sort_keys=True)
        self._write(image_id, "ai", value, {}, ai=ai, source=source)

    # -- reading ---------------------------------------------------------------------------
    _COLUMNS = (
        "image_id, verdict, note, reader, time, source, ai, mask_rle, mask_rows, mask_cols, "
        "mask_time"
    )

    def _reading(self, row: tuple) -> Reading:
        image_id, verdict, note, reader, time, source, ai, mask_rle, rows, cols, mask_time = row
        try:
            context = None if ai is None else AIContext.from_dict(json.loads(ai))
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise ReadingFileError(self.path, f"image {image_id}: bad AI context ({exc})") from None
        return Reading(
            image_id=image_id,
            verdict=None if verdict is None else Verdict(verdict),
            note=note or "",
            reader=reader,
            time=time,
            source=source,
            ai=context,
            mask_rle=mask_rle,
            mask_shape=None if mask_rle is None else (int(rows), int(cols)),
            mask_time=mask_time,
        )

    def _query(self) -> sqlite3.Connection:
        if self._con is None:
            raise ReadingFileError(self.path, "reading file is closed")
        return self._con

    def get(self, image_id: str) -> Reading | None:
        """Return the reading of one image, or None when it was never touched."""
        row = (
            self._query()
            .execute(
                f"SELECT {self._COLUMNS} FROM readings WHERE image_id = ?",  # noqa: S608
                (str(image_id),),
            )
            .fetchone()
        )
        return None if row is None else self._reading(row)

    def readings(self) -> list[Reading]:
        """Every image's reading, in the order the images were first touched."""
        rows = self._query().execute(
            f"SELECT {self._COLUMNS} FROM readings ORDER BY seq"  # noqa: S608
        )
        return [self._reading(r) for r in rows]

    def __iter__(self) -> Iterator[Reading]:
        return iter(self.readings())

    def __len__(self) -> int:
        return int(self._query().execute("SELECT COUNT(*) FROM readings").fetchone()[0])

    def read_ids(self) -> set[str]:
        """Ids of the images with a verdict (the viewer's "read" column)."""
        rows = self._query().execute("SELECT image_id FROM readings WHERE verdict IS NOT NULL")
        return {r[0] for r in rows}

    def history(self, image_id: str | None = None) -> list[Event]:
        """Return the change history, oldest first (of one image, or of all)."""
        sql = "SELECT image_id, time, reader, kind, value FROM events"
        args: tuple = ()
        if image_id is not None:
            sql += " WHERE image_id = ?"
            args = (str(image_id),)
        return [Event(*r) for r in self._query().execute(sql + " ORDER BY id", args)]

    def source_path(self, reading: Reading) -> Path | None:
        """Return the DICOM file of a reading (relative sources resolve from this file's folder)."""
        if reading.source is None:
            return None
        src = Path(reading.source)
        return src if src.is_absolute() else self.path.resolve().parent / src
