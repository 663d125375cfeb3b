"""Tests of bnnlib.data: Fashion-MNIST fallbacks, splits, subsets, augmentation, ImageNet."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from bnnlib import data, fashion_mnist
from bnnlib.data import (
    DATASETS,
    InMemoryImages,
    class_balanced_indices,
    dataset_info,
    dataset_targets,
    get_datasets,
    stratified_split,
)
from bnnlib.fashion_mnist import read_idx

torch.set_num_threads(1)

DEBIAN_PRESENT = (fashion_mnist.DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file()


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
    monkeypatch.setattr(fashion_mnist, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian-here")

    def offline(root):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(fashion_mnist, "_download", offline)


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
    monkeypatch.setattr(fashion_mnist, "DEBIAN_FASHION_MNIST", debian)
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


def test_augmentation_draws_rows_then_columns_then_flips_from_the_global_stream():
    """The stream a batch's crops and flips come from: one draw per image of the row offsets,
    then of the column offsets, then of the flips (what every device and every earlier run
    used; a reordering would silently change every augmented training)."""
    images, targets = make_images(n=12)
    ds = InMemoryImages(images, targets, (0.0,), (1 / 255,), augment="crop_flip", pad=2)
    order = [3, 0, 11, 5, 7]
    torch.manual_seed(4)
    x, y = ds[order]
    torch.manual_seed(4)
    rows, cols = torch.randint(0, 5, (5,)), torch.randint(0, 5, (5,))
    flips = torch.rand(5) < 0.5
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for k, i in enumerate(order):
        want = padded[i, :, rows[k]:rows[k] + 8, cols[k]:cols[k] + 8]
        want = want.flip(-1) if flips[k] else want
        assert torch.equal(x[k].round().to(torch.uint8), want), k
    assert y.tolist() == [int(targets[i]) for i in order]
    assert data.host_to_device(torch.arange(3), torch.device("cpu")).device.type == "cpu"


def test_val_and_test_are_never_augmented(tmp_path, no_debian):
    make_fake_fashion(tmp_path)
    train, val, test = get_datasets(root=tmp_path, val_size=10, augment="crop_flip")
    assert train.dataset.augment == "crop_flip"
    assert val.dataset.augment is None and test.dataset.augment is None
    with pytest.raises(ValueError, match="unknown augment 'rotate'"):
        get_datasets(root=tmp_path, val_size=10, augment="rotate")


def test_cifar10_missing_offline_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"CIFAR-10 not found: .*data_batch_1.*download=False"):
        get_datasets("cifar10", root=tmp_path, download=False)


def test_cifar10_standin_reads_like_torchvision(tmp_path, monkeypatch):
    """The stand-in's pickles decode to what torchvision's CIFAR10 makes of them (its MD5
    check aside), and bnnlib reads them into the same pixels and labels (CHW)."""
    import torchvision.datasets.cifar as tv_cifar

    from bnnlib.standin import write_cifar10

    write_cifar10(tmp_path, train_per_class=3, test_per_class=2)
    # the stand-in is not the original archive: skip torchvision's MD5 comparison only
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *args, **kwargs: True)
    tv = {train: tv_cifar.CIFAR10(str(tmp_path), train=train) for train in (True, False)}
    x, y, vx, vy = data._load_cifar10(tmp_path, download=False)
    assert x.shape == (30, 3, 32, 32) and vx.shape == (20, 3, 32, 32)
    assert torch.equal(x.permute(0, 2, 3, 1), torch.from_numpy(tv[True].data))
    assert y.tolist() == tv[True].targets and vy.tolist() == tv[False].targets
    assert tv[True].classes[0] == "airplane"
    train, val, test = get_datasets("cifar10", root=tmp_path, val_size=10, download=False)
    assert (len(train), len(val), len(test)) == (20, 10, 20)
    assert train[0][0].shape == (3, 32, 32)


def test_cifar10_damaged_batch_names_the_file(tmp_path):
    from bnnlib.standin import write_cifar10

    folder = write_cifar10(tmp_path, 1, 1)
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="data_batch_3 cannot be read as a pickled CIFAR batch"):
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


def test_imagenet_standin_in_the_real_layout(tmp_path):
    from bnnlib.standin import IMAGENET_WNIDS, write_imagenet

    write_imagenet(tmp_path, classes=3, train_per_class=4, val_per_class=2)
    assert sorted(p.name for p in (tmp_path / "val").iterdir()) == list(IMAGENET_WNIDS[:3])
    assert (tmp_path / "train" / "n01440764" / "n01440764_1.JPEG").is_file()
    assert (tmp_path / "val" / "n01440764" / "ILSVRC2012_val_00000001.JPEG").is_file()
    train, val, test = get_datasets("imagenet", root=tmp_path, val_size=3)
    assert (len(train), len(val), len(test)) == (9, 3, 6)
    assert train[0][0].shape == test[0][0].shape == (3, 224, 224)


# ---------------------------------------------------------------------------------------------
# clear errors for bad arguments


@pytest.mark.parametrize(
    "subset, detail",
    [
        (0.5, r"subset=0\.5 is not valid"),
        (True, r"subset=True is not valid"),
        (-5, r"subset=-5 is not valid: train size -5 is not a positive int"),
        ((20, 0.5, None), r"val size 0\.5 is not a positive int"),
        ((20, "5", None), r"val size '5' is not a positive int"),
        ({"test": False}, r"test size False is not a positive int"),
        ("abc", r"subset='abc' is not valid"),
    ],
)
def test_bad_subset_names_value_and_valid_forms(tmp_path, no_debian, subset, detail):
    make_fake_fashion(tmp_path)
    with pytest.raises(ValueError, match=detail) as err:
        get_datasets(root=tmp_path, val_size=10, subset=subset)
    msg = str(err.value)
    for form in ("an int", "a dict with keys train/val/test", "(train, val, test) tuple", "None"):
        assert form in msg


@pytest.mark.parametrize("per_class", [0, -3, 2.5, True, "7"])
def test_bad_per_class_is_a_value_error(tmp_path, no_debian, per_class):
    make_fake_fashion(tmp_path)
    with pytest.raises(ValueError, match=rf"per_class={per_class!r} .*positive int"):
        get_datasets(root=tmp_path, val_size=10, per_class=per_class)
    with pytest.raises(ValueError, match="per_class="):
        class_balanced_indices(torch.arange(20) % 2, per_class, seed=0)


@pytest.mark.parametrize("val_size", [1.0, 1.5, -0.1, True, float("nan"), 10.0])
def test_bad_val_size_names_value_and_both_forms(tmp_path, no_debian, val_size):
    make_fake_fashion(tmp_path)
    with pytest.raises(ValueError) as err:
        get_datasets(root=tmp_path, val_size=val_size)
    msg = str(err.value)
    assert f"val_size={val_size!r}" in msg
    assert "fraction of the training set as a float in [0, 1)" in msg
    assert "count of images as an int" in msg


@pytest.mark.parametrize("kwargs", [{"subset": 0.5}, {"per_class": 0}, {"val_size": 1.0}], ids=str)
def test_bad_arguments_are_reported_before_looking_for_data(tmp_path, no_debian, kwargs):
    # No data anywhere: a bad argument must not wait for (or hide behind) a missing download.
    with pytest.raises(ValueError, match=f"{next(iter(kwargs))}="):
        get_datasets(root=tmp_path / "nothing-here", **kwargs)


def test_valid_val_size_forms_unchanged(tmp_path, no_debian):
    make_fake_fashion(tmp_path)
    for val_size, n_val in ((0.5, 30), (0.0, 0), (10, 10), (np.int64(20), 20), (0, 0)):
        train, val, _ = get_datasets(root=tmp_path, val_size=val_size)
        assert (len(train), len(val)) == (60 - n_val, n_val)
    train, val, test = get_datasets(root=tmp_path, val_size=10, subset=[20, None, np.int64(5)])
    assert (len(train), len(val), len(test)) == (20, 10, 5)


# ---------------------------------------------------------------------------------------------
# clear errors for bad data files


@pytest.mark.parametrize("bad", [[10], [255, 10]])
def test_fashion_mnist_labels_out_of_range_name_file_and_range(tmp_path, no_debian, bad):
    arrays = make_fake_fashion(tmp_path)
    labels = arrays["train-labels-idx1-ubyte"].copy()
    labels[3 : 3 + len(bad)] = bad
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    with pytest.raises(ValueError) as err:
        get_datasets(root=tmp_path, val_size=10)
    msg = str(err.value)
    assert str(tmp_path / "train-labels-idx1-ubyte.gz") in msg
    assert f"bad values: {', '.join(str(v) for v in sorted(bad))}" in msg
    assert "valid range 0..9" in msg


def test_cifar10_labels_out_of_range(tmp_path):
    import pickle

    from bnnlib.standin import write_cifar10

    folder = write_cifar10(tmp_path, 2, 1)
    with open(folder / "test_batch", "rb") as fh:
        entry = pickle.load(fh, encoding="latin1")
    entry["labels"][4] = -1
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump(entry, fh, protocol=2)
    with pytest.raises(ValueError) as err:
        get_datasets("cifar10", root=tmp_path, val_size=10, download=False)
    msg = str(err.value)
    assert f"CIFAR-10 test set in {tmp_path}" in msg
    assert "bad values: -1" in msg and "valid range 0..9" in msg


def test_partial_fashion_mnist_folder_is_an_error(tmp_path, monkeypatch):
    debian = tmp_path / "debian"
    make_fake_fashion(debian)
    monkeypatch.setattr(fashion_mnist, "DEBIAN_FASHION_MNIST", debian)
    folder = tmp_path / "raw" / "fashion_mnist"
    make_fake_fashion(folder)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError) as err:
        get_datasets(root=tmp_path / "raw", val_size=10, download=False)
    msg = str(err.value)
    assert f"folder {folder} is incomplete" in msg
    assert "found train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, " in msg
    assert "t10k-images-idx3-ubyte.gz but missing t10k-labels-idx1-ubyte" in msg
    # A folder with none of the four files is still skipped (the Debian files are used).
    for path in folder.iterdir():
        path.unlink()
    _, _, test = get_datasets(root=tmp_path / "raw", val_size=10, download=False)
    assert len(test) == 20


def _gz_truncated(raw: bytes) -> bytes:
    return gzip.compress(raw)[:-40]


def _gz_bad_crc(raw: bytes) -> bytes:
    packed = bytearray(gzip.compress(raw))
    packed[-8] ^= 0xFF
    return bytes(packed)


@pytest.mark.parametrize(
    "damage, problem",
    [
        (_gz_truncated, "damaged gzip file (EOFError"),
        (_gz_bad_crc, "damaged gzip file (BadGzipFile"),
        (lambda raw: raw, "damaged gzip file (BadGzipFile: Not a gzipped file"),
        (lambda raw: gzip.compress(raw[:6]), "damaged IDX header: 3 dimensions need 16"),
    ],
    ids=["truncated", "bad-crc", "not-gzip", "bad-header"],
)
def test_damaged_gz_names_file_and_problem(tmp_path, no_debian, damage, problem):
    make_fake_fashion(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(damage(gzip.decompress(path.read_bytes())))
    with pytest.raises(ValueError) as err:
        get_datasets(root=tmp_path, val_size=10)
    assert str(err.value).startswith(f"{path}: ")
    assert problem in str(err.value)
    with pytest.raises(ValueError, match=problem.replace("(", r"\(")):
        read_idx(path)


# ---------------------------------------------------------------------------------------------
# dataset_fingerprint


def test_fingerprint_same_data_same_identity_and_json(tmp_path, no_debian):
    make_fake_fashion(tmp_path)
    first = [data.dataset_fingerprint(ds) for ds in get_datasets(root=tmp_path, val_size=10)]
    second = [data.dataset_fingerprint(ds) for ds in get_datasets(root=tmp_path, val_size=10)]
    assert first == second
    assert json.loads(json.dumps(first)) == first
    train = first[0]
    assert train["type"] == "Subset" and train["length"] == 50 and len(train["indices"]) == 16
    inner = train["dataset"]
    assert inner["type"] == "InMemoryImages" and inner["shape"] == [60, 1, 28, 28]
    assert (inner["augment"], inner["pad"], inner["mean"], inner["std"]) == (
        None,
        2,
        [0.286],
        [0.353],
    )


def test_fingerprint_changes_with_split_subset_augment_and_val_size(tmp_path, no_debian):
    make_fake_fashion(tmp_path)

    def train_fp(**kwargs):
        kwargs = {"root": tmp_path, "val_size": 10, "subset": 20, **kwargs}
        return data.dataset_fingerprint(get_datasets(**kwargs)[0])

    base = train_fp()
    other_seed = train_fp(seed=1)
    assert other_seed["length"] == base["length"] and other_seed != base
    assert train_fp(augment="flip") != base
    assert train_fp(val_size=20) != base
    _, val_a, _ = get_datasets(root=tmp_path, val_size=10)
    _, val_b, _ = get_datasets(root=tmp_path, val_size=0.5)
    assert data.dataset_fingerprint(val_a) != data.dataset_fingerprint(val_b)


def test_fingerprint_changes_with_one_pixel_or_one_label():
    images, targets = make_images()
    base = data.dataset_fingerprint(InMemoryImages(images, targets, (0.5,), (0.25,)))
    pixel = images.clone()
    pixel[5, 0, 3, 4] += 1
    label = targets.clone()
    label[7] = (label[7] + 1) % 10
    changed = [
        InMemoryImages(pixel, targets, (0.5,), (0.25,)),
        InMemoryImages(images, label, (0.5,), (0.25,)),
        InMemoryImages(images, targets, (0.5,), (0.3,)),
        InMemoryImages(images, targets, (0.5,), (0.25,), pad=2),
    ]
    fps = [data.dataset_fingerprint(ds) for ds in changed]
    assert all(fp != base for fp in fps)
    assert fps[0]["images"] != base["images"] and fps[0]["targets"] == base["targets"]
    assert fps[1]["targets"] != base["targets"] and fps[1]["images"] == base["images"]


def test_fingerprint_digest_is_cached_and_shared_by_views(monkeypatch):
    images, targets = make_images()
    ds = InMemoryImages(images, targets, (0.5,), (0.25,))
    view = ds.with_augment("crop_flip")
    assert view._content_cache is ds._content_cache
    calls = []
    real = data._tensor_digest
    monkeypatch.setattr(data, "_tensor_digest", lambda t: calls.append(1) or real(t))
    fp_ds = data.dataset_fingerprint(ds)
    fp_view = data.dataset_fingerprint(view)
    data.dataset_fingerprint(ds)
    assert len(calls) == 2  # images and targets, hashed once for both views
    assert fp_view["images"] == fp_ds["images"] and fp_view["augment"] == "crop_flip"
    assert fp_view != fp_ds
    # An in-place edit through torch is noticed (version counter), not served from the cache.
    ds.images[0, 0, 0, 0] += 1
    assert data.dataset_fingerprint(view)["images"] != fp_ds["images"]


def test_fingerprint_tensor_dataset_and_unknown_dataset():
    x = torch.arange(12, dtype=torch.float32).view(6, 2)
    y = torch.arange(6)
    base = data.dataset_fingerprint(TensorDataset(x, y))
    x2 = x.clone()
    x2[2, 1] = -1
    assert base["type"] == "TensorDataset" and len(base["tensors"]) == 2
    assert data.dataset_fingerprint(TensorDataset(x2, y)) != base
    assert data.dataset_fingerprint(TensorDataset(x, y)) == base

    class Plain(torch.utils.data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return i

    fp = data.dataset_fingerprint(Plain())
    assert fp == {"type": "Plain", "length": 3, "content": None}
    assert json.dumps(fp)


def test_fingerprint_imagefolder(tmp_path):
    from PIL import Image

    for cls in ("n01", "n02"):
        for split in ("train", "val"):
            (tmp_path / split / cls).mkdir(parents=True)
            Image.new("RGB", (12, 12)).save(tmp_path / split / cls / "0.png")
    train, _, test = get_datasets("imagenet", root=tmp_path, val_size=0, image_size=8)
    fp = data.dataset_fingerprint(test)["dataset"]
    assert fp["type"] == "ImageFolder" and fp["root"] == str(tmp_path / "val")
    assert fp["length"] == 2 and "CenterCrop" in fp["transform"]
    assert json.loads(json.dumps(fp)) == fp
    # Another file list or another transform is another identity.
    Image.new("RGB", (12, 12)).save(tmp_path / "val" / "n02" / "1.png")
    _, _, test2 = get_datasets("imagenet", root=tmp_path, val_size=0, image_size=8)
    assert data.dataset_fingerprint(test2)["dataset"]["samples"] != fp["samples"]
    assert data.dataset_fingerprint(train) != data.dataset_fingerprint(
        get_datasets("imagenet", root=tmp_path, val_size=0, image_size=8, augment=False)[0]
    )


def _augmented_images(n=40):
    g = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8, generator=g)
    return data.InMemoryImages(images, torch.arange(n) % 10, [0.5], [0.25], augment="crop_flip",
                               pad=2)


def test_a_placed_copy_gives_the_subsets_batches():
    """InMemoryImages.to(device, indices) yields the batches of the Subset it replaces, the
    random crops and flips included (drawn from the same CPU stream); the original is kept."""
    from torch.utils.data import Subset

    ds = _augmented_images()
    outer = Subset(Subset(ds, list(range(5, 35))), [2, 0, 7, 11, 3, 29])
    base, indices = data.flatten_subsets(outer)
    assert base is ds and indices == [7, 5, 12, 16, 8, 34]
    assert data.flatten_subsets(ds) == (ds, None)
    placed = base.to("cpu", indices)
    torch.manual_seed(0)
    xa, ya = ds[indices]
    torch.manual_seed(0)
    xb, yb = placed[list(range(6))]
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert placed.fingerprint()["images"] != ds.fingerprint()["images"]  # another image set
    assert len(ds) == 40 and len(placed) == 6
    assert data.on_device(outer, "cpu") is outer  # nothing moves on the CPU
    assert not data.on_cuda(outer)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_device_batches_equal_the_cpu_batches():
    from torch.utils.data import Subset

    ds = _augmented_images()
    outer = Subset(Subset(ds, list(range(5, 35))), [2, 0, 7, 11, 3, 29])
    gpu = data.on_device(outer, "cuda")
    assert data.on_cuda(gpu) and len(gpu) == len(outer)
    torch.manual_seed(0)
    xa, ya = ds[[list(range(5, 35))[i] for i in outer.indices]]
    torch.manual_seed(0)
    xb, yb = gpu[list(range(6))]
    assert xb.is_cuda and torch.equal(xa, xb.cpu()) and torch.equal(ya, yb.cpu())


def test_imagenet_square_resize_is_phans(tmp_path):
    """``resize="square"`` scales each image to 256x256 before the 224 crop (Phan et al.), the
    default keeps the aspect ratio (short side 256): different pixels for a non-square image,
    and a different data fingerprint (so no checkpoint of the other mode is resumed)."""
    from bnnlib import standin
    from bnnlib.data import dataset_fingerprint

    standin.write_imagenet(tmp_path / "imagenet", classes=2, train_per_class=2, val_per_class=1)
    sets = {mode: data.get_datasets("imagenet", root=tmp_path / "imagenet", val_size=1,
                                    augment=False, resize=mode) for mode in ("short_side", "square")}
    short, square = sets["short_side"][2], sets["square"][2]
    tf = {m: repr(data.flatten_subsets(sets[m][2])[0].transform) for m in sets}
    assert "size=(256, 256)" in tf["square"] and "size=256," in tf["short_side"]
    assert short[0][0].shape == square[0][0].shape == (3, 224, 224)
    assert any(not torch.equal(short[i][0], square[i][0]) for i in range(len(short)))
    assert dataset_fingerprint(short) != dataset_fingerprint(square)
    with pytest.raises(ValueError, match="unknown resize 'crop'.*short_side, square"):
        data.get_datasets("imagenet", root=tmp_path / "imagenet", val_size=1, resize="crop")
