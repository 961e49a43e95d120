"""One labelled training image, independent of how it is stored."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Record:
    """A labelled image.

    Attributes
    ----------
    image_id : str
        SOPInstanceUID (SIIM layout) or the file stem (PNG layout).
    path : Path
        The DICOM or PNG image file.
    positive : bool
        Whether the image has pneumothorax (a non-empty mask).
    patient_id : str or None
        The patient, when the file carries one (used to group the split).
    mask_path : Path or None
        The PNG mask (PNG layout); None for the SIIM layout (masks come from the RLE CSV).
    """

    image_id: str
    path: Path
    positive: bool
    patient_id: str | None = None
    mask_path: Path | None = None
