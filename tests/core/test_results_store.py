"""The on-disk results store: keys, staleness, eviction, damaged files, SIGKILL durability."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from pneumoviewer.core.results_store import (
    ENV_DIR,
    FILE_NAME,
    PREPROCESSING_VERSION,
    ResultsStore,
    StoredResult,
    StoredStats,
    default_store_path,
    image_key,
    model_key,
)

REPO = Path(__file__).resolve().parents[2]


def _map(seed: int, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (size, size), dtype=np.uint8)


def _result(i: int, size: int = 64) -> StoredResult:
    return StoredResult(f"img{i}", 0.01 * i, 0.01 * i, _map(i, size), (1024, 1024), "cpu", 0.1)


def _key(**kw) -> str:
    base = {"manifest_sha256": "m" * 64, "weights_sha256": {"seg.safetensors": "w" * 64}}
    base.update(kw)
    base.setdefault("runtime", "torch/cpu/fp32")
    return model_key(**base)


def test_round_trip_and_keys(tmp_path):
    store = ResultsStore(tmp_path / FILE_NAME)
    model = _key()
    store.put(model, "img1|10|5", _result(1))
    store.put(model, "img2|10|5", StoredResult("img2", 0.7, 0.7, None, None, "cuda", 0.02))
    got = store.scalars(model, ["img1|10|5", "img2|10|5", "img3|10|5"])
    assert set(got) == {"img1|10|5", "img2|10|5"}
    assert got["img1|10|5"].class_probability == pytest.approx(0.01)
    assert got["img1|10|5"].image_shape == (1024, 1024)  # a map is stored
    assert got["img2|10|5"].image_shape is None and got["img2|10|5"].device == "cuda"
    np.testing.assert_array_equal(store.load_map(model, "img1|10|5"), _map(1))
    assert store.load_map(model, "img2|10|5") is None
    # the same image with another size/mtime is another image: nothing shown
    assert store.scalars(model, ["img1|11|5"]) == {}
    store.close()
    # reopened: still there
    again = ResultsStore(tmp_path / FILE_NAME)
    np.testing.assert_array_equal(again.load_map(model, "img1|10|5"), _map(1))
    assert again.notice is None
    again.close()


def test_image_key_changes_with_the_file(tmp_path):
    f = tmp_path / "a.dcm"
    f.write_bytes(b"x" * 10)
    k1 = image_key("1.2.3", f)
    assert k1.startswith("1.2.3|10|")
    f.write_bytes(b"y" * 11)
    assert image_key("1.2.3", f) != k1
    assert image_key("1.2.3", tmp_path / "missing") == "1.2.3|?"


def test_model_or_preprocessing_change_never_shows_stale_results(tmp_path):
    store = ResultsStore(tmp_path / FILE_NAME)
    model = _key()
    store.put(model, "img1|1|1", _result(1))
    others = [
        _key(manifest_sha256="n" * 64),
        _key(weights_sha256={"seg.safetensors": "v" * 64}),
        _key(runtime="torch/cuda/bf16"),
        _key(runtime="torch/cpu/fp32/tta"),
        _key(preprocessing_version=PREPROCESSING_VERSION + "-next"),
    ]
    assert len({model, *others}) == len(others) + 1
    for other in others:
        assert store.scalars(other, ["img1|1|1"]) == {}
        assert store.load_map(other, "img1|1|1") is None
    assert set(store.scalars(model, ["img1|1|1"])) == {"img1|1|1"}
    store.close()


def test_stats_are_remembered_per_parameter_key(tmp_path):
    store = ResultsStore(tmp_path / FILE_NAME)
    model = _key()
    store.put(model, "a", _result(1))
    store.put_stats(
        model,
        [
            ("a", StoredStats("p1", 120, 0.5, True, "positive")),
            ("zz", StoredStats("p1", 1, None, True)),
        ],
    )
    got = store.scalars(model, ["a"])["a"].stats
    assert got == StoredStats("p1", 120, 0.5, True, "positive")
    store.put_stats(model, [("a", StoredStats("p2", None, None, None, "not analysed"))])
    assert store.scalars(model, ["a"])["a"].stats == StoredStats(
        "p2", None, None, None, "not analysed"
    )
    store.close()


def test_replacing_a_result_and_oldest_first_eviction(tmp_path):
    one = ResultsStore(tmp_path / FILE_NAME)
    model = _key()
    one.put(model, "k0", _result(0))
    per_row = one.nbytes
    one.put(model, "k0", _result(0))  # replaced, not counted twice
    assert one.nbytes == per_row and len(one) == 1
    one.close()
    # random maps barely compress: ~4 KiB each; a bound of 10 rows keeps the newest ones
    store = ResultsStore(tmp_path / "b.sqlite", max_bytes=10 * per_row)
    for i in range(25):
        store.put(model, f"k{i}", _result(i))
        assert store.nbytes <= 10 * per_row
    kept = set(store.scalars(model, [f"k{i}" for i in range(25)]))
    assert "k24" in kept and "k0" not in kept
    newest_first = [f"k{i}" for i in range(24, -1, -1)]
    assert kept == set(newest_first[: len(kept)])  # the survivors are the newest
    assert 8 <= len(kept) <= 10
    store.close()
    assert ResultsStore(tmp_path / "b.sqlite", max_bytes=10 * per_row).nbytes == store.nbytes


@pytest.mark.parametrize("kind", ["garbage", "foreign", "newer"])
def test_damaged_or_foreign_store_is_set_aside_and_rebuilt(tmp_path, kind):
    path = tmp_path / FILE_NAME
    if kind == "garbage":
        path.write_bytes(b"this is not a database at all" * 100)
    else:
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE t (x)")
        if kind == "newer":
            con.execute("PRAGMA application_id=1347311186")  # ours, but a future schema
            con.execute("PRAGMA user_version=99")
        con.commit()
        con.close()
    before = path.read_bytes()
    store = ResultsStore(path)
    assert store.notice is not None and str(path) in store.notice
    assert store.set_aside is not None and store.set_aside.read_bytes() == before
    assert store.set_aside.name.startswith(FILE_NAME + ".damaged-")
    store.put(_key(), "a", _result(1))  # the new store works
    np.testing.assert_array_equal(store.load_map(_key(), "a"), _map(1))
    store.close()
    assert ResultsStore(path).notice is None  # and stays ours


def test_store_damaged_while_in_use_is_rebuilt(tmp_path):
    path = tmp_path / FILE_NAME
    store = ResultsStore(path)
    store.put(_key(), "a", _result(1))
    store._con.close()  # simulate a broken connection/file mid-session
    store._con = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    store._con.execute("CREATE TABLE results (x)")  # wrong shape: every query fails
    assert store.scalars(_key(), ["a"]) == {}
    assert store.notice is not None
    store.put(_key(), "b", _result(2))
    assert set(store.scalars(_key(), ["a", "b"])) == {"b"}
    store.close()


def test_default_location_env_and_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_DIR, str(tmp_path / "x"))
    assert default_store_path() == tmp_path / "x" / FILE_NAME
    assert default_store_path(tmp_path / "y") == tmp_path / "y" / FILE_NAME
    monkeypatch.delenv(ENV_DIR)
    import platformdirs

    cache = Path(platformdirs.user_cache_dir("pneumoviewer", appauthor=False))
    assert default_store_path() == cache / FILE_NAME


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from pneumoviewer.core.results_store import ResultsStore, StoredResult
    store = ResultsStore(sys.argv[1])
    i = 0
    while True:  # writes until killed; announces each committed result
        m = np.full((64, 64), i % 256, np.uint8)
        store.put("model", f"k{i}", StoredResult(f"img{i}", i / 1e4, i / 1e4, m, (512, 512)))
        print(i, flush=True)
        i += 1
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX only")
def test_results_survive_sigkill(tmp_path):
    path = tmp_path / FILE_NAME
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        acknowledged = -1
        while acknowledged < 40:
            line = proc.stdout.readline()
            assert line, "the writer died before writing"
            acknowledged = int(line)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    store = ResultsStore(path)
    assert store.notice is None
    keys = [f"k{i}" for i in range(acknowledged + 1)]
    got = store.scalars("model", keys)
    assert set(got) == set(keys)  # every acknowledged result is there
    for i in (0, acknowledged // 2, acknowledged):
        np.testing.assert_array_equal(store.load_map("model", f"k{i}"), np.full((64, 64), i % 256))
    store.close()
