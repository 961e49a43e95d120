"""Builders of the DICOM objects SEG and SR (TID 1500), and what every object shares.

Each ``build_*`` takes a source prepared by :func:`pneumoviewer.core.dicom_out.prepare_source`
(a header copy with its fixes), the AI result and the reading, and returns the object in
memory; :func:`pneumoviewer.core.dicom_out.export_image` writes them. See that module for
what each object holds.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from pneumoviewer.core.errors import PneumoviewerError
from pneumoviewer.core.readings import AIContext, Reading, provenance

__all__ = [
    "ABNORMAL_STRUCTURE",
    "DECISION_CONCEPT",
    "PNEUMOTHORAX",
    "VERDICT_CONCEPT",
    "DicomExportError",
    "SeriesPlan",
    "build_seg",
    "build_sr",
]

PNEUMOTHORAX = hd.sr.CodedConcept("36118008", "SCT", "Pneumothorax")
ABNORMAL_STRUCTURE = hd.sr.CodedConcept("49755003", "SCT", "Morphologically Abnormal Structure")
CHEST_XRAY = hd.sr.CodedConcept("399208008", "SCT", "Plain chest X-ray")
_SCHEME = "99PNV"  # private coding scheme of pneumoviewer's verdict and decision codes
VERDICT_CONCEPT = hd.sr.CodedConcept("PNV001", _SCHEME, "Reader verdict on AI result")
DECISION_CONCEPT = hd.sr.CodedConcept("PNV002", _SCHEME, "AI decision")
_VERDICT_CODES = {
    "agree": hd.sr.CodedConcept("AGREE", _SCHEME, "Agrees with AI"),
    "disagree": hd.sr.CodedConcept("DISAGREE", _SCHEME, "Disagrees with AI"),
    "unsure": hd.sr.CodedConcept("UNSURE", _SCHEME, "Unsure about AI"),
}

_MANUFACTURER = "pneumoviewer"
_SERIES_NUMBERS = {"seg": 9101, "sr": 9102, "gsps": 9103, "sc": 9104}
_SERIES_TEXT = {
    "seg": "Pneumothorax segmentation (AI, reader)",
    "sr": "Pneumothorax AI report",
    "gsps": "Pneumothorax AI outline",
    "sc": "Pneumothorax AI overlay (burned in)",
}


class DicomExportError(PneumoviewerError):
    """One image's DICOM objects cannot be made; names the file, object and problem."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass
class SeriesPlan:
    """New series UIDs, one per (study, kind), shared by every image of an export run."""

    _uids: dict[tuple[str, str], str] = field(default_factory=dict)
    _counts: dict[tuple[str, str], int] = field(default_factory=dict)

    def next(self, study_uid: str, kind: str) -> tuple[str, int, int]:
        """Return ``(series UID, series number, instance number)`` for one more object."""
        key = (study_uid, kind)
        uid = self._uids.setdefault(key, generate_uid())
        self._counts[key] = self._counts.get(key, 0) + 1
        return uid, _SERIES_NUMBERS[kind], self._counts[key]


def _person(name: str) -> str:
    """Format a reader name as a DICOM PN (family name; ``^`` marks a single name)."""
    name = name.replace("\\", "/").strip() or "unknown"
    return name if "^" in name else f"{name}^"


def _check_mask(mask: np.ndarray | None, src: Dataset, what: str, path: Path) -> None:
    if mask is None:
        return
    shape = (int(src.Rows), int(src.Columns))
    if np.asarray(mask).shape != shape:
        raise DicomExportError(
            path, f"{what} has shape {np.asarray(mask).shape}, the image is {shape}"
        )


def _spacing(src: Dataset) -> tuple[float, float] | None:
    for kw in ("PixelSpacing", "ImagerPixelSpacing"):
        value = src.get(kw)
        if value is not None and len(value) == 2:
            try:
                row, col = float(value[0]), float(value[1])
            except (TypeError, ValueError):
                continue
            if row > 0 and col > 0:
                return row, col
    return None


def _parameters(ai: AIContext | None) -> dict[str, str]:
    prov = provenance(ai)
    keys = ("weights_sha256", "postprocessing", "decision_threshold")
    return {k: prov[k] for k in keys if k in prov}


def _contributing(ai: AIContext | None, reading: Reading | None, src: Dataset) -> list:
    """Describe the model as contributing (processing) equipment, with the provenance."""
    if ai is None:
        return []
    from pneumoviewer.core.reading_annotation import reading_annotation

    prov = reading_annotation(str(src.SOPInstanceUID), ai, reading).provenance
    text = "; ".join(f"{k}: {v}" for k, v in prov.items() if v)
    return [
        hd.ContributingEquipment(
            manufacturer=_MANUFACTURER,
            purpose_of_reference=codes.DCM.ProcessingEquipment,
            manufacturer_model_name=(ai.model_name or "unknown model")[:64],
            software_versions=(ai.model_version or "unknown")[:64],
            contribution_description=text[:1024],
        )
    ]


def _common(
    kind: str, src: Dataset, plan: SeriesPlan, ai: AIContext | None, reading: Reading | None
) -> dict:
    from pneumoviewer import __version__

    series, number, instance = plan.next(str(src.StudyInstanceUID), kind)
    return {
        "series_instance_uid": series,
        "series_number": number,
        "sop_instance_uid": generate_uid(),
        "instance_number": instance,
        "manufacturer": _MANUFACTURER,
        "manufacturer_model_name": "pneumoviewer",
        "software_versions": str(__version__),
        "device_serial_number": "0",
        "contributing_equipment": _contributing(ai, reading, src) or None,
    }


def _segments(ai: AIContext | None, reading: Reading | None) -> list[tuple[str, np.ndarray]]:
    """List the SEG's segments in order: ("AI", mask), ("Reader", mask), those that exist."""
    out = []
    ai_mask = None if ai is None else ai.mask()
    if ai_mask is not None:
        out.append(("AI", ai_mask))
    reader_mask = None if reading is None else reading.mask()
    if reader_mask is not None:
        out.append(("Reader", reader_mask))
    return out


def build_seg(
    src: Dataset,
    *,
    ai: AIContext | None,
    reading: Reading | None,
    plan: SeriesPlan,
    path: Path,
) -> hd.seg.Segmentation:
    """Build the binary SEG (AI segment 1, reader segment 2 when drawn) of a prepared source."""
    segments = _segments(ai, reading)
    masks, descriptions = [], []
    for label, mask in segments:
        _check_mask(mask, src, f"{label} mask", path)
        automatic = label == "AI"
        algorithm = None
        if automatic:
            algorithm = hd.AlgorithmIdentificationSequence(
                name=(ai.model_name or "unknown model")[:64],
                version=(ai.model_version or "unknown")[:64],
                family=codes.cid7162.ArtificialIntelligence,
                parameters=_parameters(ai) or None,
            )
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=len(masks) + 1,
                segment_label=f"{label} pneumothorax",
                segmented_property_category=ABNORMAL_STRUCTURE,
                segmented_property_type=PNEUMOTHORAX,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
                if automatic
                else hd.seg.SegmentAlgorithmTypeValues.MANUAL,
                algorithm_identification=algorithm,
            )
        )
        masks.append(mask)
    if not masks:
        raise DicomExportError(path, "SEG: no AI mask and no reader mask to store")
    spacing = _spacing(src)
    measures = (
        None
        if spacing is None
        else hd.PixelMeasuresSequence(pixel_spacing=list(spacing), slice_thickness=1.0)
    )
    pixels = np.stack(masks, axis=-1)[None].astype(np.uint8)  # (1, H, W, segments)
    seg = hd.seg.Segmentation(
        source_images=[src],
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        content_label="PNEUMOTHORAX",
        content_description=_SERIES_TEXT["seg"][:64],
        content_creator_name=None if reading is None else _person(reading.reader),
        pixel_measures=measures,
        omit_empty_frames=False,
        **_common("seg", src, plan, ai, reading),
    )
    seg.SeriesDescription = _SERIES_TEXT["seg"]
    seg.PatientOrientation = src.PatientOrientation
    return seg


def _decision_code(state: str) -> hd.sr.CodedConcept:
    value = re.sub(r"[^A-Z0-9]+", "_", state.upper()).strip("_")[:16] or "UNKNOWN"
    return hd.sr.CodedConcept(value, _SCHEME, state[:64])


def build_sr(
    src: Dataset,
    *,
    ai: AIContext | None,
    reading: Reading | None,
    seg: hd.seg.Segmentation | None,
    plan: SeriesPlan,
    path: Path,
) -> hd.sr.Comprehensive3DSR:
    """Build the TID 1500 measurement report (probability, decision, verdict, SEG refs)."""
    source_ref = hd.sr.SourceImageForMeasurementGroup.from_source_image(src)
    algorithm = None
    if ai is not None:
        algorithm = hd.sr.AlgorithmIdentification(
            name=(ai.model_name or "unknown model")[:64],
            version=(ai.model_version or "unknown")[:64],
            parameters=[f"{k}: {v}" for k, v in _parameters(ai).items()] or None,
        )
    measurements, evaluations = [], []
    if ai is not None and ai.probability is not None:
        measurements.append(
            hd.sr.Measurement(
                name=codes.DCM.Probability,
                value=float(ai.probability),
                unit=codes.UCUM.NoUnits,
                algorithm_id=algorithm,
            )
        )
    if ai is not None and ai.decision_state:
        evaluations.append(
            hd.sr.QualitativeEvaluation(DECISION_CONCEPT, _decision_code(ai.decision_state))
        )
    if reading is not None and reading.verdict is not None:
        evaluations.append(
            hd.sr.QualitativeEvaluation(VERDICT_CONCEPT, _VERDICT_CODES[reading.verdict.value])
        )
    if not measurements and not evaluations and seg is None:
        raise DicomExportError(path, "SR: no probability, decision, verdict or SEG to report")
    groups: list = [
        hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(
                uid=generate_uid(), identifier="Image-level pneumothorax result"
            ),
            finding_type=PNEUMOTHORAX,
            finding_category=ABNORMAL_STRUCTURE,
            algorithm_id=algorithm,
            measurements=measurements or None,
            qualitative_evaluations=evaluations or None,
            source_images=[source_ref],
        )
    ]
    spacing = _spacing(src)
    if seg is not None:
        seg_source = hd.sr.SourceImageForSegmentation.from_source_image(src)
        masks = [m for _, m in _segments(ai, reading)]
        for item in seg.SegmentSequence:
            number = int(item.SegmentNumber)
            label = str(item.SegmentLabel)
            area = []
            if spacing is not None:
                pixels = int(np.count_nonzero(masks[number - 1]))
                area.append(
                    hd.sr.Measurement(
                        name=codes.SCT.Area,
                        value=round(pixels * spacing[0] * spacing[1] / 100.0, 4),
                        unit=codes.UCUM.SquareCentimeter,
                    )
                )
            groups.append(
                hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                    tracking_identifier=hd.sr.TrackingIdentifier(
                        uid=generate_uid(), identifier=label
                    ),
                    referenced_segment=hd.sr.ReferencedSegmentationFrame(
                        sop_class_uid=seg.SOPClassUID,
                        sop_instance_uid=seg.SOPInstanceUID,
                        frame_number=number,  # one frame per segment (no empty frames omitted)
                        segment_number=number,
                        source_image=seg_source,
                    ),
                    finding_type=PNEUMOTHORAX,
                    finding_category=ABNORMAL_STRUCTURE,
                    algorithm_id=algorithm if label.startswith("AI") else None,
                    measurements=area or None,
                )
            )
    observers = hd.sr.ObservationContext(
        observer_person_context=None
        if reading is None
        else hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                name=_person(reading.reader)
            ),
        ),
        observer_device_context=None
        if ai is None
        else hd.sr.ObserverContext(
            observer_type=codes.DCM.Device,
            observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                uid=generate_uid(),
                name=(ai.model_name or "unknown model")[:64],
                manufacturer_name=_MANUFACTURER,
                model_name=(ai.model_version or "unknown")[:64],
            ),
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=observers,
        procedure_reported=CHEST_XRAY,
        imaging_measurements=groups,
    )
    evidence = [src]
    if seg is not None:  # the evidence list needs the SEG's identity only, not its pixels
        seg_header = Dataset()
        for kw in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
            setattr(seg_header, kw, seg[kw].value)
        evidence.append(seg_header)
    common = _common("sr", src, plan, ai, reading)
    for kw in ("manufacturer_model_name", "software_versions", "device_serial_number"):
        common.pop(kw)
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report,
        is_complete=True,
        **common,
    )
    sr.SeriesDescription = _SERIES_TEXT["sr"]
    _drop_segment_numbers(sr)
    scheme = Dataset()  # declare the private coding scheme of the verdict/decision codes
    scheme.CodingSchemeDesignator = _SCHEME
    scheme.CodingSchemeName = "pneumoviewer reading codes"
    scheme.CodingSchemeResponsibleOrganization = "pneumoviewer"
    sr.CodingSchemeIdentificationSequence = [
        *sr.get("CodingSchemeIdentificationSequence", []),
        scheme,
    ]
    return sr


def _drop_segment_numbers(ds: Dataset) -> None:
    """Drop Referenced Segment Number where a Referenced Frame Number is given.

    PS3.3 C.10.1: the segment number is only present when no frame number is; highdicom's
    ``ReferencedSegmentationFrame`` writes both (dciodvfy error). Our SEG has one frame per
    segment, so the frame alone identifies the segment.
    """
    for item in ds.get("ContentSequence", []):
        for ref in item.get("ReferencedSOPSequence", []):
            if "ReferencedFrameNumber" in ref and "ReferencedSegmentNumber" in ref:
                del ref.ReferencedSegmentNumber
        _drop_segment_numbers(item)
