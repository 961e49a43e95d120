"""pneumoviewer: a desktop viewer and batch tool for pneumothorax AI on chest radiographs."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

#: Folder with the bundled sample study and demo model (next to the package in a checkout).
RESOURCES_DIR = Path(__file__).resolve().parent.parent / "resources"
SAMPLES_DIR = RESOURCES_DIR / "samples"
DEMO_MODEL_DIR = RESOURCES_DIR / "models" / "demo"
