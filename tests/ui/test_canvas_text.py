"""Canvas texts (Qt-free): orientation convention, patient line, date, zoom, pixel value."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pneumoviewer.ui.widgets.canvas_text import (
    EdgeLabels,
    edge_labels,
    format_date,
    patient_lines,
    pixel_text,
    zoom_text,
)


@pytest.mark.parametrize(
    ("orientation", "expected"),
    [
        # rows run towards the patient's left (right edge L), columns towards the feet
        (("L", "F"), EdgeLabels(left="R", right="L", top="H", bottom="F")),
        (("A", "F"), EdgeLabels(left="P", right="A", top="H", bottom="F")),  # lateral
        (("P", "F"), EdgeLabels(left="A", right="P", top="H", bottom="F")),
        (("R", "H"), EdgeLabels(left="L", right="R", top="F", bottom="H")),  # flipped both
        (("LP", "FA"), EdgeLabels(left="RA", right="LP", top="HP", bottom="FA")),  # oblique
        ("L\\F", EdgeLabels(left="R", right="L", top="H", bottom="F")),  # raw DICOM text
        (None, EdgeLabels("?", "?", "?", "?")),
        ((), EdgeLabels("?", "?", "?", "?")),
        (("L",), EdgeLabels("?", "?", "?", "?")),  # one value: malformed
        (("X", "f"), EdgeLabels(left="?", right="X", top="H", bottom="F")),  # as written
    ],
)
def test_edge_labels(orientation, expected):
    assert edge_labels(orientation) == expected


def test_patient_lines_use_the_core_age_format():
    md = SimpleNamespace(
        patient_sex="M", patient_age="041Y", view_position="AP", study_date="20190131"
    )
    assert patient_lines(md) == ["M · 41 y", "AP", "2019-01-31"]
    siim = SimpleNamespace(patient_sex="F", patient_age="38", view_position=None, study_date="")
    assert patient_lines(siim) == ["F · 38 y"]
    assert patient_lines(SimpleNamespace()) == ["sex ? · age ?"]


def test_format_date_zoom_and_pixel_text():
    assert format_date("20190101") == "2019-01-01"
    assert format_date(" 2019 ") == "2019" and format_date(None) is None
    assert zoom_text(0.5625) == "Zoom 56%" and zoom_text(None) == "Zoom —"
    assert zoom_text(float("nan")) == "Zoom —"
    assert pixel_text(512, 300, 1234.0) == "(512, 300) = 1,234"
    assert pixel_text(1, 2, -3.25, "HU") == "(1, 2) = -3.25 HU"
    assert pixel_text(None, 2, 5.0) == "(—)"
