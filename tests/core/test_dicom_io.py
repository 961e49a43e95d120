from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import JPEG2000Lossless, JPEGLosslessSV1, JPEGLSLossless, RLELossless

from pneumoviewer.core import _scan_header, dicom_header
from pneumoviewer.core.dicom_io import PADDING_DISPLAY_VALUE, format_age, load_xray, read_header
from pneumoviewer.core.errors import DicomReadError
from tests.core import dicom_factory as factory

SHAPE = (300, 200)  # non-square on purpose: rows != columns


def ramp(dtype, lo: int, hi: int, shape=SHAPE) -> np.ndarray:
    """Values from lo to hi along the rows (row 0 darkest), constant along columns."""
    column = np.linspace(lo, hi, shape[0]).round().astype(dtype)
    return np.ascontiguousarray(np.repeat(column[:, None], shape[1], axis=1))


def expected_minmax(values: np.ndarray) -> np.ndarray:
    v = values.astype(np.float64)
    return np.rint((v - v.min()) * 255.0 / (v.max() - v.min())).astype(np.uint8)


# --- uncompressed pixel pipeline ----------------------------------------------------------


def test_monochrome2_8bit_full_range_is_identity(tmp_path):
    pixels = ramp(np.uint8, 0, 255)
    image = load_xray(factory.write_image(tmp_path / "a.dcm", pixels))
    assert image.pixels.dtype == np.uint8 and image.pixels.shape == SHAPE
    assert image.pixels.flags.c_contiguous
    np.testing.assert_array_equal(image.pixels, pixels)


def test_monochrome1_is_inverted_so_air_stays_dark(tmp_path):
    # MONOCHROME1: low stored value = white. Air (stored high) must display dark.
    pixels = ramp(np.uint8, 0, 255)
    image = load_xray(factory.write_image(tmp_path / "m1.dcm", pixels, photometric="MONOCHROME1"))
    np.testing.assert_array_equal(image.pixels, 255 - pixels)
    assert image.pixels[0, 0] == 255 and image.pixels[-1, 0] == 0
    assert image.metadata.photometric == "MONOCHROME1"


def test_12bit_min_max_scaling(tmp_path):
    pixels = ramp(np.uint16, 100, 4095)
    image = load_xray(factory.write_image(tmp_path / "b12.dcm", pixels, bits_stored=12))
    np.testing.assert_array_equal(image.pixels, expected_minmax(pixels))
    assert image.pixels.min() == 0 and image.pixels.max() == 255
    assert image.metadata.bits_stored == 12


def test_16bit_min_max_scaling(tmp_path):
    pixels = ramp(np.uint16, 1000, 60000)
    image = load_xray(factory.write_image(tmp_path / "b16.dcm", pixels))
    np.testing.assert_array_equal(image.pixels, expected_minmax(pixels))


def test_signed_pixels(tmp_path):
    pixels = ramp(np.int16, -2000, 2000)
    path = factory.write_image(tmp_path / "s.dcm", pixels)
    assert factory.read_back(path).PixelRepresentation == 1
    image = load_xray(path)
    np.testing.assert_array_equal(image.pixels, expected_minmax(pixels))
    zero_row = int(np.flatnonzero(pixels[:, 0] == 0)[0]) if (pixels == 0).any() else None
    if zero_row is not None:
        assert image.pixels[zero_row, 0] in (127, 128)


def test_negative_rescale_slope_is_applied_before_display(tmp_path):
    # Modality LUT first: slope -1 reverses the stored ramp, so the display is reversed.
    pixels = ramp(np.uint16, 0, 4095)
    path = factory.write_image(tmp_path / "r.dcm", pixels, bits_stored=12, rescale=(-1, 4095))
    np.testing.assert_array_equal(
        load_xray(path).pixels, expected_minmax(4095 - pixels.astype(int))
    )


def _window_expected(values: np.ndarray, center: float, width: float) -> np.ndarray:
    # DICOM LINEAR window (PS3.3 C.11.2.1.2.1) onto 0..255.
    x = ((values.astype(np.float64) - (center - 0.5)) / (width - 1) + 0.5).clip(0, 1)
    return np.rint(x * 255).astype(np.uint8)


def test_window_center_width_clips(tmp_path):
    pixels = ramp(np.uint16, 0, 4095)
    path = factory.write_image(tmp_path / "w.dcm", pixels, bits_stored=12, window=(2048, 1024))
    shown = load_xray(path).pixels
    np.testing.assert_array_equal(shown, _window_expected(pixels, 2048, 1024))
    col = pixels[:, 0]
    assert (shown[col <= 1536, 0] == 0).all()  # below the window: black
    assert (shown[col > 2560, 0] == 255).all()  # above the window: white
    assert 0 < shown[np.argmin(abs(col.astype(int) - 2048)), 0] < 255


def test_window_is_applied_after_rescale(tmp_path):
    # Window in rescaled units (HU-like): center 0 / width 1024 with intercept -1024, so
    # stored 1024 (rescaled 0) is mid-grey, stored <= 512 black, stored >= 1536 white.
    pixels = ramp(np.uint16, 0, 4095)
    path = factory.write_image(
        tmp_path / "wr.dcm", pixels, bits_stored=12, rescale=(1, -1024), window=(0, 1024)
    )
    shown = load_xray(path).pixels
    np.testing.assert_array_equal(shown, _window_expected(pixels.astype(int) - 1024, 0, 1024))
    col = pixels[:, 0].astype(int)
    assert (shown[col <= 512, 0] == 0).all() and (shown[col >= 1536, 0] == 255).all()


def test_voi_lut_sequence_wins_over_window(tmp_path):
    # 8-bit LUT: a step at 100 (a threshold) -> display is exactly 0 or 255.
    pixels = ramp(np.uint8, 0, 255)
    lut = [0] * 100 + [255] * 156
    path = factory.write_image(tmp_path / "lut.dcm", pixels, voi_lut=(0, 8, lut), window=(128, 10))
    shown = load_xray(path).pixels
    np.testing.assert_array_equal(shown, np.where(pixels >= 100, 255, 0).astype(np.uint8))


def test_voi_lut_16bit_output_range(tmp_path):
    # 16-bit LUT entries are scaled from 0..65535: entry 32768 -> 128.
    pixels = ramp(np.uint8, 0, 2, shape=(3, 4))
    path = factory.write_image(tmp_path / "lut16.dcm", pixels, voi_lut=(0, 16, [0, 32768, 65535]))
    shown = load_xray(path).pixels
    np.testing.assert_array_equal(shown[:, 0], [0, 128, 255])


def test_monochrome1_with_window(tmp_path):
    pixels = ramp(np.uint16, 0, 4095)
    path = factory.write_image(
        tmp_path / "m1w.dcm", pixels, bits_stored=12, photometric="MONOCHROME1", window=(2048, 1024)
    )
    np.testing.assert_array_equal(
        load_xray(path).pixels, 255 - _window_expected(pixels, 2048, 1024)
    )


def test_unusable_window_falls_back_to_min_max(tmp_path):
    pixels = ramp(np.uint16, 10, 500)
    path = factory.write_image(tmp_path / "w0.dcm", pixels, bits_stored=12, window=(100, 0))
    np.testing.assert_array_equal(load_xray(path).pixels, expected_minmax(pixels))


def test_constant_image_is_black(tmp_path):
    image = load_xray(factory.write_image(tmp_path / "c.dcm", np.full(SHAPE, 7, np.uint16)))
    assert not image.pixels.any()


def test_metadata_and_image_id(tmp_path):
    path = factory.write_image(tmp_path / "meta.dcm", ramp(np.uint8, 0, 255), sop_uid="1.2.3.4")
    image = load_xray(path)
    assert image.image_id == "1.2.3.4"
    assert image.path == path
    meta = image.metadata
    assert (meta.rows, meta.columns) == SHAPE
    assert meta.pixel_spacing == (0.2, 0.25)
    assert (meta.patient_age, meta.patient_sex, meta.view_position) == ("045Y", "F", "PA")
    assert (meta.modality, meta.body_part, meta.study_date) == ("CR", "CHEST", "20190101")
    assert meta.patient_id == "P-001"
    assert meta.transfer_syntax == "1.2.840.10008.1.2.1"
    assert read_header(path) == (image.image_id, meta)


def test_image_id_falls_back_to_file_stem(tmp_path):
    ds = factory.make_image(ramp(np.uint8, 0, 255))
    del ds.SOPInstanceUID
    path = factory.write(ds, tmp_path / "no-uid.dcm")
    assert load_xray(path).image_id == "no-uid"
    assert read_header(path)[0] == "no-uid"


def test_implicit_vr_file(tmp_path):
    pixels = ramp(np.uint16, 0, 4095)
    path = factory.write_implicit(tmp_path / "imp.dcm", pixels)
    assert load_xray(path).pixels.shape == SHAPE
    assert read_header(path)[1].transfer_syntax == "1.2.840.10008.1.2"


# --- compressed -----------------------------------------------------------------------------


def test_real_jpeg_samples_decode(samples_dir):
    files = sorted(samples_dir.glob("*.dcm"))
    assert len(files) == 10
    for path in files:
        image = load_xray(path)
        assert image.pixels.shape == (1024, 1024) and image.pixels.dtype == np.uint8
        assert image.image_id == path.stem
        assert image.metadata.transfer_syntax == "1.2.840.10008.1.2.4.50"  # JPEG Baseline
        # A chest film: mid-grey on average, full display range used.
        assert 40 < image.pixels.mean() < 200 and image.pixels.max() > 200


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless, JPEGLSLossless])
def test_lossless_compression_round_trip(tmp_path, syntax):
    pixels = ramp(np.uint16, 0, 4095)
    pixels[::7, ::5] = 4000  # some texture so the codec has work to do
    plain = load_xray(factory.write_image(tmp_path / "plain.dcm", pixels, bits_stored=12))
    ds = factory.make_image(pixels, bits_stored=12)
    try:
        ds.compress(syntax)
    except (RuntimeError, NotImplementedError) as exc:
        pytest.skip(f"no {syntax.name} encoder here (decoding is tested on pydicom files): {exc}")
    path = factory.write(ds, tmp_path / "packed.dcm")
    image = load_xray(path)
    assert image.metadata.transfer_syntax == syntax
    np.testing.assert_array_equal(image.pixels, plain.pixels)


def _gdcm_transcode(src: Path, dst: Path, syntax_uid: str) -> None:
    """Re-encode ``src`` to ``dst`` with GDCM (the only lossless-JPEG encoder on PyPI)."""
    gdcm = pytest.importorskip("gdcm", reason="python-gdcm (test extra) encodes lossless JPEG")
    reader = gdcm.ImageReader()
    reader.SetFileName(str(src))
    assert reader.Read(), f"GDCM cannot read {src}"
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.GetTSType(syntax_uid)))
    change.SetInput(reader.GetImage())
    assert change.Change(), f"GDCM cannot encode {syntax_uid}"
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(dst))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    assert writer.Write(), f"GDCM cannot write {dst}"


@pytest.mark.parametrize("bits", [8, 12, 16])
def test_jpeg_lossless_process_14_decodes_exactly(tmp_path, bits):
    # JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 SV1): the
    # syntax of many CR/DX archives. GDCM encodes it; pylibjpeg-libjpeg (the product's
    # own dependency) must decode it (tests/conftest.py keeps GDCM out of pydicom's decoders).
    from pydicom.pixels.decoders import JPEGLosslessSV1Decoder

    assert JPEGLosslessSV1Decoder.available_plugins == ("pylibjpeg",)
    pixels = ramp(np.uint16 if bits > 8 else np.uint8, 0, 2**bits - 1)
    pixels[::7, ::5] = 2 ** (bits - 1)
    plain_path = factory.write_image(tmp_path / "plain.dcm", pixels, bits_stored=bits)
    packed = tmp_path / "lossless.dcm"
    _gdcm_transcode(plain_path, packed, JPEGLosslessSV1)
    image = load_xray(packed)
    assert image.metadata.transfer_syntax == JPEGLosslessSV1
    np.testing.assert_array_equal(image.pixels, load_xray(plain_path).pixels)


# --- errors ----------------------------------------------------------------------------------


def _assert_read_error(path, fragment: str, *, header: bool = True) -> None:
    functions = (load_xray, read_header) if header else (load_xray,)
    for function in functions:
        with pytest.raises(DicomReadError) as info:
            function(path)
        assert path.name in str(info.value), function.__name__
        assert fragment in str(info.value), (function.__name__, str(info.value))
        assert info.value.path == path


def test_rgb_is_rejected(tmp_path):
    rgb = np.zeros((*SHAPE, 3), dtype=np.uint8)
    _assert_read_error(factory.write_image(tmp_path / "rgb.dcm", rgb, photometric="RGB"), "colour")


def test_multi_frame_is_rejected(tmp_path):
    frames = np.zeros((3, *SHAPE), dtype=np.uint8)
    _assert_read_error(factory.write_image(tmp_path / "mf.dcm", frames), "multi-frame")


def test_sr_is_rejected(tmp_path):
    _assert_read_error(factory.write_sr(tmp_path / "report.dcm"), "not an image")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.dcm"
    path.write_bytes(b"")
    _assert_read_error(path, "empty")


def test_text_named_dcm(tmp_path):
    path = tmp_path / "notes.dcm"
    path.write_text("this is not an image\n" * 20)
    _assert_read_error(path, "not a DICOM file")


def test_missing_file(tmp_path):
    _assert_read_error(tmp_path / "missing.dcm", "cannot be opened")


def test_truncated_jpeg_sample(tmp_path, samples_dir):
    source = sorted(samples_dir.glob("*.dcm"))[0]
    data = source.read_bytes()
    path = tmp_path / "truncated.dcm"
    path.write_bytes(data[: len(data) // 2])
    assert read_header(path)[0] == source.stem  # the header is intact...
    _assert_read_error(path, "truncated", header=False)  # ...the pixel data is cut


def test_truncated_uncompressed_pixels(tmp_path):
    source = factory.write_image(tmp_path / "full.dcm", ramp(np.uint16, 0, 4095))
    path = tmp_path / "cut.dcm"
    path.write_bytes(source.read_bytes()[:-5000])
    _assert_read_error(path, "truncated", header=False)


def test_truncated_header(tmp_path, samples_dir):
    source = sorted(samples_dir.glob("*.dcm"))[0]
    path = tmp_path / "stub.dcm"
    path.write_bytes(source.read_bytes()[:300])
    _assert_read_error(path, "truncated inside its DICOM header")
    path.write_bytes(source.read_bytes()[:100])
    _assert_read_error(path, "too short")


def test_image_without_pixel_data(tmp_path):
    ds = factory.make_image(ramp(np.uint8, 0, 255))
    del ds.PixelData
    path = factory.write(ds, tmp_path / "nopix.dcm")
    _assert_read_error(path, "has no image data", header=False)


def test_load_copes_with_renamed_sample(tmp_path, samples_dir):
    source = sorted(samples_dir.glob("*.dcm"))[0]
    path = tmp_path / "renamed_without_suffix"
    shutil.copyfile(source, path)
    assert load_xray(path).image_id == source.stem


# --- header fast path == pydicom path --------------------------------------------------------


def _both_paths(path, monkeypatch):
    fast = read_header(path)
    with monkeypatch.context() as m:
        m.setattr(_scan_header, "_USE_FAST_PATH", False)
        slow = read_header(path)
    return fast, slow


def test_fast_header_matches_pydicom(tmp_path, monkeypatch, samples_dir, shared_data):
    files = (
        sorted(samples_dir.glob("*.dcm"))
        + sorted((shared_data / "stage2-unlabeled").glob("*.dcm"))[:40]
    )
    files.append(factory.write_implicit(tmp_path / "imp.dcm", ramp(np.uint16, 0, 9)))
    files.append(factory.write_image(tmp_path / "w.dcm", ramp(np.int16, -5, 9), window=(1, 5)))
    for path in files:
        fast, slow = _both_paths(path, monkeypatch)
        assert fast == slow, path


def test_header_with_non_ascii_and_sequences(tmp_path, monkeypatch):
    ds = factory.make_image(ramp(np.uint8, 0, 255))
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientID = "Müller"
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    item.ReferencedSOPInstanceUID = "1.2.3"
    ds.ReferencedImageSequence = Sequence([item])
    ds["ReferencedImageSequence"].is_undefined_length = True
    path = factory.write(ds, tmp_path / "umlaut.dcm")
    fast, slow = _both_paths(path, monkeypatch)
    assert fast == slow
    assert fast[1].patient_id == "Müller"
    assert load_xray(path).metadata.patient_id == "Müller"


# --- pydicom's bundled test files (codecs and odd layouts we cannot easily synthesise) ------

PYDICOM_FILES = Path(pydicom.data.__file__).parent / "test_files"


def _pydicom_file(name: str) -> Path:
    path = PYDICOM_FILES / name
    if not path.is_file():
        pytest.skip(f"pydicom test file {name} not installed")
    return path


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_RLE.dcm",  # RLE Lossless
        "MR_small_jp2klossless.dcm",  # JPEG 2000 lossless
        "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS lossless
        "MR_small_bigendian.dcm",  # Explicit VR Big Endian (header via pydicom fallback)
        "MR_small_expb.dcm",
        "MR_small_implicit.dcm",  # Implicit VR Little Endian
        "MR_small_padded.dcm",
    ],
)
def test_codecs_and_encodings_match_uncompressed(name):
    reference = load_xray(_pydicom_file("MR_small.dcm"))
    image = load_xray(_pydicom_file(name))
    assert image.pixels.shape == (64, 64)
    np.testing.assert_array_equal(image.pixels, reference.pixels)
    assert image.image_id == reference.image_id


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("JPGExtended.dcm", (1024, 256)),  # JPEG Extended, 12-bit
        ("693_J2KI.dcm", (512, 512)),  # JPEG 2000 (lossy)
        ("image_dfl.dcm", (512, 512)),  # Deflated Explicit VR Little Endian
        ("liver_expb_1frame.dcm", (512, 512)),
    ],
)
def test_other_codecs_decode(name, shape):
    image = load_xray(_pydicom_file(name))
    assert image.pixels.shape == shape and image.pixels.dtype == np.uint8
    assert image.pixels.min() < 50 and image.pixels.max() > 200  # a real picture
    assert read_header(_pydicom_file(name)) == (image.image_id, image.metadata)


def test_ct_signed_with_rescale_matches_hand_computation():
    path = _pydicom_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    assert ds.PixelRepresentation == 1 and "RescaleSlope" in ds and "WindowCenter" not in ds
    values = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(load_xray(path).pixels, expected_minmax(values))


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("test-SR.dcm", "not an image (Comprehensive SR Storage)"),
        ("reportsi.dcm", "not an image"),
        ("rtplan.dcm", "not an image"),
        ("waveform_ecg.dcm", "not an image"),
        ("rtdose.dcm", "multi-frame"),
        ("examples_palette.dcm", "colour"),
        ("SC_rgb_jpeg.dcm", "colour"),
        ("examples_ybr_color.dcm", "colour"),
        ("MR_truncated.dcm", "truncated"),
        ("JPEG-lossy.dcm", "the JPEG image data in this file is damaged"),  # broken stream
    ],
)
def test_pydicom_files_that_are_not_usable(name, fragment):
    path = _pydicom_file(name)
    with pytest.raises(DicomReadError) as info:
        load_xray(path)
    assert name in str(info.value) and fragment in str(info.value)


def test_fast_header_matches_pydicom_on_all_bundled_files(monkeypatch):
    files = sorted(PYDICOM_FILES.glob("*.dcm"))
    files += sorted((PYDICOM_FILES.parent / "charset_files").glob("*.dcm"))  # ISO 2022, UTF-8
    if not files:
        pytest.skip("pydicom test files not installed")

    def outcome(path):
        try:
            return read_header(path)
        except DicomReadError as exc:
            return exc.problem.split(" (")[0]

    for path in files:
        fast = outcome(path)
        with monkeypatch.context() as m:
            m.setattr(_scan_header, "_USE_FAST_PATH", False)
            slow = outcome(path)
        assert fast == slow, path.name


def test_bare_data_set_without_preamble_or_meta(tmp_path):
    pixels = ramp(np.uint16, 0, 4095)
    path = factory.write_bare(tmp_path / "bare", factory.make_image(pixels, bits_stored=12))
    assert path.read_bytes()[:2] == b"\x08\x00"  # starts with group 0008, no DICM marker
    image = load_xray(path)
    np.testing.assert_array_equal(image.pixels, expected_minmax(pixels))
    assert image.metadata.transfer_syntax == "1.2.840.10008.1.2"  # inferred: implicit LE
    assert read_header(path) == (image.image_id, image.metadata)


# --- padding, stored values, metadata for the viewer (issue #7 §4, #8) --------------------


def _bordered(interior: np.ndarray, value: int, border: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """``interior`` framed by ``border`` pixels of ``value``; returns (pixels, border mask)."""
    h, w = interior.shape
    out = np.full((h + 2 * border, w + 2 * border), value, dtype=interior.dtype)
    out[border:-border, border:-border] = interior
    mask = np.ones(out.shape, dtype=bool)
    mask[border:-border, border:-border] = False
    return out, mask


def test_padding_value_is_left_out_of_the_scaling_and_shown_black(tmp_path):
    interior = ramp(np.uint16, 1000, 3000, shape=(100, 80))
    pixels, border = _bordered(interior, 65535)
    plain = load_xray(factory.write_image(tmp_path / "plain.dcm", pixels))
    # Without the padding tag the border dominates: the interior sits in grey levels 4-12.
    assert plain.pixels[~border].max() <= 12 and plain.padding is None
    image = load_xray(factory.write_image(tmp_path / "pad.dcm", pixels, padding=65535))
    np.testing.assert_array_equal(image.padding, border)
    assert (image.pixels[border] == PADDING_DISPLAY_VALUE).all()
    np.testing.assert_array_equal(
        image.pixels[~border].reshape(interior.shape), expected_minmax(interior)
    )
    np.testing.assert_array_equal(image.stored, pixels.astype(np.float32))  # stored units


def test_padding_is_black_in_monochrome1_too(tmp_path):
    interior = ramp(np.uint16, 0, 4000, shape=(60, 50))
    pixels, border = _bordered(interior, 4095, border=5)
    path = factory.write_image(
        tmp_path / "m1.dcm", pixels, bits_stored=12, photometric="MONOCHROME1", padding=4095
    )
    image = load_xray(path)
    assert (image.pixels[border] == 0).all()
    np.testing.assert_array_equal(
        image.pixels[~border].reshape(interior.shape), 255 - expected_minmax(interior)
    )


def test_padding_range_limit_marks_the_whole_range(tmp_path):
    interior = ramp(np.uint16, 500, 4000, shape=(40, 40))
    pixels, border = _bordered(interior, 0, border=4)
    pixels[border] = np.arange(int(border.sum())) % 11  # padding values 0..10
    path = factory.write_image(tmp_path / "range.dcm", pixels, bits_stored=12, padding=(10, 0))
    image = load_xray(path)
    np.testing.assert_array_equal(image.padding, border)
    assert (image.pixels[border] == 0).all() and image.pixels[~border].max() == 255
    assert image.pixels[~border].min() == 0  # the interior minimum, not a padding value


def test_signed_padding_and_window_with_rescale(tmp_path):
    interior = ramp(np.int16, -1000, 1000, shape=(50, 30))
    pixels, border = _bordered(interior, -2000, border=3)
    path = factory.write_image(
        tmp_path / "ct.dcm", pixels, padding=-2000, rescale=(2, 10), window=(10, 2000)
    )
    image = load_xray(path)
    np.testing.assert_array_equal(image.padding, border)
    np.testing.assert_array_equal(image.stored, pixels.astype(np.float32) * 2 + 10)
    assert (image.pixels[border] == 0).all()
    expected = _window_expected(interior.astype(np.float64) * 2 + 10, 10, 2000)
    np.testing.assert_array_equal(image.pixels[~border].reshape(interior.shape), expected)
    assert image.metadata.window_centers == (10.0,) and image.metadata.window_widths == (2000.0,)


def test_padding_value_absent_from_the_pixels_gives_no_mask(tmp_path):
    pixels = ramp(np.uint16, 0, 4095)
    image = load_xray(factory.write_image(tmp_path / "p.dcm", pixels, bits_stored=12, padding=9999))
    assert image.padding is None
    np.testing.assert_array_equal(image.pixels, expected_minmax(pixels))


def test_viewer_metadata_orientation_windows_spacing_source_age(tmp_path, monkeypatch):
    ds = factory.make_image(ramp(np.uint16, 0, 4095), bits_stored=12, pixel_spacing=None)
    ds.ImagerPixelSpacing = [0.15, 0.16]
    ds.PatientOrientation = ["L", "F"]
    ds.WindowCenter = [2048, 1000]
    ds.WindowWidth = [4096, 500]
    ds.WindowCenterWidthExplanation = ["FULL", "LUNG"]
    ds.PatientAge = "041Y"
    path = factory.write(ds, tmp_path / "viewer.dcm")
    meta = load_xray(path).metadata
    assert meta.pixel_spacing == (0.15, 0.16)
    assert meta.pixel_spacing_source == "Imager Pixel Spacing"
    assert meta.patient_orientation == ("L", "F")
    assert meta.window_centers == (2048.0, 1000.0) and meta.window_widths == (4096.0, 500.0)
    assert meta.window_explanations == ("FULL", "LUNG")
    assert (meta.patient_age, meta.age_years, meta.age_text) == ("041Y", 41, "41 y")
    fast, slow = _both_paths(path, monkeypatch)
    assert fast == slow == (load_xray(path).image_id, meta)


def test_pixel_spacing_wins_and_says_so(tmp_path):
    ds = factory.make_image(ramp(np.uint8, 0, 255), pixel_spacing=(0.2, 0.25))
    ds.ImagerPixelSpacing = [0.15, 0.16]
    meta = load_xray(factory.write(ds, tmp_path / "both.dcm")).metadata
    assert (meta.pixel_spacing, meta.pixel_spacing_source) == ((0.2, 0.25), "Pixel Spacing")
    assert meta.patient_orientation is None and meta.window_centers == ()


@pytest.mark.parametrize(
    ("value", "text", "years"),
    [
        ("041Y", "41 y", 41),
        ("38", "38 y", 38),  # SIIM: a bare number
        ("018M", "18 m", 1),
        ("003W", "3 w", 0),
        ("005D", "5 d", 0),
        ("unknown", "unknown", None),
        (None, None, None),
        ("", None, None),
    ],
)
def test_one_age_format(value, text, years):
    assert format_age(value) == text
    meta = dicom_header.metadata_from_values(
        {**dict.fromkeys(dicom_header.KW_TAG), "Rows": 2, "Columns": 2, "PatientAge": value},
        None,
        "x.dcm",
    )[1]
    assert (meta.age_text, meta.age_years) == (text, years)


def test_real_sample_age_and_spacing(samples_dir):
    meta = load_xray(sorted(samples_dir.glob("*.dcm"))[0]).metadata
    assert meta.patient_age == "38" and meta.age_text == "38 y" and meta.age_years == 38
    assert meta.pixel_spacing_source == "Pixel Spacing"


# --- plain-language messages, library text in the log ---------------------------------------


def test_decoder_text_goes_to_the_log_not_the_message(tmp_path, samples_dir, caplog):
    data = sorted(samples_dir.glob("*.dcm"))[0].read_bytes()
    start = data.index(b"\xff\xd8\xff", data.index(b"\xe0\x7f\x10\x00"))
    path = tmp_path / "bad_jpeg.dcm"
    path.write_bytes(data[:start] + b"\x00\x00\x00" + data[start + 3 :])
    with caplog.at_level("INFO", logger="pneumoviewer.core"):
        with pytest.raises(DicomReadError) as info:
            load_xray(path)
    err = info.value
    assert err.message == "the JPEG image data in this file is damaged and cannot be decoded"
    assert str(err) == f"{path}: {err.message}"
    assert err.kind == "unreadable" and err.detail and "JPEG" in err.detail
    assert any(err.detail in r.getMessage() for r in caplog.records)


def test_importing_the_readers_changes_no_warning_filters():
    import subprocess
    import sys

    code = (  # third-party imports first: some of them add filters of their own
        "import warnings, numpy, cv2, pydicom, pydicom.pixels, pydicom.filereader; "
        "before = list(warnings.filters); "
        "import pneumoviewer.core.dicom_io, pneumoviewer.core.studies; "
        "print(warnings.filters == before)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_stage2_files_load_without_warnings(shared_data, recwarn):
    for path in sorted((shared_data / "stage2-unlabeled").glob("*.dcm"))[:5]:
        image = load_xray(path)
        assert image.image_id.startswith("ID_")  # an invalid UI value, read as is
    assert [str(w.message) for w in recwarn] == []


def test_cut_between_the_header_tags_and_the_pixel_data(tmp_path):
    ds = factory.make_image(ramp(np.uint8, 0, 255))
    ds.add_new(0x00291010, "OB", b"\x01" * 4000)  # a big private element before the pixels
    full = factory.write(ds, tmp_path / "full.dcm")
    data = full.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: data.index(b"\x01" * 4000) + 1000])
    with pytest.raises(DicomReadError, match="truncated inside its DICOM header") as info:
        load_xray(cut)
    assert info.value.kind == "truncated"
    # the scan finds it too (read_header, used for single files, only needs the header tags)
    from pneumoviewer.core.studies import ScanProblem, scan_folder

    items = {i.path.name: i for i in scan_folder(tmp_path)}
    assert isinstance(items["cut.dcm"], ScanProblem) and items["cut.dcm"].kind == "truncated"
    assert "truncated inside its DICOM header" in items["cut.dcm"].message
    assert load_xray(full).pixels.shape == SHAPE and read_header(cut)[0] == read_header(full)[0]
