"""DICOM SEG / SR / GSPS / SC out: valid (dciodvfy), round-trip (highdicom), all-or-nothing."""

from __future__ import annotations

import cv2
import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes

from pneumoviewer.core import dicom_out, rle
from pneumoviewer.core.dicom_out import (
    DICOM_KINDS,
    DicomExportError,
    SeriesPlan,
    export_image,
    parse_kinds,
    prepare_source,
)
from pneumoviewer.core.ground_truth import read_rle_csv
from pneumoviewer.core.readings import AIContext, Reading, Verdict
from tests.dicom_checks import check_dicom


@pytest.fixture(scope="module")
def case(samples_dir, sample_csv):
    """A positive sample image with its ground-truth mask as the AI mask and a reader mask."""
    truth = read_rle_csv(sample_csv)
    image_id = next(i for i in truth.ids() if truth.is_positive(i))
    source = samples_dir / f"{image_id}.dcm"
    ai_mask = truth.mask(image_id)
    reader_mask = np.zeros_like(ai_mask)
    reader_mask[300:520, 100:300] = True
    reader_mask[700, 700] = True  # a one-pixel component
    ai = AIContext.build(
        probability=0.8125,
        model_name="demo",
        model_version="2026.11",
        weights_sha256={"segmenter.safetensors": "ab" * 32},
        postprocess={
            "scheme": "triplet",
            "bottom_threshold": 0.4,
            "top_threshold": 0.75,
            "min_area": 10,
            "gate_enabled": True,
            "gate_threshold": 0.5,
        },
        decision_threshold=0.5,
        decision_state="positive",
        mask=ai_mask,
    )
    reading = Reading(
        image_id=image_id,
        verdict=Verdict.DISAGREE,
        note="rim is larger",
        reader="jdoe",
        time="2026-11-30T04:00:00.000+00:00",
        mask_rle=rle.encode(reader_mask),
        mask_shape=reader_mask.shape,
    )
    return source, image_id, ai, reading, ai_mask, reader_mask


@pytest.fixture(scope="module")
def written(case, tmp_path_factory):
    source, _, ai, reading, _, _ = case
    out = tmp_path_factory.mktemp("dicom")
    paths = export_image(source, out, ai=ai, reading=reading)
    return dict(zip(DICOM_KINDS, paths, strict=True))


@pytest.fixture(scope="module")
def ai_only(case, tmp_path_factory):
    source, _, ai, _, _, _ = case
    out = tmp_path_factory.mktemp("dicom_ai")
    return dict(zip(DICOM_KINDS, export_image(source, out, ai=ai), strict=True))


@pytest.mark.parametrize("kind", DICOM_KINDS)
def test_every_object_reads_back_and_passes_dciodvfy(written, ai_only, kind):
    check_dicom([written[kind], ai_only[kind]])  # ai_only: one-segment SEG, SR referring to it


def test_files_are_named_by_image_and_kind(written, case):
    _, image_id, *_ = case
    assert [p.name for p in written.values()] == [f"{image_id}_{k}.dcm" for k in DICOM_KINDS]


def test_same_patient_and_study_new_series(written, case):
    source = pydicom.dcmread(case[0], stop_before_pixels=True)
    series = set()
    for kind, path in written.items():
        ds = pydicom.dcmread(path)
        assert ds.PatientID == source.PatientID, kind
        assert ds.StudyInstanceUID == source.StudyInstanceUID, kind
        assert ds.SeriesInstanceUID != source.SeriesInstanceUID, kind
        assert ds.SOPInstanceUID != source.SOPInstanceUID, kind
        series.add(ds.SeriesInstanceUID)
        if "PatientAge" in ds:  # the samples' '69' is not a valid AS value
            assert ds.PatientAge == f"{int(source.PatientAge):03d}Y", kind
    assert len(series) == 4


def test_seg_round_trips_the_exact_masks(written, case):
    _, image_id, _, _, ai_mask, reader_mask = case
    seg = hd.seg.segread(written["seg"])
    assert seg.get_segment_numbers() == [1, 2]
    pixels = seg.get_pixels_by_source_instance([image_id], segment_numbers=[1, 2])
    np.testing.assert_array_equal(pixels[0, :, :, 0].astype(bool), ai_mask)
    np.testing.assert_array_equal(pixels[0, :, :, 1].astype(bool), reader_mask)
    for number in (1, 2):
        desc = seg.get_segment_description(number)
        assert desc.segmented_property_type == codes.SCT.Pneumothorax
        assert desc.segmented_property_category.value == "49755003"
    ai_desc = seg.get_segment_description(1)
    assert ai_desc.algorithm_type == hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
    algorithm = ai_desc.algorithm_identification[0]
    assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == ("demo", "2026.11")
    assert "bottom_threshold=0.4" in algorithm.AlgorithmParameters
    assert "top_threshold=0.75" in algorithm.AlgorithmParameters
    assert "ab" * 32 in algorithm.AlgorithmParameters
    assert seg.get_segment_description(2).algorithm_type.value == "MANUAL"
    frames = seg.PerFrameFunctionalGroupsSequence  # frame k is segment k (the SR relies on it)
    assert [int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber) for f in frames] == [
        1,
        2,
    ]
    assert str(seg.ContentCreatorName) == "jdoe^"
    assert (
        seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID
        == image_id
    )


def test_ai_only_seg_has_one_segment(ai_only, case):
    _, image_id, _, _, ai_mask, _ = case
    seg = hd.seg.segread(ai_only["seg"])
    assert seg.get_segment_numbers() == [1] and seg.NumberOfFrames == 1
    pixels = seg.get_pixels_by_source_instance([image_id], segment_numbers=[1])
    np.testing.assert_array_equal(pixels[0, :, :, 0].astype(bool), ai_mask)


def _code_values(group, concept):
    return [e.value.value for e in group.get_qualitative_evaluations(name=concept)]


def test_sr_round_trips_probability_verdict_and_seg_reference(written, case):
    _, image_id, *_ = case
    seg = pydicom.dcmread(written["seg"], stop_before_pixels=True)
    sr = hd.sr.srread(written["sr"])
    assert sr.SeriesDescription == "Pneumothorax AI report"
    (group,) = sr.content.get_image_measurement_groups()
    (probability,) = group.get_measurements(name=codes.DCM.Probability)
    assert probability.value == pytest.approx(0.8125)
    assert _code_values(group, dicom_out.VERDICT_CONCEPT) == ["DISAGREE"]
    assert _code_values(group, dicom_out.DECISION_CONCEPT) == ["POSITIVE"]
    rois = sr.content.get_planar_roi_measurement_groups()
    assert len(rois) == 2
    for number, roi in enumerate(rois, start=1):
        ref = roi[0].ContentSequence
        items = [i for i in ref if i.name == codes.DCM.ReferencedSegmentationFrame]
        sop = items[0].ReferencedSOPSequence[0]
        assert sop.ReferencedSOPInstanceUID == seg.SOPInstanceUID
        assert int(sop.ReferencedFrameNumber) == number
    # area of the reader's segment: pixels x spacing^2, in cm^2
    (area,) = rois[1].get_measurements(name=codes.SCT.Area)
    spacing = [
        float(v)
        for v in seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
    ]
    assert area.value == pytest.approx(case[5].sum() * spacing[0] * spacing[1] / 100, rel=1e-4)
    # the reader is the person observer, the model the device observer
    text = str(sr.ContentSequence)
    assert "jdoe" in text and "demo" in text
    evidence = {
        i.ReferencedSOPInstanceUID
        for s in sr.CurrentRequestedProcedureEvidenceSequence
        for r in s.ReferencedSeriesSequence
        for i in r.ReferencedSOPSequence
    }
    assert evidence == {image_id, seg.SOPInstanceUID}


def test_gsps_outlines_the_masks_and_says_one_line(written, case):
    _, image_id, _, _, ai_mask, reader_mask = case
    gsps = pydicom.dcmread(written["gsps"])
    assert (
        gsps.ReferencedSeriesSequence[0].ReferencedImageSequence[0].ReferencedSOPInstanceUID
        == image_id
    )
    layers = {a.GraphicLayer: a for a in gsps.GraphicAnnotationSequence}
    assert set(layers) == {"AI", "READER", "TEXT"}
    for name, mask in (("AI", ai_mask), ("READER", reader_mask)):
        n_components = cv2.connectedComponents(mask.astype(np.uint8))[0] - 1
        near = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        edge = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        objects = layers[name].GraphicObjectSequence
        assert len(objects) == n_components
        for obj in objects:
            assert obj.GraphicType == "POLYLINE" and obj.GraphicAnnotationUnits == "PIXEL"
            pts = np.asarray(obj.GraphicData, float).reshape(-1, 2)
            assert np.array_equal(pts[0], pts[-1])  # closed
            cols = np.clip(np.floor(pts[:, 0] - 0.5).astype(int), 0, mask.shape[1] - 1)
            rows = np.clip(np.floor(pts[:, 1] - 0.5).astype(int), 0, mask.shape[0] - 1)
            assert near[rows, cols].all()  # every vertex on (or at a corner of) the mask
        # every boundary pixel of the mask is within a pixel of some polyline segment
        drawn = np.zeros(mask.shape, np.uint8)
        for obj in objects:
            pts = np.asarray(obj.GraphicData, float).reshape(-1, 1, 2) - 0.5
            cv2.polylines(drawn, [np.round(pts).astype(np.int32)], False, 1)
        close = cv2.dilate(drawn, np.ones((3, 3), np.uint8)).astype(bool)
        assert close[edge].mean() > 0.99
    (text,) = layers["TEXT"].TextObjectSequence
    assert text.UnformattedTextValue == (
        "AI pneumothorax p=0.81 positive (demo 2026.11); reader jdoe: disagree"
    )


def test_sc_has_the_overlay_burned_in(written, case):
    from pneumoviewer.core.dicom_io import load_xray
    from pneumoviewer.core.export import layout_for
    from pneumoviewer.core.overlay import compose_on
    from pneumoviewer.core.reading_annotation import reading_paints

    source, image_id, ai, reading, ai_mask, reader_mask = case
    sc = pydicom.dcmread(written["sc"])
    assert sc.BurnedInAnnotation == "YES"
    assert sc.PhotometricInterpretation == "RGB" and list(sc.PatientOrientation) == ["L", "F"]
    # the image part is the one compositor's output: AI filled, reader outlined
    layout = layout_for((1024, 1024))
    region = sc.pixel_array[layout.top : layout.top + 1024, layout.left : layout.left + 1024]
    expected = compose_on(load_xray(source).pixels, reading_paints(ai, reading))[..., :3]
    np.testing.assert_array_equal(region, expected)
    inside_ai = np.argwhere(ai_mask & ~reader_mask)[0]
    assert tuple(region[tuple(inside_ai)]) != tuple(
        np.repeat(load_xray(source).pixels[tuple(inside_ai)], 3)
    )
    assert sc.Rows > 1024 and sc.Columns > 1024  # the frame and text band around the image
    band = sc.pixel_array[layout.top + 1024 + layout.left :]
    assert band.std() > 10  # text is drawn there
    for key in (
        f"ImageId: {image_id}",
        "Model: demo",
        "Model version: 2026.11",
        "Reader: jdoe",
        "Reader verdict: disagree",
        "Reader note: rim is larger",
    ):
        assert key in sc.ImageComments, key


def test_series_plan_shares_series_within_a_study(case, tmp_path):
    source, _, ai, *_ = case
    plan = SeriesPlan()
    first = export_image(source, tmp_path / "a", ai=ai, kinds=["seg"], plan=plan)
    second = export_image(source, tmp_path / "b", ai=ai, kinds="seg", plan=plan)
    a, b = (pydicom.dcmread(p[0], stop_before_pixels=True) for p in (first, second))
    assert a.SeriesInstanceUID == b.SeriesInstanceUID
    assert (a.InstanceNumber, b.InstanceNumber) == (1, 2)
    check_dicom([first[0], second[0]])  # the second instance of a shared series


def test_parse_kinds():
    assert parse_kinds("sc, seg") == ("seg", "sc")
    assert parse_kinds(["SR"]) == ("sr",)
    with pytest.raises(ValueError, match="unknown DICOM object kind.*'pdf'"):
        parse_kinds("seg,pdf")


def _broken_copy(source, tmp_path, **changes):
    ds = pydicom.dcmread(source)
    for key, value in changes.items():
        if value is None:
            delattr(ds, key)
        else:
            setattr(ds, key, value)
    path = tmp_path / "broken.dcm"
    ds.save_as(path)
    return path


def test_source_without_study_uid_gets_a_clear_message_and_nothing_is_written(case, tmp_path):
    source, _, ai, reading, *_ = case
    broken = _broken_copy(source, tmp_path, StudyInstanceUID=None)
    out = tmp_path / "out"
    with pytest.raises(DicomExportError, match=r"broken\.dcm: source lacks StudyInstanceUID"):
        export_image(broken, out, ai=ai, reading=reading)
    assert not out.exists() or list(out.iterdir()) == []


def test_lateral_view_without_orientation_is_refused(case, tmp_path):
    source, _, ai, *_ = case
    broken = _broken_copy(source, tmp_path, ViewPosition="LL")
    with pytest.raises(DicomExportError, match=r"no Patient Orientation .*\(LL\)"):
        export_image(broken, tmp_path / "out", ai=ai)
    oriented = _broken_copy(source, tmp_path, ViewPosition="LL", PatientOrientation=["P", "F"])
    assert prepare_source(pydicom.dcmread(oriented), oriented).PatientOrientation == ["P", "F"]


def test_mask_of_another_size_is_refused(case, tmp_path):
    source, image_id, ai, *_ = case
    small = AIContext.build(probability=0.5, mask=np.ones((10, 10), bool))
    with pytest.raises(DicomExportError, match=r"SEG|AI mask has shape \(10, 10\)"):
        export_image(source, tmp_path, ai=small)
    assert list(tmp_path.iterdir()) == []


def test_nothing_to_store(case, tmp_path):
    source, *_ = case
    with pytest.raises(DicomExportError, match="no AI mask and no reader mask"):
        export_image(source, tmp_path, ai=AIContext(probability=0.2), kinds="seg")
    # without masks, an SR of the probability alone is fine
    (sr_path,) = export_image(source, tmp_path, ai=AIContext(probability=0.2), kinds="sr")
    (group,) = hd.sr.srread(sr_path).content.get_image_measurement_groups()
    assert group.get_measurements(name=codes.DCM.Probability)[0].value == pytest.approx(0.2)
    check_dicom([sr_path])  # an SR that refers to no SEG


def test_existing_files_are_not_overwritten(case, tmp_path):
    source, _, ai, *_ = case
    (path,) = export_image(source, tmp_path, ai=ai, kinds="seg")
    before = path.read_bytes()
    with pytest.raises(DicomExportError, match="not overwritten"):
        export_image(source, tmp_path, ai=ai, kinds="seg,sr")
    assert path.read_bytes() == before and len(list(tmp_path.iterdir())) == 1
    export_image(source, tmp_path, ai=ai, kinds="seg,sr", overwrite=True)
    assert len(list(tmp_path.iterdir())) == 2


def test_a_failed_write_removes_the_files_already_written(case, tmp_path, monkeypatch):
    import pneumoviewer.core.io as io

    source, _, ai, reading, *_ = case
    real = io.atomic_write_bytes
    calls = []

    def failing(path, data, **kw):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(path, data, **kw)

    monkeypatch.setattr(io, "atomic_write_bytes", failing)
    with pytest.raises(OSError, match="disk full"):
        export_image(source, tmp_path, ai=ai, reading=reading)
    assert len(calls) == 3 and list(tmp_path.iterdir()) == []


def test_export_prediction_for_predict(case, tmp_path):
    from types import SimpleNamespace

    source, image_id, _, _, ai_mask, _ = case
    manifest = SimpleNamespace(name="tiny", sha256={"segmenter.safetensors": "12" * 32})
    decision = SimpleNamespace(state="positive", probability=0.7, mask=ai_mask)
    params = {"bottom_threshold": 0.35, "min_area": 0}
    paths = dicom_out.export_prediction(
        source,
        tmp_path,
        manifest=manifest,
        decision=decision,
        params=params,
        decision_threshold=0.5,
        kinds="seg,sr",
    )
    assert [p.name for p in paths] == [f"{image_id}_seg.dcm", f"{image_id}_sr.dcm"]
    seg = hd.seg.segread(paths[0])
    algorithm = seg.get_segment_description(1).algorithm_identification[0]
    assert algorithm.AlgorithmName == "tiny" and algorithm.AlgorithmVersion.startswith("sha256:")
    assert "bottom_threshold=0.35" in algorithm.AlgorithmParameters
    (group,) = hd.sr.srread(paths[1]).content.get_image_measurement_groups()
    assert group.get_measurements(name=codes.DCM.Probability)[0].value == pytest.approx(0.7)
    assert _code_values(group, dicom_out.VERDICT_CONCEPT) == []  # no reader in predict
    check_dicom(paths)


@pytest.mark.parametrize("spacing", [None, (0.2, 0.25)])
def test_12_bit_monochrome1_non_square_source(tmp_path, spacing):
    from pydicom.uid import generate_uid

    from tests.core.dicom_factory import make_image, write

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 4096, (300, 200), dtype=np.uint16)
    ds = make_image(
        pixels,
        photometric="MONOCHROME1",
        bits_stored=12,
        window=(2048, 4096),
        pixel_spacing=spacing,
    )
    del ds.PatientID  # type 2: written empty in the derived objects
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    source = write(ds, tmp_path / "cr.dcm")
    mask = np.zeros((300, 200), bool)
    mask[50:120, 30:90] = True
    ai = AIContext.build(probability=0.6, decision_state="positive", model_name="x", mask=mask)
    paths = dict(zip(DICOM_KINDS, export_image(source, tmp_path / "out", ai=ai), strict=True))
    seg = hd.seg.segread(paths["seg"])
    got = seg.get_pixels_by_source_instance([ds.SOPInstanceUID], segment_numbers=[1])
    np.testing.assert_array_equal(got[0, :, :, 0].astype(bool), mask)
    sc = pydicom.dcmread(paths["sc"])
    assert sc.PatientID == "" and sc.PatientAge == "045Y"
    same_grid = (sc.Rows, sc.Columns) == (300, 200)  # not when the export adds a text band
    assert ("PixelSpacing" in sc) == (spacing is not None and same_grid)
    check_dicom(paths.values())


def test_source_without_uids_names_them(tmp_path, case):
    from tests.core.dicom_factory import make_image, write

    source = write(make_image(np.zeros((8, 8), np.uint8)), tmp_path / "bare.dcm")
    with pytest.raises(
        DicomExportError, match=r"bare\.dcm: source lacks StudyInstanceUID, SeriesInstanceUID"
    ):
        export_image(source, tmp_path / "out", ai=case[2])
    with pytest.raises(DicomExportError, match=r"nope\.dcm: cannot read the source DICOM"):
        export_image(tmp_path / "nope.dcm", tmp_path / "out", ai=case[2])


def test_every_object_carries_the_provenance(written):
    for kind, path in written.items():
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        (model,) = [e for e in ds.ContributingEquipmentSequence if e.Manufacturer == "pneumoviewer"]
        assert model.ManufacturerModelName == "demo" and model.SoftwareVersions == "2026.11"
        assert model.PurposeOfReferenceCodeSequence[0].CodeValue == "109102"
        text = model.ContributionDescription
        for part in (
            "Model: demo",
            "Model version: 2026.11",
            'Model weights sha256: {"segmenter.safetensors": "' + "ab" * 32,
            '"bottom_threshold": 0.4',
            '"min_area": 10',
            '"decision_threshold": 0.5',
            "Decision: positive",
            "Probability: 0.812500",
            "Reader: jdoe",
            "Reader verdict: disagree",
            "Reading time: 2026-11-30T04:00:00.000+00:00",
            "Creation Time: ",
        ):
            assert part in text, (kind, part)


def test_negative_ai_empty_mask(case, tmp_path):
    source, image_id, *_ = case
    empty = np.zeros((1024, 1024), bool)
    ai = AIContext.build(probability=0.05, decision_state="negative", model_name="m", mask=empty)
    paths = dict(zip(DICOM_KINDS, export_image(source, tmp_path, ai=ai), strict=True))
    seg = hd.seg.segread(paths["seg"])
    got = seg.get_pixels_by_source_instance([image_id], segment_numbers=[1])
    assert got.shape == (1, 1024, 1024, 1) and not got.any()
    gsps = pydicom.dcmread(paths["gsps"])
    layers = {a.GraphicLayer for a in gsps.GraphicAnnotationSequence}
    assert layers == {"TEXT"}  # nothing to outline
    (group,) = hd.sr.srread(paths["sr"]).content.get_image_measurement_groups()
    assert _code_values(group, dicom_out.DECISION_CONCEPT) == ["NEGATIVE"]
    check_dicom(paths.values())


def test_dicom_writer_for_a_predict_run(case, tmp_path, samples_dir):
    import argparse
    from types import SimpleNamespace

    from pneumoviewer.core.dicom_out import DicomWriter, kinds_argument

    assert kinds_argument("none") == () and kinds_argument("sc,seg") == ("seg", "sc")
    with pytest.raises(argparse.ArgumentTypeError, match="unknown"):
        kinds_argument("seg,xml")
    source, image_id, _, _, ai_mask, _ = case
    other = next(p for p in sorted(samples_dir.glob("*.dcm")) if p.stem != image_id)
    writer = DicomWriter(
        tmp_path / "dicom",
        kinds=("seg", "gsps"),
        manifest=SimpleNamespace(name="tiny", sha256={}, demo=True),
        decision_threshold=0.5,
    )
    decision = SimpleNamespace(state="positive", probability=0.8, mask=ai_mask)
    files, problem = writer.write(source, decision, display=None)
    assert problem is None and len(files) == 2
    empty = SimpleNamespace(state="negative", probability=0.1, mask=np.zeros((1024, 1024), bool))
    files2, problem = writer.write(other, empty, display=None)
    assert problem is None
    segs = [pydicom.dcmread(f, stop_before_pixels=True) for f in (files[0], files2[0])]
    # both studies got their own SEG series; a second write of the same image is refused
    assert segs[0].SeriesInstanceUID != segs[1].SeriesInstanceUID
    files3, problem = writer.write(source, decision, display=None)
    assert files3 == [] and "not overwritten" in problem
    check_dicom(files + files2)


def test_the_check_catches_an_invalid_object(written, tmp_path):
    """check_dicom is not a formality: an SC without its Type 1 Conversion Type fails."""
    from tests.dicom_checks import DCIODVFY, dciodvfy_errors

    if DCIODVFY is None:
        pytest.skip("dciodvfy not installed")
    ds = pydicom.dcmread(written["sc"])
    del ds.ConversionType
    bad = tmp_path / "bad_sc.dcm"
    ds.save_as(bad)
    assert any("ConversionType" in line for line in dciodvfy_errors(bad))
    with pytest.raises(AssertionError):
        check_dicom([bad])
