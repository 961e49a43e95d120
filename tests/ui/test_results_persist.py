"""The viewer's ResultStore on top of the disk store (no widgets)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from pneumoviewer.core.results_store import ResultsStore
from pneumoviewer.ui.cache import AnalysisResult, upsample_probability
from pneumoviewer.ui.results import ResultStore, open_disk_store, restore_rows, stats_key


@dataclass
class Row:
    """The attributes of a StudyRow that restore_rows fills."""

    image_id: str
    path: Path
    probability: float | None = None
    area: int | None = None
    dice: float | None = None
    analysed: bool = False
    predicted: bool | None = None
    state: str | None = None


def _files(folder: Path, n: int) -> list[Row]:
    rows = []
    for i in range(n):
        p = folder / f"f{i}.dcm"
        p.write_bytes(b"D" * (100 + i))
        rows.append(Row(f"1.2.{i}", p))
    return rows


def _result(i: int, *, cls: float | None = 0.5) -> AnalysisResult:
    m = np.zeros((64, 64), np.uint8)
    m[10 : 20 + i, 5:30] = 200 + i
    return AnalysisResult(f"1.2.{i}", cls, m, "cpu", 0.1, (256, 256), cls if cls else 0.8)


def _session(tmp_path: Path, key: str = "model-a", **kw) -> ResultStore:
    disk, notice = open_disk_store(tmp_path / "store")
    assert notice is None
    store = ResultStore(disk=disk, **kw)
    store.use_model(key)
    return store


def test_results_come_back_in_a_new_session(tmp_path):
    rows = _files(tmp_path, 5)
    one = _session(tmp_path)
    for r in rows:
        one.register(r.image_id, r.path)
    for i in range(3):
        one.add(_result(i))
    expected = one.float_map("1.2.2").copy()
    np.testing.assert_array_equal(expected, upsample_probability(_result(2).prob_u8, (256, 256)))
    one.close()

    two = _session(tmp_path)
    restored, stale = restore_rows(two, rows, stats_key_for=lambda i: "k")
    assert restored == 3 and sorted(stale) == ["1.2.0", "1.2.1", "1.2.2"]  # no numbers yet
    assert [r.analysed for r in rows] == [True, True, True, False, False]
    assert rows[0].probability == 0.5 and rows[3].probability is None
    assert two.has_map("1.2.1") and not two.has_map("1.2.4")
    assert two.disk_reads == 0  # reopening reads no map
    np.testing.assert_array_equal(two.float_map("1.2.2"), expected)
    assert two.disk_reads == 1
    np.testing.assert_array_equal(two.get("1.2.2").prob_u8, _result(2).prob_u8)
    assert two.disk_reads == 1  # now in the LRU
    two.close()


def test_other_model_or_changed_file_shows_nothing(tmp_path):
    rows = _files(tmp_path, 2)
    one = _session(tmp_path)
    for r in rows:
        one.register(r.image_id, r.path)
        one.add(_result(int(r.image_id[-1])))
    one.close()
    other = _session(tmp_path, key="model-b")
    assert restore_rows(other, rows, stats_key_for=lambda i: "k") == (0, [])
    other.close()
    rows[1].path.write_bytes(b"new pixels, same UID")
    os.utime(rows[1].path, ns=(1, 1))
    same = _session(tmp_path)
    fresh = [Row(r.image_id, r.path) for r in rows]
    assert restore_rows(same, fresh, stats_key_for=lambda i: "k")[0] == 1
    assert fresh[0].analysed and not fresh[1].analysed
    same.close()


def test_numbers_restored_only_for_the_same_parameters_and_truth(tmp_path):
    rows = _files(tmp_path, 2)
    key_now = stats_key("params-1", 0.5, ["1 2 3"])
    assert key_now != stats_key("params-2", 0.5, ["1 2 3"])
    assert key_now != stats_key("params-1", 0.5, ["1 2 4"])
    assert key_now != stats_key("params-1", 0.4, ["1 2 3"])
    assert stats_key("p", 0.5, None) != stats_key("p", 0.5, [])
    one = _session(tmp_path)
    for r in rows:
        one.register(r.image_id, r.path)
    one.add(_result(0))
    one.add(_result(1))
    one.note_stats("1.2.0", key_now, area=321, dice=0.75, positive=True, state="positive")
    one.note_stats("1.2.1", "older-params", area=5, dice=0.1, positive=True)
    one.close()  # flushes
    two = _session(tmp_path)
    restored, stale = restore_rows(two, rows, stats_key_for=lambda i: key_now)
    assert restored == 2 and stale == ["1.2.1"]
    assert (rows[0].area, rows[0].dice, rows[0].predicted) == (321, 0.75, True)
    assert rows[0].state == "positive"
    assert rows[1].area is None and rows[1].analysed and rows[1].state is None
    two.close()


def test_memory_holds_a_bounded_number_of_maps(tmp_path):
    rows = _files(tmp_path, 10)
    store = _session(tmp_path, max_map_bytes=3 * 64 * 64)
    for r in rows:
        store.register(r.image_id, r.path)
        store.add(_result(int(r.image_id.split(".")[-1])))
    assert len(store.maps) == 3 and store.maps.nbytes <= 3 * 64 * 64
    assert all(store.has_map(r.image_id) for r in rows)  # the others are on disk
    np.testing.assert_array_equal(store.get("1.2.0").prob_u8, _result(0).prob_u8)
    store.close()


def test_without_a_model_or_disk_nothing_is_written(tmp_path):
    rows = _files(tmp_path, 1)
    disk, _ = open_disk_store(tmp_path / "store")
    store = ResultStore(disk=disk)  # no model key yet
    store.register(rows[0].image_id, rows[0].path)
    store.add(_result(0))
    assert len(disk) == 0 and store.has_map("1.2.0")
    store.close()
    memory = ResultStore()
    memory.add(_result(0))
    assert memory.disk is None and memory.float_map("1.2.0").shape == (256, 256)


def test_unusable_store_location_is_a_message(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    disk, notice = open_disk_store(blocker / "sub")
    assert disk is None and "not kept between sessions" in notice
    damaged = tmp_path / "d"
    damaged.mkdir()
    (damaged / "results.sqlite").write_bytes(b"garbage" * 50)
    disk, notice = open_disk_store(damaged)
    assert isinstance(disk, ResultsStore) and "moved to" in notice
    disk.close()


@pytest.mark.parametrize("cls", [None, 0.9])
def test_score_is_kept(tmp_path, cls):
    rows = _files(tmp_path, 1)
    one = _session(tmp_path)
    one.register(rows[0].image_id, rows[0].path)
    one.add(_result(0, cls=cls))
    one.close()
    two = _session(tmp_path)
    restore_rows(two, rows, stats_key_for=lambda i: "k")
    assert rows[0].probability == (0.8 if cls is None else 0.9)
    assert two.get("1.2.0").class_probability == cls
    two.close()


def test_list_refreshes_do_not_push_out_the_memoised_map_of_the_image_on_screen():
    store = ResultStore()
    for i in range(3):
        store.add(_result(i))
    current = store.float_map("1.2.0")
    other = store.float_map("1.2.1", memoise=False)
    assert other is not current and store.float_map("1.2.0") is current  # still memoised
    store.float_map("1.2.2")
    assert store.float_map("1.2.0") is not current  # replaced by a memoised request


def test_runtime_is_part_of_the_model_key(tmp_path):
    from types import SimpleNamespace

    from pneumoviewer.ui.results import engine_runtime, results_model_key

    plain = SimpleNamespace(device="cpu", runtimes={"segmenter": "torch", "classifier": "torch"})
    fast = SimpleNamespace(device="cpu", runtimes={"segmenter": "openvino", "classifier": "torch"})
    tta = SimpleNamespace(device="cpu", runtimes=plain.runtimes, tta=True)
    assert engine_runtime(plain) == "cpu:classifier=torch,segmenter=torch"
    assert engine_runtime(tta).endswith("/tta")
    assert engine_runtime(SimpleNamespace(device="cuda")) == "cuda:torch"
    (tmp_path / "manifest.json").write_text("{}")
    manifest = SimpleNamespace(sha256={"w.safetensors": "ab"})
    keys = {
        results_model_key(SimpleNamespace(model_dir=tmp_path, manifest=manifest, runtime=r))
        for r in (engine_runtime(plain), engine_runtime(fast), engine_runtime(tta))
    }
    assert len(keys) == 3


def test_stats_keyer_equals_stats_key():
    from pneumoviewer.ui.results import stats_keyer

    key = stats_keyer("params", 0.5)
    for rows in (None, [], ["1 2"], ["1 2", "3 4"]):
        assert key(rows) == stats_key("params", 0.5, rows)
    assert key(None) != key([])
