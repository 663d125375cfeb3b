"""BN recalibration: the one utility every candidate evaluation uses (OFA's set_running_statistics).

A candidate cut from a supernet inherits BN statistics accumulated over *other* candidates, so
before scoring it we reset every BN layer's running statistics and forward a fixed, seeded
subset of training images in train mode without gradients, with ``momentum=None`` so the
statistics are the cumulative average over those images (not an exponential average). Every
candidate sees the same images in the same order.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from .data import on_device
from .train import _forward, _resolve_device, make_loader


def fixed_subset(data: Dataset, num_images: int | None, seed: int = 0) -> Dataset:
    """The same ``num_images`` images of ``data`` for a given seed (all of them if None)."""
    if num_images is None or num_images >= len(data):
        return data
    if num_images < 1:
        raise ValueError(f"num_images must be >= 1 or None, got {num_images}")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data), generator=g)[:num_images].sort().values
    return Subset(data, idx.tolist())


def recalibrate_bn(model: nn.Module, data: Dataset, num_images: int | None = 2000,
                   batch_size: int = 256, seed: int = 0, num_workers: int = 0) -> int:
    """Reset BN running statistics and re-estimate them on a fixed subset of ``data``.

    Returns the number of BN layers recalibrated. ``num_workers``: DataLoader workers for data
    read from disk. The model's train/eval mode and the BN
    momenta are restored afterwards; no gradient is computed.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return 0
    momenta = [bn.momentum for bn in bns]
    was_training = model.training
    # the forward pass of training and evaluation: on a GPU, images on the device,
    # channels_last and bfloat16 autocast (bnnlib.train)
    device, amp = _resolve_device(None, None, next(model.parameters()).device)
    subset = on_device(fixed_subset(data, num_images, seed), device)
    try:
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative moving average
        model.train()
        with torch.no_grad():
            for x, y in make_loader(subset, batch_size, num_workers=num_workers,
                                    pin_memory=device.type == "cuda"):
                _forward(model, x, y, device, amp)
    finally:
        for bn, m in zip(bns, momenta, strict=True):
            bn.momentum = m
        model.train(was_training)
    return len(bns)
