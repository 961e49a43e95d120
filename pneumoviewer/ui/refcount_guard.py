"""Guard against a PySide6 6.12 reference-count bug on CPython 3.11.

With PySide6 6.12.0 on CPython 3.11, every Python-side ``Signal.emit()`` drops one
reference to ``True`` that it never took (checked here: 100 emits of a ``Signal(str)``,
connected or not, lower ``sys.getrefcount(True)`` by exactly 100). ``True`` is not immortal
before CPython 3.12, so after a few thousand emits (a few thousand analysed images: each
result emits several signals) its count reaches zero and the interpreter aborts with
"Fatal Python error: bool_dealloc" -- at once, or at exit. From 3.12 on, ``True``,
``False`` and ``None`` are immortal and the bug is harmless.

:func:`keep_singletons_alive` gives the three singletons a reference count no session can
exhaust (2**40 extra references), which is what immortality means in 3.12. Remove it when
PySide6 is fixed or the project requires Python >= 3.12.
"""

from __future__ import annotations

import sys

_EXTRA_REFERENCES = 1 << 40
_done = False


def keep_singletons_alive() -> bool:
    """Make ``True``, ``False`` and ``None`` effectively immortal on CPython < 3.12.

    Returns
    -------
    bool
        Whether anything was done (False on 3.12+, other interpreters, or a second call).

    """
    global _done
    if _done or sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    import ctypes

    for obj in (True, False, None):
        ctypes.c_ssize_t.from_address(id(obj)).value += _EXTRA_REFERENCES
    _done = True
    return True
