"""Entry point: ``run_viewer`` builds the QApplication and the window (import-cheap).

Nothing heavy is imported at module level: Qt, pyqtgraph and the core load inside
:func:`run_viewer`, and torch only in the inference worker after the first image is painted.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from pathlib import Path

log = logging.getLogger("pneumoviewer")

_T0 = time.perf_counter()


#: GIL switch interval while the viewer runs (Python's default is 5 ms). Header parsing in
#: the scan worker is pure Python; with 5 ms every Qt -> Python call of the GUI thread
#: (model data(), paint) could wait up to 5 ms for the GIL, which adds up to visible stalls.
GIL_SWITCH_INTERVAL_S = 0.001


def import_pyqtgraph() -> None:
    """Import pyqtgraph without its CUDA-Python probe (~0.1 s of the launch).

    pyqtgraph's ``RawImageWidget`` imports ``cuda.bindings.runtime`` at import time for
    CUDA-OpenGL interop, which the viewer never uses; where torch brought CUDA-Python in,
    that import alone took ~0.1 s before the first paint. During pyqtgraph's import the
    module is marked missing (pyqtgraph handles ImportError); afterwards the mark is removed,
    so torch or anything else imports CUDA-Python normally.
    """
    name = "cuda.bindings.runtime"
    if "pyqtgraph" in sys.modules or name in sys.modules:
        return
    sys.modules[name] = None  # type: ignore[assignment] - "not importable"
    try:
        import pyqtgraph  # noqa: F401
    finally:
        sys.modules.pop(name, None)


def configure_runtime() -> None:
    """Process-wide settings for a responsive GUI (GIL switch interval)."""
    from pneumoviewer.ui.refcount_guard import keep_singletons_alive

    keep_singletons_alive()  # PySide6 6.12 + CPython 3.11: each emit drops a ref to True
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


def install_excepthook(parent_getter) -> None:
    """Log unexpected exceptions and show them in a dialog instead of dying.

    Parameters
    ----------
    parent_getter : callable
        Returns the window to parent the dialog (or None).

    """

    def hook(exc_type, exc, tb) -> None:
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("Unexpected error:\n%s", text)
        try:
            from PySide6.QtWidgets import QMessageBox

            box = QMessageBox(parent_getter())
            box.setIcon(QMessageBox.Icon.Critical)
            box.setWindowTitle("Unexpected error")
            box.setText(f"{exc_type.__name__}: {exc}")
            box.setDetailedText(text)
            box.exec()
        except Exception:  # noqa: BLE001 - never fail inside the hook
            sys.__excepthook__(exc_type, exc, tb)

    sys.excepthook = hook


def run_viewer(
    folder: Path | None,
    *,
    model_dir: Path | None,
    gt_csv: Path | None,
    device: str = "auto",
    screenshot: Path | None = None,
    script: str = "",
    probe: bool = False,
    probe_result: bool = False,
) -> int:
    """Start the desktop viewer and return the exit code.

    Parameters
    ----------
    folder : Path or None
        Folder to open; None opens the bundled sample study (``pneumoviewer.SAMPLES_DIR``).
    model_dir : Path or None
        Model directory; None uses ``pneumoviewer.DEMO_MODEL_DIR`` when it exists, else the
        viewer runs without a model.
    gt_csv : Path or None
        Ground-truth CSV (default: a ``*rle*.csv`` found in or above the folder).
    device : {"auto", "cpu", "cuda"}
        Device for the model.
    screenshot : Path or None
        Hidden option for tests and docs: save a grab of the window after the first image
        (and the model, when one is given) is ready, then quit.
    script : str
        Hidden option with ``screenshot``: comma-separated steps run before the grab
        (``analyse``, ``analyse_all``, ``clahe``, ``difference``, ``down``, ``outline``).
    probe : bool
        Hidden option: print startup timing as JSON after the first paint and quit.
    probe_result : bool
        Hidden option: load the model, wait for the first AI result painted by itself (no
        key press), print the timings as JSON and quit.

    Returns
    -------
    int
        Process exit code.

    """
    import pneumoviewer

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    configure_runtime()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    import_pyqtgraph()
    from pneumoviewer.ui.main_window import MainWindow
    from pneumoviewer.ui.theme import apply_dark_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("pneumoviewer")
    app.setApplicationName("pneumoviewer")
    apply_dark_theme(app)
    window = MainWindow(gt_csv=gt_csv, device=device if device != "auto" else None)
    install_excepthook(lambda: window)
    if model_dir is None and pneumoviewer.DEMO_MODEL_DIR.is_dir():
        model_dir = pneumoviewer.DEMO_MODEL_DIR
    window.show()
    window.open_folder(Path(folder) if folder else pneumoviewer.SAMPLES_DIR)

    state: dict = {"model_requested": False}

    def start_model() -> None:
        if model_dir is not None and not state["model_requested"]:
            state["model_requested"] = True
            state["model_requested_s"] = time.perf_counter() - _T0
            window.load_model(Path(model_dir))

    if probe_result:
        import json

        def on_ready(_info) -> None:
            state["model_ready_s"] = time.perf_counter() - _T0

        def on_result() -> None:
            app.processEvents()  # the overlay is painted
            t = time.perf_counter() - _T0
            ready = state.get("model_ready_s", float("nan"))
            out = {
                "first_paint_s": state.get("first_paint_s"),
                "model_requested_s": state.get("model_requested_s"),
                "model_ready_s": ready,
                "first_result_painted_s": t,
                "after_model_ready_s": t - ready,
            }
            print(json.dumps(out), flush=True)
            QTimer.singleShot(0, window.close)

        window.model_ready.connect(on_ready)
        window.first_result_painted.connect(on_result)

    def on_first_image(_image_id: str) -> None:
        window.image_shown.disconnect(on_first_image)
        app.processEvents()  # paint the first image before anything else
        state["first_paint_s"] = time.perf_counter() - _T0
        if probe:
            import json

            print(
                json.dumps(
                    {
                        "first_paint_s": time.perf_counter() - _T0,
                        "torch_imported": "torch" in sys.modules,
                    }
                ),
                flush=True,
            )
            QTimer.singleShot(0, window.close)
            return
        QTimer.singleShot(50, start_model)

    window.image_shown.connect(on_first_image)
    window.scan_finished.connect(lambda n: n == 0 and QTimer.singleShot(50, start_model))
    if screenshot is not None:
        from pneumoviewer.ui.scripted import ScreenshotDriver

        driver = ScreenshotDriver(
            window, Path(screenshot), script=script, want_model=model_dir is not None
        )
        window.image_shown.connect(driver.on_image)
    code = app.exec()
    window.shutdown()
    return int(code)
