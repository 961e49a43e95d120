"""File -> Export readings (#9): the core export of the reading file on a superqt worker."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal


class ReadingExporter(QObject):
    """Run :func:`pneumoviewer.core.reading_export.export_readings` off the GUI thread.

    Parameters
    ----------
    reading : ReadingController
        The open reading file (``file``), its folder and a pending note to save first.
    status : StatusController
        Progress and result messages.
    show_error : callable
        ``show_error(title, text)``.

    Signals
    -------
    exported(object) : the ``ReadingsExport``.
    export_failed(str) : why it failed.
    """

    exported = Signal(object)
    export_failed = Signal(str)

    def __init__(self, reading, *, status, show_error, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.reading, self.status, self.show_error = reading, status, show_error
        self.export_worker = None

    def ask_export_folder(self) -> Path | None:
        """Ask where readings go (tests replace this)."""
        from PySide6.QtWidgets import QFileDialog

        start = str(self.reading.folder or Path.home())
        folder = QFileDialog.getExistingDirectory(None, "Export readings to a folder", start)
        return Path(folder) if folder else None

    def export_readings(self, out_dir: Path | None = None, *, overwrite: bool = False) -> bool:
        """File -> Export readings: readings.csv, labels and DICOM, on a worker thread."""
        from pneumoviewer.ui.workers import start_worker

        if self.reading.file is None:
            self.show_error("Export readings", self.reading.problem or "No reading file is open.")
            return False
        if self.export_worker is not None:
            self.status.message("An export of the readings is running", 5000)
            return False
        self.reading.flush_note()
        out_dir = out_dir or self.ask_export_folder()
        if out_dir is None:
            return False
        self.status.message(f"Exporting readings to {out_dir} …", 0)
        self.export_worker = start_worker(
            _export_job,
            self.reading.file.path,
            Path(out_dir),
            overwrite=overwrite,
            folder=self.reading.folder,
            returned=self._on_exported,
            errored=self._on_export_failed,
        )
        return True

    def _on_exported(self, result) -> None:
        self.export_worker = None
        msg = (
            f"Exported {result.readings} readings, {result.labels} labels and "
            f"{len(result.dicom_files)} DICOM files"
        )
        if result.written:
            msg += f" to {Path(result.written[0]).parent}"
        if result.problems:
            shown = "; ".join(f"{i}: {m}" for i, m in result.problems[:2])
            msg += f" · {len(result.problems)} problems ({shown})"
        self.status.message(msg, 15000)
        self.exported.emit(result)

    def _on_export_failed(self, exc: BaseException) -> None:
        self.export_worker = None
        self.status.message(f"Export of the readings failed: {exc}", 15000)
        self.show_error("Export readings", str(exc))
        self.export_failed.emit(str(exc))


def _export_job(path: Path, out_dir: Path, *, overwrite: bool, folder: Path | None):
    """Export the readings (a generator for ``start_worker``; returns the result)."""
    from pneumoviewer.core.reading_export import export_readings

    yield from ()
    return export_readings(path, out_dir, overwrite=overwrite, folder=folder)
