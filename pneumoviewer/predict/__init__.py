"""``pneumoviewer predict``: headless batch inference over a folder of DICOM files.

Importing this package is cheap (no torch); the models load inside :func:`run_predict`.
"""

from __future__ import annotations

from pneumoviewer.predict.options import PredictOptions, UsageError, add_predict_arguments
from pneumoviewer.predict.runner import PredictSummary, run_predict

__all__ = ["PredictOptions", "PredictSummary", "UsageError", "add_predict_arguments", "run_predict"]
