"""PySide6 + pyqtgraph viewer. Thin: widgets bind to state, work runs on workers."""
