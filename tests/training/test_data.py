from __future__ import annotations

import numpy as np
import pytest

from model_training.augment import AugmentConfig, augment_pair
from model_training.data import PreprocessedCache, load_corpus
from model_training.loaders import EpochSampler, InputSpec, XrayDataset, positive_fraction
from pneumoviewer.core.preprocessing import normalise


def test_siim_layout_of_the_sample(samples_dir):
    corpus = load_corpus(samples_dir)
    assert corpus.layout == "siim"
    assert len(corpus.records) == 10
    assert sum(r.positive for r in corpus.records) == 5
    assert all(r.patient_id for r in corpus.records)
    pos = next(r for r in corpus.records if r.positive)
    img = corpus.image(pos)
    m = corpus.mask(pos, img.shape)
    assert img.dtype == np.uint8 and m.dtype == bool and m.any()


def test_cache_equals_core_model_input(samples_dir):
    from pneumoviewer.core.preprocessing import ClaheParams, to_model_input

    corpus = load_corpus(samples_dir)
    recs = corpus.records[4:7]
    cache = PreprocessedCache(corpus, recs, size=128, clahe_params=ClaheParams())
    ds = XrayDataset(cache, task="segment", input_spec=InputSpec(mean=0.4, std=0.3, channels=3))
    for i, rec in enumerate(recs):
        ref = to_model_input(
            corpus.image(rec), size=128, clahe_params=ClaheParams(), mean=0.4, std=0.3, channels=3
        )
        x, y = ds[i]
        assert x.shape == (3, 128, 128) and y.shape == (1, 128, 128)
        np.testing.assert_array_equal(x.numpy(), ref)  # bit-identical to the viewer's input
        assert bool(y.sum() > 0) == rec.positive


def test_png_layout(png_data):
    corpus = load_corpus(png_data)
    assert corpus.layout == "png"
    assert len(corpus.records) == 8 and sum(r.positive for r in corpus.records) == 4
    rec = corpus.records[0]
    assert corpus.mask(rec, (64, 64)).any() == rec.positive


def test_missing_mask_names_the_image(tmp_path, png_data):
    import shutil

    from pneumoviewer.core.errors import GroundTruthError

    shutil.copytree(png_data, tmp_path / "d")
    next((tmp_path / "d" / "png_masks").iterdir()).unlink()
    with pytest.raises(GroundTruthError, match="no mask"):
        load_corpus(tmp_path / "d")


def test_augmentation_moves_image_and_mask_together():
    img = np.full((64, 64), 20, np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    img[10:30, 5:20] = 220
    mask[10:30, 5:20] = 1
    cfg = AugmentConfig(hflip=1.0, affine=1.0, rotate_deg=15, scale=0.1, shift=0.1, intensity=0.0)
    for seed in range(5):
        a, m = augment_pair(img, mask, cfg, np.random.default_rng(seed))
        assert a.dtype == np.float32 and set(np.unique(m)) <= {0, 1}
        inside = a[m == 1]
        outside = a[(m == 0)]
        assert inside.mean() > 180 and outside.mean() < 60
        assert m[:, 32:].sum() > m[:, :32].sum()  # flipped to the right half
    none = augment_pair(img, mask, AugmentConfig.none(), np.random.default_rng(0))
    np.testing.assert_array_equal(none[0], img.astype(np.float32))


def test_normalise_is_the_fused_affine():
    plane = np.array([[0, 255]], np.uint8)
    out = normalise(plane, mean=0.5, std=0.25, channels=2)
    assert out.shape == (2, 1, 2)
    assert out[0].ravel().tolist() == pytest.approx([-2.0, 2.0])


def test_positive_schedule_sampler():
    labels = np.array([True] * 10 + [False] * 90)
    s = EpochSampler(range(100), labels=labels, schedule=(0.8, 0.4, 3), num_samples=4000, seed=1)
    fractions = []
    for epoch in range(3):
        s.set_epoch(epoch)
        idx = [i for i, _ in s]
        fractions.append(labels[idx].mean())
    assert fractions[0] == pytest.approx(0.8, abs=0.03)
    assert fractions[1] == pytest.approx(0.6, abs=0.03)
    assert fractions[2] == pytest.approx(0.4, abs=0.03)
    assert positive_fraction(10, 3, 0.8, 0.4) == pytest.approx(0.4)
    s.set_epoch(0)
    assert [i for i, _ in s] == [i for i, _ in s]  # reproducible per epoch


def test_sampler_shards_are_disjoint_and_cover():
    shards = []
    for rank in range(2):
        s = EpochSampler(range(9), seed=3, rank=rank, world_size=2)
        s.set_epoch(2)
        shards.append([i for i, _ in s])
    assert len(shards[0]) == len(shards[1]) == 5
    assert set(shards[0]) | set(shards[1]) == set(range(9))
    seeds = [sd for r in range(2) for _, sd in EpochSampler(range(9), rank=r, world_size=2)]
    assert len(set(seeds)) == len(seeds)  # every draw augments differently
