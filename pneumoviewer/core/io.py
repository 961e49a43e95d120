"""Atomic file writes: the one implementation every writer in pneumoviewer uses.

A file is written to a uniquely named temporary file in the destination folder, flushed
to disk (``fsync``), then renamed over the destination with :func:`os.replace`. Readers
see the old file or the complete new one, never a partial one; a crash or an error
leaves no temporary file behind (it is removed when anything fails).

Used by the PNG export, ``pneumoviewer predict``'s CSV/JSON outputs, model directories
(weights and ``manifest.json``) and training checkpoints.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_writer"]

#: Suffix of the temporary files (``.{name}.{random}.tmp`` next to the destination).
TMP_SUFFIX = ".tmp"


def _refuse_existing(path: Path, overwrite: bool) -> None:
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"{path}: file exists (not overwritten)")


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[BinaryIO]:
    """Open a binary file that replaces ``path`` atomically when the block succeeds.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file; its folder must exist.
    overwrite : bool
        Replace an existing file. Without it an existing ``path`` raises.

    Yields
    ------
    BinaryIO
        A binary file object open for writing (a temporary file in the same folder).
        When the ``with`` block ends without an exception, the data is flushed to disk
        and the file is renamed over ``path``; when it raises, the temporary file is
        removed and ``path`` is untouched.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False (checked before writing and again
        just before the rename).
    OSError
        If the folder does not exist or is not writable, the disk is full, etc.

    Examples
    --------
    >>> with atomic_writer(tmp / "weights.pt", overwrite=True) as f:  # doctest: +SKIP
    ...     torch.save(state, f)

    """
    path = Path(path)
    _refuse_existing(path, overwrite)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{TMP_SUFFIX}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        _refuse_existing(path, overwrite)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, *, overwrite: bool = False
) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`).

    Parameters
    ----------
    path : str or os.PathLike
        Destination file; its folder must exist.
    data : bytes
        The content (bytes-like).
    overwrite : bool
        Replace an existing file. Without it an existing ``path`` raises.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    OSError
        If the folder does not exist or is not writable, the disk is full, etc.

    """
    path = Path(path)
    with atomic_writer(path, overwrite=overwrite) as f:
        f.write(data)
    return path


def atomic_write_text(
    path: str | os.PathLike[str], text: str, *, overwrite: bool = False, encoding: str = "utf-8"
) -> Path:
    """Write ``text`` to ``path`` atomically, encoded with ``encoding`` (no newline translation).

    Parameters
    ----------
    path : str or os.PathLike
        Destination file; its folder must exist.
    text : str
        The content; line endings are written as given.
    overwrite : bool
        Replace an existing file. Without it an existing ``path`` raises.
    encoding : str
        Text encoding (UTF-8 by default).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    OSError
        If the folder does not exist or is not writable, the disk is full, etc.

    """
    return atomic_write_bytes(path, text.encode(encoding), overwrite=overwrite)
