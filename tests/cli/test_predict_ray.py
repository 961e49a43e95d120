"""`predict --engine ray` (#11 §2): the Ray Data engine writes the local engine's outputs.

One module-scoped run of each engine on the bundled sample (10 images plus a junk file,
so ``problems.csv`` has a row) with the tiny model, on a local 2-CPU Ray started by the
engine itself. Ray start-up is slow (seconds), hence one run shared by the comparisons;
the Ray runs are in the ``isolated`` pytest process (Ray starts threads and workers).
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pneumoviewer.cli import main
from pneumoviewer.predict import PredictOptions, UsageError, run_predict

pytestmark = [
    pytest.mark.filterwarnings("ignore:End of file reached:UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data"),  # its own settings
]

INSTALL = "pip install 'pneumoviewer[ray]'"


def _opts(folder: Path, out: Path, model: Path, **kw) -> PredictOptions:
    return PredictOptions(
        folder=folder, out=out, model_dir=model, progress=False, runtime="torch", threads=1, **kw
    )


@pytest.fixture(scope="module")
def study(samples_dir, sample_csv, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ray_study")
    for path in sorted(samples_dir.glob("*.dcm")):
        shutil.copy(path, folder)
    shutil.copy(sample_csv, folder)  # auto-discovered ground truth: metrics.json
    (folder / "junk.dcm").write_text("not a DICOM file\n")  # a row of problems.csv
    return folder


@pytest.fixture(scope="module")
def runs(study, tiny_model_dir, tmp_path_factory):
    """Return (local out, ray out, ray summary): both engines over the same folder."""
    ray = pytest.importorskip("ray")
    from pneumoviewer.predict import ray_engine

    root = tmp_path_factory.mktemp("engines")
    local = run_predict(_opts(study, root / "local", tiny_model_dir), stderr=None)
    assert local.n_ok == 10
    assert not ray.is_initialized()

    def decode_as_this_process():  # tests/conftest.py takes GDCM out of pydicom's decoders
        from pydicom.pixels import decoders
        from pydicom.pixels.decoders.base import Decoder

        for obj in vars(decoders).values():
            if isinstance(obj, Decoder) and "gdcm" in obj._available:
                obj.remove_plugin("gdcm")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ray_engine, "_local_cpus", lambda: 2)  # a 2-CPU local Ray, as on CI
        # the workers decode as this process (pickled by value: a local function)
        mp.setattr(ray_engine, "_WORKER_SETUP", decode_as_this_process)
        summary = run_predict(
            _opts(study, root / "ray", tiny_model_dir, engine="ray"), stderr=sys.stderr
        )
    return root / "local", root / "ray", summary, ray


def _rows(path: Path) -> list[list[str]]:
    """The CSV's rows without the ``seconds`` column (wall time: differs between any runs)."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    i = rows[0].index("seconds")
    return [r[:i] + r[i + 1 :] for r in rows]


@pytest.mark.isolated
def test_ray_tables_are_the_local_engines(runs):
    local, ray_out, summary, ray = runs
    assert summary.n_ok == 10 and summary.n_error == 0
    assert not ray.is_initialized(), "a Ray started by predict must be shut down"
    for name in ("submission.csv", "metrics.json", "problems.csv", "predict-run.json"):
        assert (ray_out / name).read_bytes() == (local / name).read_bytes(), name
    assert "junk.dcm" in (ray_out / "problems.csv").read_text(encoding="utf-8")
    rows = _rows(ray_out / "predictions.csv")
    assert rows == _rows(local / "predictions.csv")
    assert len(rows) == 11  # header + 10 images, in scan order
    seconds = [r["seconds"] for r in csv.DictReader((ray_out / "predictions.csv").open())]
    assert all(float(s) > 0 for s in seconds)


@pytest.mark.isolated
def test_ray_pngs_are_the_local_engines(runs):
    """Same pixels, except the footer's export time ("Exported <UTC second> by ...")."""
    local, ray_out, _, _ = runs
    names = sorted(p.name for p in (local / "png").glob("*.png"))
    assert len(names) == 10
    assert sorted(p.name for p in (ray_out / "png").glob("*.png")) == names
    for name in names:
        a, b = Image.open(local / "png" / name), Image.open(ray_out / "png" / name)
        assert {k: v for k, v in a.info.items() if k != "Creation Time"} == {
            k: v for k, v in b.info.items() if k != "Creation Time"
        }
        pa, pb = np.asarray(a), np.asarray(b)
        assert pa.shape == pb.shape
        rows = np.flatnonzero((pa != pb).any(axis=(1, 2)))
        if rows.size:  # the two runs' export times differ: only that footer line may
            assert rows.min() > pa.shape[0] - 80 and rows.max() - rows.min() < 24, name
            assert a.info["Creation Time"] != b.info["Creation Time"]


def test_missing_ray_says_how_to_install(study, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)
    out = tmp_path / "out"
    rc = main(["predict", str(study), "--out", str(out), "--engine", "ray"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--engine ray" in err and INSTALL in err
    assert not out.exists()


def test_ray_refuses_dicom_before_writing(study, tmp_path):
    model = tmp_path / "no-model"  # refused before the model is looked at
    with pytest.raises(UsageError, match="--dicom is not supported with --engine ray"):
        run_predict(_opts(study, tmp_path / "out", model, engine="ray", dicom=("sr",)))
    assert not (tmp_path / "out").exists()


def test_address_needs_the_ray_engine(study, tmp_path, capsys):
    rc = main(["predict", str(study), "--out", str(tmp_path / "o"), "--address", "auto"])
    assert rc == 2
    assert "--address is for --engine ray" in capsys.readouterr().err


@pytest.mark.isolated
def test_a_ray_run_that_dies_says_how_to_resume(
    study, tiny_model_dir, tmp_path, monkeypatch, capsys
):
    """A lost actor or node ends the run with exit 1 and a --resume hint (no Ray started)."""
    ray = pytest.importorskip("ray")
    from pneumoviewer.predict import ray_engine

    class Dies:
        def iter_batches(self, **_):
            raise ray.exceptions.RayError("line one\nThe actor died unexpectedly.")
            yield  # a generator, as Ray's

    monkeypatch.setattr(ray_engine, "_init_ray", lambda ray, opts: False)
    monkeypatch.setattr(ray_engine, "_dataset", lambda *a: Dies())
    out = tmp_path / "out"
    args = ["predict", str(study), "--out", str(out), "--model", str(tiny_model_dir)]
    rc = main([*args, "--engine", "ray", "--runtime", "torch", "--threads", "1", "--no-progress"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "stopped after 0 of 10 images: The actor died unexpectedly." in err
    assert "--resume" in err and str(out) in err
    run = json.loads((out / "predict-run.json").read_text(encoding="utf-8"))
    assert run["complete"] is False  # resumable, not a finished run
