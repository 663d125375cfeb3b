"""Training batches in a fixed order: :func:`make_loader`, used by :func:`bnnlib.train.fit`.

The batch order of an epoch is a pure function of ``(seed, epoch)`` (:func:`epoch_batches`), so
a resumed run sees exactly the batches an uninterrupted one would; in-memory datasets are
fetched a whole batch at a time.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset, default_collate

from .data import InMemoryImages, on_cuda

__all__ = ["make_loader", "epoch_batches"]


def _batch_indexable(ds: Dataset) -> bool:
    """True when ``ds[list_of_indices]`` returns a whole batch (in-memory tensors)."""
    while isinstance(ds, Subset):
        ds = ds.dataset
    return isinstance(ds, (InMemoryImages, TensorDataset))


def epoch_batches(n: int, batch_size: int, shuffle: bool, seed: int, epoch: int, drop_last: bool):
    """Index batches of one epoch: a pure function of ``(seed, epoch)``."""
    if shuffle:
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=g)
    else:
        order = torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    return [order[i : i + batch_size].tolist() for i in range(0, stop, batch_size)]


def make_loader(data: Dataset, batch_size: int, *, shuffle: bool = False, seed: int = 0,
                epoch: int = 0, drop_last: bool = False, skip_batches: int = 0,
                num_workers: int = 0, pin_memory: bool = False,
                shard: tuple[int, int] | None = None) -> DataLoader:
    """A ``DataLoader`` whose batch order is fixed by ``(seed, epoch)``.

    In-memory datasets (:class:`~bnnlib.data.InMemoryImages`, ``TensorDataset``, and
    ``Subset`` of them) are indexed a batch at a time, with no per-image collation; other
    datasets go through the usual per-item path with ``num_workers`` workers.
    ``skip_batches`` drops the first batches (to resume in the middle of an epoch).
    ``shard=(part, parts)`` keeps the ``part``-th of ``parts`` contiguous chunks of every
    batch (:func:`bnnlib.distributed.shard`: data-parallel training); a chunk can be empty
    (a last batch smaller than ``parts``), and then comes as ``None`` from the per-item path.
    ``pin_memory`` is ignored for data already on a GPU (:func:`bnnlib.data.on_device`).
    """
    pin_memory = pin_memory and not on_cuda(data)
    batches = epoch_batches(len(data), batch_size, shuffle, seed, epoch, drop_last)[skip_batches:]
    if shard is not None:
        from .distributed import shard as chunk

        batches = [chunk(b, *shard) for b in batches]
    # A private generator: creating the iterator must not draw from torch's global RNG,
    # or a mid-epoch resume would shift the augmentation stream.
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch + 1)
    if _batch_indexable(data):
        return DataLoader(data, sampler=batches, batch_size=None, num_workers=0,
                          pin_memory=pin_memory, generator=gen)
    return DataLoader(data, batch_sampler=batches, num_workers=num_workers, pin_memory=pin_memory,
                      generator=gen, persistent_workers=False, collate_fn=_collate)


def _collate(items: list):
    """``default_collate``, or ``None`` for an empty shard of a batch."""
    return default_collate(items) if items else None
