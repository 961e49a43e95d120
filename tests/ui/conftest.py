"""UI test fixtures: isolated QSettings, a window, and a guard against leaked worker threads."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def leaked_thread_problems(before: set[threading.Thread]) -> list[str]:
    """Describe pneumoviewer workers, QThreadPool threads and new Python threads still alive."""
    from PySide6.QtCore import QThreadPool

    from pneumoviewer.ui.workers import running_workers

    pool = QThreadPool.globalInstance()
    pool.waitForDone(2000)
    problems = []
    leaked = running_workers()
    if leaked:
        problems.append(f"worker threads still running: {leaked}")
    if pool.activeThreadCount():
        problems.append(f"{pool.activeThreadCount()} QThreadPool threads still active")
    new_threads = [
        t
        for t in threading.enumerate()
        if t not in before and t.is_alive() and not isinstance(t, threading._DummyThread)
    ]
    if new_threads:
        problems.append(f"Python threads still alive: {new_threads}")
    return problems


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Fail a test that leaves a pneumoviewer worker, a pool thread or a Python thread alive."""
    from pneumoviewer.ui.workers import running_workers

    before = set(threading.enumerate())
    yield
    problems = leaked_thread_problems(before)
    if problems:
        for t in running_workers():  # do not poison the next tests
            if hasattr(t, "stop"):
                t.stop()  # a QThread worker
            else:
                t.quit()  # a superqt pool worker (scan, export)
        pytest.fail("; ".join(problems))


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, qapp):
    """Point QSettings (INI, user and system scope) at a temporary folder."""
    from PySide6.QtCore import QSettings

    folder = tmp_path / "settings"
    folder.mkdir()
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(folder))
        QSettings.setPath(QSettings.Format.NativeFormat, scope, str(folder))
    return folder


@pytest.fixture(autouse=True)
def readings_of_samples_in_tmp(tmp_path: Path, monkeypatch):
    """Keep the viewer's reading file of the bundled samples out of the repository (#9)."""
    import pneumoviewer.core.readings as readings
    from tests.conftest import SAMPLES_DIR

    beside = readings.reading_path_for

    def path_for(folder):
        if Path(folder).resolve() == Path(SAMPLES_DIR).resolve():
            return tmp_path / "samples-readings.sqlite"
        return beside(folder)

    monkeypatch.setattr(readings, "reading_path_for", path_for)


@pytest.fixture
def make_window(qtbot, monkeypatch):
    """Factory of main windows; each is closed (workers stopped) at the end of the test."""
    from pneumoviewer.ui.main_window import MainWindow

    windows = []

    def make(**kwargs):
        w = MainWindow(**kwargs)
        w.errors = []
        monkeypatch.setattr(w, "show_error", lambda title, text: w.errors.append(text))
        qtbot.addWidget(w)
        w.show()
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.close()
        w.shutdown()


@pytest.fixture
def window(make_window):
    """One main window."""
    return make_window()


def open_and_wait(qtbot, window, folder: Path, timeout: int = 15000) -> None:
    """Open ``folder`` and wait until the scan finished and the first image is shown."""
    with qtbot.waitSignals([window.scan_finished, window.image_shown], timeout=timeout):
        window.open_folder(folder)


def show_row_and_wait(qtbot, window, image_id: str, timeout: int = 10000) -> None:
    """Select ``image_id`` and wait until the canvas shows it."""
    if window.current is not None and window.current.image_id == image_id:
        return
    with qtbot.waitSignal(
        window.image_shown, timeout=timeout, check_params_cb=lambda i: i == image_id
    ):
        assert window.study_list.select_id(image_id)


def load_model_and_wait(qtbot, window, model_dir: Path, timeout: int = 60000) -> None:
    """Load a model directory and wait until the worker reports it ready."""
    with qtbot.waitSignal(window.model_ready, timeout=timeout):
        assert window.load_model(model_dir)
