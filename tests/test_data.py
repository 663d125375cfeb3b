"""Tests of bnnlib.data: Fashion-MNIST fallbacks, splits, subsets, augmentation, ImageNet."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from bnnlib import data
from bnnlib.data import (
    DATASETS,
    InMemoryImages,
    class_balanced_indices,
    dataset_info,
    dataset_targets,
    get_datasets,
    read_idx,
    stratified_split,
)

torch.set_num_threads(1)

DEBIAN_PRESENT = (data.DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file()


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> None:
    """Write a uint8 array in IDX format (MNIST layout)."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)


def make_fake_fashion(folder: Path, n_train=60, n_test=20, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.arange(n_test, dtype=np.uint8) % 10,
    }
    for name, arr in arrays.items():
        write_idx(folder / name, arr, gz=gz)
    return arrays


@pytest.fixture
def no_debian(monkeypatch, tmp_path):
    """Pretend the Debian package is absent and downloads fail (never touch the network)."""
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian-here")

    def offline(root):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(data, "_download_fashion_mnist", offline)


def unnormalise(x: torch.Tensor, name="fashion_mnist") -> torch.Tensor:
    info = DATASETS[name]
    mean = torch.tensor(info.mean).view(-1, 1, 1)
    std = torch.tensor(info.std).view(-1, 1, 1)
    return ((x * std + mean) * 255).round()


# ---------------------------------------------------------------------------------------------
# names and info


def test_unknown_name_lists_known_datasets():
    with pytest.raises(ValueError, match=r"'mnist'.*cifar10, fashion_mnist, imagenet"):
        get_datasets("mnist")
    with pytest.raises(ValueError, match="known datasets"):
        dataset_info("svhn")


def test_dataset_info_for_model_building():
    info = dataset_info("fashion_mnist")
    assert (info.num_classes, info.in_channels, info.image_size) == (10, 1, 28)
    assert dataset_info("cifar10").in_channels == 3
    assert dataset_info("imagenet").num_classes == 1000


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST fallbacks


def test_read_idx_roundtrip_and_bad_header(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a", arr, gz=False)
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), arr)
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01x")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", arr, gz=False)
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-3])
    with pytest.raises(ValueError, match="header says shape"):
        read_idx(tmp_path / "short")


@pytest.mark.parametrize("layout", ["root", "FashionMNIST/raw", "fashion-mnist"])
@pytest.mark.parametrize("gz", [True, False])
def test_generated_fashion_mnist_in_data_raw(tmp_path, no_debian, layout, gz):
    root = tmp_path / "raw"
    folder = root if layout == "root" else root / layout
    arrays = make_fake_fashion(folder, gz=gz)
    train, val, test = get_datasets(root=root, val_size=10)
    assert (len(train), len(val), len(test)) == (50, 10, 20)
    # The tensors are the files' pixels, normalised.
    x, y = test[list(range(20))]
    assert x.shape == (20, 1, 28, 28) and x.dtype == torch.float32
    np.testing.assert_array_equal(unnormalise(x)[:, 0].numpy(), arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(y.numpy(), arrays["t10k-labels-idx1-ubyte"])
    # train and val partition the training set; val has one image per class here.
    tr_idx, va_idx = set(train.indices), set(val.indices)
    assert not tr_idx & va_idx and len(tr_idx | va_idx) == 60
    assert sorted(dataset_targets(val).tolist()) == list(range(10))


def test_data_raw_takes_priority_over_debian(tmp_path, monkeypatch):
    debian = tmp_path / "debian"
    make_fake_fashion(debian, n_train=30, n_test=10, seed=1)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", debian)
    root = tmp_path / "raw"
    make_fake_fashion(root, n_train=40, n_test=20, seed=2)
    _, _, test = get_datasets(root=root, val_size=10, download=False)
    assert len(test) == 20
    # With data/raw empty, the Debian files are used.
    _, _, test = get_datasets(root=tmp_path / "empty", val_size=10, download=False)
    assert len(test) == 10


def test_missing_everywhere_names_three_places_and_remedy(tmp_path, no_debian):
    with pytest.raises(FileNotFoundError) as err:
        get_datasets(root=tmp_path / "raw")
    msg = str(err.value)
    assert str(tmp_path / "raw") in msg
    assert "no-debian-here" in msg
    assert "download failed: OSError: network unreachable" in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    with pytest.raises(FileNotFoundError, match="download disabled"):
        get_datasets(root=tmp_path / "raw", download=False)


@pytest.mark.skipif(not DEBIAN_PRESENT, reason="apt-get install dataset-fashion-mnist")
def test_debian_fashion_mnist_full_split(tmp_path):
    train, val, test = get_datasets(root=tmp_path / "empty", download=False)
    assert (len(train), len(val), len(test)) == (55000, 5000, 10000)
    assert not set(train.indices) & set(val.indices)
    # Stratified: 500 of each class held out for search validation.
    assert torch.bincount(dataset_targets(val)).tolist() == [500] * 10
    # Fixed for a seed, different for another.
    _, val2, _ = get_datasets(root=tmp_path / "empty", download=False)
    _, val3, _ = get_datasets(root=tmp_path / "empty", download=False, seed=1)
    assert val.indices == val2.indices and val.indices != val3.indices
    x, y = train[0]
    assert x.shape == (1, 28, 28) and isinstance(y, int)
    # Normalisation: roughly zero-mean, unit-std over a batch of training images.
    xb, _ = train[list(range(2000))]
    assert abs(float(xb.mean())) < 0.05 and abs(float(xb.std()) - 1) < 0.05


@pytest.mark.skipif(not DEBIAN_PRESENT, reason="apt-get install dataset-fashion-mnist")
def test_subsets_and_errors(tmp_path):
    train, val, test = get_datasets(root=tmp_path, subset=(1000, 200, 300), download=False)
    assert (len(train), len(val), len(test)) == (1000, 200, 300)
    assert torch.bincount(dataset_targets(train)).tolist() == [100] * 10
    train, val, test = get_datasets(root=tmp_path, subset={"test": 50}, download=False)
    assert (len(train), len(val), len(test)) == (55000, 5000, 50)
    with pytest.raises(ValueError, match=r"subset train=70000.*55000 images.*1\.\.55000"):
        get_datasets(root=tmp_path, subset=70000, download=False)
    with pytest.raises(ValueError, match="val_size=60000"):
        get_datasets(root=tmp_path, val_size=60000, download=False)
    train, val, _ = get_datasets(root=tmp_path, val_size=0, download=False)
    assert (len(train), len(val)) == (60000, 0)
    train, _, _ = get_datasets(root=tmp_path, per_class=7, download=False)
    assert torch.bincount(dataset_targets(train)).tolist() == [7] * 10


# ---------------------------------------------------------------------------------------------
# splits, class-balanced subsets


def test_stratified_split_quotas_and_seed():
    targets = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    rest, held = stratified_split(targets, 10, seed=3)
    assert torch.bincount(targets[held]).tolist() == [5, 3, 2]
    assert len(rest) == 90 and not set(rest.tolist()) & set(held.tolist())
    assert torch.equal(held, stratified_split(targets, 10, seed=3)[1])
    assert not torch.equal(held, stratified_split(targets, 10, seed=4)[1])


def test_class_balanced_indices():
    targets = torch.tensor([0] * 5 + [1] * 8 + [2] * 6)
    idx = class_balanced_indices(targets, 4, seed=0)
    assert torch.bincount(targets[idx]).tolist() == [4, 4, 4]
    with pytest.raises(ValueError, match="per_class=6 but class 0 has only 5.*per_class <= 5"):
        class_balanced_indices(targets, 6, seed=0)


# ---------------------------------------------------------------------------------------------
# augmentation


def make_images(n=16, c=1, h=8, w=8):
    images = torch.arange(n * c * h * w, dtype=torch.int64).remainder(251).to(torch.uint8)
    return images.view(n, c, h, w), torch.arange(n) % 10


def test_flip_is_identity_or_mirror():
    images, targets = make_images()
    ds = InMemoryImages(images, targets, (0.0,), (1 / 255,), augment="flip")
    torch.manual_seed(0)
    x, _ = ds[list(range(16))]
    x = x.round().to(torch.uint8)
    same = (x == images).flatten(1).all(1)
    mirrored = (x == images.flip(-1)).flatten(1).all(1)
    assert bool((same | mirrored).all()) and same.any() and mirrored.any()


def test_random_crop_is_a_window_of_the_padded_image():
    images, targets = make_images(n=32)
    ds = InMemoryImages(images, targets, (0.0,), (1 / 255,), augment="crop_flip", pad=2)
    torch.manual_seed(1)
    x, _ = ds[list(range(32))]
    x = x.round().to(torch.uint8)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for i in range(32):
        windows = [padded[i, :, dy : dy + 8, dx : dx + 8] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(x[i], wdw) or torch.equal(x[i], wdw.flip(-1)) for wdw in windows)
    # Seeded: the same global seed gives the same batch.
    torch.manual_seed(1)
    assert torch.equal(ds[list(range(32))][0].round().to(torch.uint8), x)


def test_val_and_test_are_never_augmented(tmp_path, no_debian):
    make_fake_fashion(tmp_path)
    train, val, test = get_datasets(root=tmp_path, val_size=10, augment="crop_flip")
    assert train.dataset.augment == "crop_flip"
    assert val.dataset.augment is None and test.dataset.augment is None
    with pytest.raises(ValueError, match="unknown augment 'rotate'"):
        get_datasets(root=tmp_path, val_size=10, augment="rotate")


def test_cifar10_missing_offline_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"CIFAR-10 not found in .*download=False"):
        get_datasets("cifar10", root=tmp_path, download=False)


# ---------------------------------------------------------------------------------------------
# ImageNet (ImageFolder)


def test_imagenet_without_class_folders(tmp_path):
    with pytest.raises(ValueError, match=r"train.*does not exist.*ImageFolder layout"):
        get_datasets("imagenet", root=tmp_path)
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "n01.JPEG").write_bytes(b"")
    with pytest.raises(ValueError, match="has no class sub-folders"):
        get_datasets("imagenet", root=tmp_path)


def test_imagenet_tiny_imagefolder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("val", 2)):
        for cls in ("n01", "n02", "n03"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    train, val, test = get_datasets(
        "imagenet", root=tmp_path, val_size=3, per_class=2, image_size=8
    )
    assert (len(train), len(val), len(test)) == (6, 3, 6)
    assert torch.bincount(dataset_targets(train)).tolist() == [2, 2, 2]
    x, y = train[0]
    assert x.shape == (3, 8, 8) and 0 <= y < 3
    assert test[0][0].shape == (3, 8, 8)
