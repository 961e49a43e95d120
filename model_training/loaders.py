"""Datasets, epoch-aware samplers (shuffle, positive-sampling schedule, DDP shards), loaders."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, WeightedRandomSampler

from model_training.augment import AugmentConfig, augment_pair
from model_training.data import PreprocessedCache
from pneumoviewer.core.preprocessing import normalise


@dataclass(frozen=True, slots=True, kw_only=True)
class InputSpec:
    """How cached uint8 planes become network inputs (as in the model manifest)."""

    mean: float = 0.5
    std: float = 0.25
    channels: int = 3


class XrayDataset(Dataset):
    """Items of a :class:`PreprocessedCache` as tensors.

    The sampler yields ``(index, sample_seed)`` pairs so that augmentation is reproducible
    whatever the worker count (and survives persistent workers).

    Parameters
    ----------
    cache : PreprocessedCache
        The preprocessed images and masks.
    task : {"classify", "segment"}
        ``classify`` returns float32 (C, S, S) and a float32 scalar label;
        ``segment`` returns float32 (C, S, S) and a float32 (1, S, S) mask.
    input_spec : InputSpec
        Normalisation and channel count.
    augment : AugmentConfig or None
        None (or :meth:`AugmentConfig.none`) for validation.
    """

    def __init__(
        self,
        cache: PreprocessedCache,
        *,
        task: str,
        input_spec: InputSpec,
        augment: AugmentConfig | None = None,
    ) -> None:
        if task not in ("classify", "segment"):
            raise ValueError(f"task must be 'classify' or 'segment', not {task!r}")
        self.cache = cache
        self.task = task
        self.input_spec = input_spec
        self.augment = augment

    def __len__(self) -> int:
        return len(self.cache)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, seed = item if isinstance(item, tuple) else (int(item), 0)
        image = self.cache.images[index]
        mask = self.cache.masks[index] if self.task == "segment" else None
        if self.augment is not None:
            rng = np.random.default_rng(seed)
            plane, mask = augment_pair(image, mask, self.augment, rng)
        else:
            plane = image
        s = self.input_spec
        x = torch.from_numpy(normalise(plane, mean=s.mean, std=s.std, channels=s.channels))
        if self.task == "classify":
            return x, torch.tensor(float(self.cache.labels[index]), dtype=torch.float32)
        return x, torch.from_numpy(mask.astype(np.float32))[None]


def positive_fraction(epoch: int, epochs: int, start: float, end: float) -> float:
    """Linear schedule of the positive sampling fraction from ``start`` to ``end``."""
    if epochs <= 1:
        return float(start)
    return float(start + (end - start) * min(epoch, epochs - 1) / (epochs - 1))


class EpochSampler(Sampler):
    """Per-epoch index order, optionally weighted and sharded across DDP ranks.

    Yields ``(index, sample_seed)``. Call :meth:`set_epoch` before each epoch.

    Parameters
    ----------
    indices : sequence of int
        Dataset indices to draw from.
    shuffle : bool
        Permute each epoch (ignored with a positive schedule).
    seed : int
        Base seed (the same on every rank).
    rank, world_size : int
        This process's shard.
    labels : ndarray or None
        bool (len(dataset),) labels; with ``schedule`` set, draws follow it.
    schedule : (float, float, int) or None
        ``(start, end, epochs)``: positive fraction decaying linearly from ``start`` to
        ``end``; each epoch rebuilds a ``WeightedRandomSampler`` with replacement.
    num_samples : int or None
        Draws per epoch with a schedule (default ``len(indices)``).
    """

    def __init__(
        self,
        indices: Sequence[int],
        *,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        labels: np.ndarray | None = None,
        schedule: tuple[float, float, int] | None = None,
        num_samples: int | None = None,
    ) -> None:
        self.indices = np.asarray(list(indices), dtype=np.int64)
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.labels = labels
        self.schedule = schedule
        self.num_samples = num_samples or len(self.indices)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order is drawn next."""
        self.epoch = int(epoch)

    def _order(self) -> np.ndarray:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        if self.schedule is not None and self.labels is not None:
            start, end, epochs = self.schedule
            p = positive_fraction(self.epoch, epochs, start, end)
            lab = self.labels[self.indices]
            n_pos, n_neg = int(lab.sum()), int((~lab).sum())
            if n_pos == 0 or n_neg == 0:
                w = np.ones(len(lab))
            else:
                w = np.where(lab, p / n_pos, (1.0 - p) / n_neg)
            sampler = WeightedRandomSampler(
                torch.as_tensor(w, dtype=torch.double),
                self.num_samples,
                replacement=True,
                generator=g,
            )
            return self.indices[np.fromiter(iter(sampler), dtype=np.int64)]
        if self.shuffle:
            return self.indices[torch.randperm(len(self.indices), generator=g).numpy()]
        return self.indices.copy()

    def _shard(self) -> np.ndarray:
        order = self._order()
        if self.world_size > 1:
            total = -(-len(order) // self.world_size) * self.world_size
            order = np.resize(order, total)  # pad by repeating the start
            order = order[self.rank :: self.world_size]
        return order

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = self._shard()
        base = (self.seed * 1_000_003 + self.epoch) * 1_000_003
        positions = np.arange(len(order)) * self.world_size + self.rank
        for idx, pos in zip(order.tolist(), positions.tolist(), strict=True):
            yield idx, base + pos

    def __len__(self) -> int:
        n = self.num_samples if self.schedule is not None else len(self.indices)
        return -(-n // self.world_size) if self.world_size > 1 else n


@dataclass(frozen=True, slots=True, kw_only=True)
class LoaderConfig:
    """DataLoader settings: workers, pinning (CUDA only), persistent workers."""

    batch_size: int = 8
    workers: int = 2
    pin_memory: bool = False


def make_loader(dataset: Dataset, sampler: Sampler, config: LoaderConfig) -> DataLoader:
    """Return a DataLoader with ``persistent_workers`` and ``prefetch`` when workers > 0."""
    kwargs: dict = {}
    if config.workers > 0:
        kwargs = {"persistent_workers": True, "prefetch_factor": 4}
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=config.workers,
        pin_memory=config.pin_memory,
        drop_last=False,
        **kwargs,
    )
