"""The guard against PySide6 6.12's lost reference to True per Signal.emit (CPython 3.11)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

EMITTER = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import QCoreApplication, QObject, Signal
    if sys.argv[1] == "guard":
        from pneumoviewer.ui.refcount_guard import keep_singletons_alive
        keep_singletons_alive()
    app = QCoreApplication([])
    class O(QObject):
        s = Signal(str)
    o = O()
    o.s.connect(lambda text: None)
    before = sys.getrefcount(True)
    for _ in range(100):
        o.s.emit("x")
    print(before - sys.getrefcount(True), flush=True)  # references lost per 100 emits
    for _ in range(50_000):  # far more than True's count in a small process
        o.s.emit("x")
    print("alive", flush=True)
    """
)


def _run(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", EMITTER, mode],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen", "PATH": ""},
    )


def test_fifty_thousand_emits_survive_with_the_guard():
    guarded = _run("guard")
    assert guarded.returncode == 0, guarded.stderr[-2000:]
    assert guarded.stdout.split()[-1] == "alive"


def test_the_guard_is_a_no_op_where_singletons_are_immortal(monkeypatch):
    from pneumoviewer.ui import refcount_guard

    monkeypatch.setattr(refcount_guard, "_done", False)
    monkeypatch.setattr(refcount_guard.sys, "version_info", (3, 12, 0))
    before = sys.getrefcount(True)
    assert refcount_guard.keep_singletons_alive() is False
    assert abs(sys.getrefcount(True) - before) < 1000
