"""``python -m model_training`` (and ``torchrun --nproc_per_node N -m model_training ...``)."""

from __future__ import annotations

import sys

from model_training.cli import main

sys.exit(main())
