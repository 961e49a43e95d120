"""Qt-free core: DICOM, ground truth, pre/post-processing, overlays, metrics, export.

Nothing here imports PySide6 or pyqtgraph; only :mod:`pneumoviewer.core.inference`
imports torch.
"""
