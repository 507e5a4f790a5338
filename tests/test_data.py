"""Dataset loaders on small files in the true on-disk formats, downloads made impossible."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from filelock import FileLock, Timeout

from rlth_runner.config import ConfigError, validate
from rlth_runner.data import DataError, TensorBatches
from rlth_runner.data import cifar10, mnist, teacher
from rlth_runner.data.augment import crop_flip
from rlth_runner.data.idx import read_idx
from rlth_runner.run.runner import RunError, run

from conftest import rlth_run

UNREACHABLE = "http://127.0.0.1:9/"  # the discard port: refused at once, nothing is fetched


# ---- writers of the real formats (also used by test_models.py and test_configs.py) ----

def write_idx(path: Path, array: np.ndarray) -> None:
    """idx: 0, 0, type 0x08 (uint8), ndim, big-endian uint32 dims, then the bytes."""
    payload = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with (gzip.open if path.suffix == ".gz" else open)(path, "wb") as f:
        f.write(payload)


def fake_mnist(n_train: int = 40, n_test: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def write_mnist(directory: Path, arrays: dict, gz: bool = False) -> None:
    for name, array in arrays.items():
        write_idx(directory / (name + (".gz" if gz else "")), array)


def write_cifar10(root: Path, per_batch: int = 8, n_test: int = 12, seed: int = 0):
    """CIFAR-10's python version: pickled dicts, `data` as N x 3072 uint8 rows (R, G, B planes)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name, n in [*((f"data_batch_{i}", per_batch) for i in range(1, 6)), ("test_batch", n_test)]:
        batch = {"batch_label": name, "labels": rng.integers(0, 10, n).tolist(),
                 "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "filenames": [f"{name}_{i}.png" for i in range(n)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        batches[name] = batch
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
            "num_cases_per_batch": per_batch, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return batches


# Keys that size a dataset, set small wherever a dataset has them, so that every dataset loads in milliseconds.
SMALL_SIZES = {"val_size": 4, "test_size": 8, "N": 16, "d": 12, "r": 3}


def small_overrides(dataset_cfg) -> list[str]:
    """Overrides that make a dataset test-sized and read the files of `write_small_files` under paths.data_dir."""
    overrides = [f"dataset.{key}={value}" for key, value in SMALL_SIZES.items() if key in dataset_cfg]
    if "augment" in dataset_cfg:
        overrides.append("dataset.augment=true")  # the augmentation path too
    if "system_dir" in dataset_cfg:
        overrides.append("dataset.system_dir=null")  # the files under paths.data_dir, not a copy the machine may have
    return overrides


def write_small_files(root: Path) -> None:
    """Small MNIST, Fashion-MNIST and CIFAR-10 files, in their real formats, where the loaders look under paths.data_dir."""
    write_mnist(root / "MNIST" / "raw", fake_mnist(n_train=12, n_test=4, seed=0))
    write_mnist(root / "FashionMNIST" / "raw", fake_mnist(n_train=12, n_test=4, seed=1))
    write_cifar10(root, per_batch=3, n_test=4)


@pytest.fixture
def offline(monkeypatch):
    """Every torchvision download goes nowhere; CIFAR-10's md5 check, which a fixture cannot pass, checks presence."""
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [UNREACHABLE])
    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "mirrors", [UNREACHABLE])
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "url", UNREACHABLE + "cifar-10-python.tar.gz")
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda fpath, md5=None: Path(fpath).is_file())


def undo_normalisation(x: torch.Tensor, raw: torch.Tensor):
    """Fit raw = a * x + b per channel; returns (a, b, worst residual)."""
    a, b, worst = [], [], 0.0
    for c in range(x.shape[1]):
        xs, rs = x[:, c].flatten().double(), raw[:, c].flatten().double()
        design = torch.stack([xs, torch.ones_like(xs)], 1)
        sol = torch.linalg.lstsq(design, rs.unsqueeze(1)).solution.squeeze(1)
        a.append(float(sol[0])), b.append(float(sol[1]))
        worst = max(worst, float((design @ sol - rs).abs().max()))
    return torch.tensor(a).view(1, -1, 1, 1), torch.tensor(b).view(1, -1, 1, 1), worst


def check_image_bundle(bundle, train_x, train_y, test_x, test_y, val_size):
    """Test split: the written images, in order; train + val: the written training set, split disjointly."""
    n = len(train_x)
    assert [len(bundle.train[0]), len(bundle.val[0]), len(bundle.test[0])] == [n - val_size, val_size, len(test_x)]
    assert bundle.train[0].dtype == torch.float32 and bundle.train[1].dtype == torch.long
    assert bundle.input_shape == tuple(train_x.shape[1:]) and bundle.num_classes == 10
    # standardised on the training split
    assert bundle.train[0].mean(dim=(0, 2, 3)).abs().max() < 1e-4
    assert (bundle.train[0].std(dim=(0, 2, 3)) - 1).abs().max() < 1e-3
    a, b, worst = undo_normalisation(bundle.test[0], test_x)
    assert worst < 1e-2 and (a > 0).all(), "the test images, in file order, up to one affine map per channel"
    assert torch.equal(bundle.test[1], test_y)
    key = lambda img: hashlib.sha1(img.numpy().astype(np.uint8).tobytes()).hexdigest()[:12]  # noqa: E731
    written = {key(img): int(label) for img, label in zip(train_x, train_y)}
    seen = {}
    for split in (bundle.train, bundle.val):
        raw = (split[0].double() * a + b).round().clamp(0, 255)
        for img, label in zip(raw, split[1]):
            assert key(img) not in seen, "an example in both train and val"
            seen[key(img)] = int(label)
    assert seen == written, "train + val must be the training files, each image with its own label"


# ---- idx ----

def test_idx_reader_agrees_with_torchvision(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "x", images)
    write_idx(tmp_path / "x.gz", images)
    from torchvision.datasets.mnist import read_image_file

    assert torch.equal(read_image_file(str(tmp_path / "x")), torch.from_numpy(images))
    assert torch.equal(read_idx(tmp_path / "x"), torch.from_numpy(images))
    assert torch.equal(read_idx(tmp_path / "x.gz"), torch.from_numpy(images))
    (tmp_path / "bad").write_bytes(b"\x00\x00\x08\x03" + struct.pack(">3I", 5, 28, 28) + b"\x00" * 10)
    with pytest.raises(ValueError, match="header says"):
        read_idx(tmp_path / "bad")


# ---- MNIST, Fashion-MNIST ----

def test_mnist_loader_reads_the_raw_idx_layout(tmp_path, offline):
    arrays = fake_mnist()
    write_mnist(tmp_path / "MNIST" / "raw", arrays)
    (tx, ty), (sx, sy) = mnist.read_raw("mnist", tmp_path)
    assert torch.equal(tx, torch.from_numpy(arrays["train-images-idx3-ubyte"]).unsqueeze(1))
    assert torch.equal(sy, torch.from_numpy(arrays["t10k-labels-idx1-ubyte"]).long())
    bundle = mnist.load_mnist(str(tmp_path), val_size=8)
    check_image_bundle(bundle, tx, ty, sx, sy, val_size=8)
    assert bundle.name == "mnist" and bundle.task == "classification" and bundle.augment is None


def test_split_depends_only_on_split_seed(tmp_path, offline):
    write_mnist(tmp_path / "MNIST" / "raw", fake_mnist())
    a, b = mnist.load_mnist(str(tmp_path), val_size=8), mnist.load_mnist(str(tmp_path), val_size=8)
    c = mnist.load_mnist(str(tmp_path), val_size=8, split_seed=1)
    assert torch.equal(a.val[0], b.val[0]) and not torch.equal(a.val[0], c.val[0])
    with pytest.raises(DataError, match="dataset.val_size=40 must be less than the 40 training examples of mnist"):
        mnist.load_mnist(str(tmp_path), val_size=40)


def test_fashion_mnist_prefers_the_debian_files(tmp_path, offline):
    system = tmp_path / "debian"
    debian, other = fake_mnist(seed=1), fake_mnist(seed=2)
    write_mnist(system, debian, gz=True)
    write_mnist(tmp_path / "data" / "FashionMNIST" / "raw", other)
    as_tensors = lambda arrays, k: torch.from_numpy(arrays[k]).long()  # noqa: E731
    bundle = mnist.load_fashion_mnist(str(tmp_path / "data"), val_size=8, system_dir=str(system))
    assert torch.equal(bundle.test[1], as_tensors(debian, "t10k-labels-idx1-ubyte"))
    check_image_bundle(bundle, torch.from_numpy(debian["train-images-idx3-ubyte"]).unsqueeze(1), as_tensors(debian, "train-labels-idx1-ubyte"),
                       torch.from_numpy(debian["t10k-images-idx3-ubyte"]).unsqueeze(1), as_tensors(debian, "t10k-labels-idx1-ubyte"), 8)
    # without the system copy, torchvision's layout under data_dir
    bundle = mnist.load_fashion_mnist(str(tmp_path / "data"), val_size=8, system_dir=str(tmp_path / "nowhere"))
    assert torch.equal(bundle.test[1], as_tensors(other, "t10k-labels-idx1-ubyte"))


# ---- CIFAR-10 ----

def test_cifar10_loader_reads_the_pickled_batches(tmp_path, offline):
    batches = write_cifar10(tmp_path)
    train = [batches[f"data_batch_{i}"] for i in range(1, 6)]
    as_images = lambda rows: torch.from_numpy(rows).view(-1, 3, 32, 32)  # noqa: E731
    train_x = torch.cat([as_images(b["data"]) for b in train])
    train_y = torch.tensor([label for b in train for label in b["labels"]])
    test_x, test_y = as_images(batches["test_batch"]["data"]), torch.tensor(batches["test_batch"]["labels"])
    (tx, ty), (sx, sy) = cifar10.read_raw(tmp_path)
    assert torch.equal(tx, train_x) and torch.equal(ty, train_y) and torch.equal(sx, test_x)
    bundle = cifar10.load_cifar10(str(tmp_path), val_size=10)
    check_image_bundle(bundle, train_x, train_y, test_x, test_y, val_size=10)
    assert bundle.augment is None and cifar10.load_cifar10(str(tmp_path), val_size=10, augment=True).augment is crop_flip


# ---- missing data ----

@pytest.mark.parametrize("download", [True, False])
@pytest.mark.parametrize(
    "load, where, files",
    [
        (lambda d, dl: mnist.load_mnist(d, download=dl), "MNIST/raw/", mnist.FILES),
        (lambda d, dl: mnist.load_fashion_mnist(d, download=dl, system_dir=d + "/debian"), "FashionMNIST/raw/", mnist.FILES),
        (lambda d, dl: cifar10.load_cifar10(d, download=dl), "cifar-10-batches-py/", ["data_batch_1", "data_batch_5", "test_batch", "batches.meta"]),
    ],
    ids=["mnist", "fashion_mnist", "cifar10"],
)
def test_missing_data_names_the_files_and_the_directory(tmp_path, offline, load, where, files, download):
    with pytest.raises(DataError) as err:
        load(str(tmp_path), download)
    message = str(err.value)
    assert "\n" not in message
    assert f"{tmp_path}/{where}" in message and "RLTH_DATA_DIR" in message
    assert all(f in message for f in files)
    assert ("download failed" if download else "dataset.download=false") in message


def test_missing_data_is_one_line_before_training(make_cfg, tmp_path, offline):
    # What the CLI prints after "rlth-run: error: ", exiting 2 (the slow test below runs the CLI).
    cfg = make_cfg("dataset=mnist", "dataset.download=false", f"paths.data_dir={tmp_path / 'data'}")
    validate(cfg)
    with pytest.raises(RunError) as err:
        run(cfg)
    message = str(err.value)
    assert "\n" not in message and message.startswith("dataset mnist is not in"), message
    assert "train-images-idx3-ubyte" in message and f"{tmp_path / 'data' / 'MNIST' / 'raw'}" in message
    assert isinstance(err.value.__cause__, DataError)
    assert not (tmp_path / "run" / "rounds").exists() and not (tmp_path / "run" / "summary.json").exists()


@pytest.mark.slow
def test_cli_reports_missing_data_in_one_line_before_training(tmp_path):
    proc = rlth_run("dataset=mnist", "dataset.download=false", f"paths.data_dir={tmp_path / 'data'}",
                    f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path, check=False)
    assert proc.returncode == 2  # a bad input, like a bad value
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlth-run: error: dataset mnist is not in"), proc.stderr
    assert "train-images-idx3-ubyte" in lines[0] and f"{tmp_path / 'data' / 'MNIST' / 'raw'}" in lines[0]
    assert not (tmp_path / "run" / "rounds").exists()


def test_concurrent_jobs_download_once_under_the_lock(tmp_path, monkeypatch):
    arrays, calls = fake_mnist(), []

    def fake_download(self):  # stands in for torchvision's download, which writes the raw files
        try:
            FileLock(str(tmp_path / ".mnist.lock"), timeout=0).acquire()
            calls.append("unlocked")
        except Timeout:
            calls.append("locked")
        time.sleep(0.3)
        write_mnist(Path(self.raw_folder), arrays)

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", fake_download)
    results = [None, None]

    def job(i):
        results[i] = mnist.read_raw("mnist", tmp_path)

    threads = [threading.Thread(target=job, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["locked"], "exactly one download, and it ran holding the lock"
    assert torch.equal(results[0][0][0], results[1][0][0])


# ---- teacher ----

def test_teacher_is_reproducible_from_its_seed():
    w1, s1 = teacher.make_teacher(d=30, K=4, r=6, N=50, val_size=10, test_size=20, data_seed=3)
    w2, s2 = teacher.make_teacher(d=30, K=4, r=6, N=50, val_size=10, test_size=20, data_seed=3)
    w3, s3 = teacher.make_teacher(d=30, K=4, r=6, N=50, val_size=10, test_size=20, data_seed=4)
    assert torch.equal(w1, w2) and not torch.equal(w1, w3)
    for split in ("train", "val", "test"):
        assert torch.equal(s1[split][0], s2[split][0]) and torch.equal(s1[split][1], s2[split][1])
        assert not torch.equal(s1[split][0], s3[split][0])
    bundle = teacher.load_teacher(d=30, K=4, r=6, N=50, val_size=10, test_size=20, data_seed=3)
    assert torch.equal(bundle.train[1], s1["train"][1])
    assert (bundle.input_shape, bundle.num_classes, bundle.task) == ((30,), 1, "regression")
    assert [len(bundle.train[0]), len(bundle.val[0]), len(bundle.test[0])] == [50, 10, 20]


@pytest.mark.parametrize("d, K, r", [(100, 5, 20), (10, 3, 10), (50, 8, 1)])
def test_teacher_neurons_have_exactly_r_nonzero_weights(d, K, r):
    w = teacher.teacher_weights(d, K, r, torch.Generator().manual_seed(0))
    assert w.shape == (K, d)
    assert (w != 0).sum(dim=1).tolist() == [r] * K
    assert w.abs().max() <= 0.5


def test_teacher_noise_level_and_noiseless_test_targets():
    w, s = teacher.make_teacher(d=20, K=5, r=4, N=20000, noise=0.1, val_size=10, test_size=100, data_seed=0)
    clean = teacher.teacher_outputs(w, s["train"][0])
    ratio = float((s["train"][1] - clean).std() / clean.pow(2).mean().sqrt())
    assert 0.09 < ratio < 0.11
    assert torch.equal(s["test"][1], teacher.teacher_outputs(w, s["test"][0]))
    _, quiet = teacher.make_teacher(d=20, K=5, r=4, N=100, noise=0.0, data_seed=0)
    assert torch.equal(quiet["train"][1], teacher.teacher_outputs(w, quiet["train"][0]))


# ---- augmentation and the in-memory batches ----

def test_crop_flip_gives_shifted_and_mirrored_crops():
    x = torch.randn(6, 3, 8, 8)
    out = crop_flip(x, torch.Generator().manual_seed(0), padding=2)
    assert out.shape == x.shape
    assert torch.equal(out, crop_flip(x, torch.Generator().manual_seed(0), padding=2))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    flips = 0
    for i in range(len(x)):
        matches = [(dy, dx, f) for dy in range(5) for dx in range(5) for f in (False, True)
                   if torch.equal(out[i], (lambda c: c.flip(-1) if f else c)(padded[i, :, dy:dy + 8, dx:dx + 8]))]
        assert matches, f"example {i} is not a padded crop of its input"
        flips += all(f for _, _, f in matches)
    assert 0 < flips < len(x) or len(x) < 4


def test_augmented_batches_are_reproducible_per_epoch():
    x, y = torch.randn(20, 3, 8, 8), torch.arange(20)
    loader = TensorBatches(x, y, 5, shuffle=True, seed=1, augment=crop_flip)
    first = [bx.clone() for bx, _ in loader]
    assert all(torch.equal(a, b) for a, b in zip(first, (bx for bx, _ in loader)))
    assert not all(torch.equal(a, b) for a, b in zip(first, (x.index_select(0, by) for _, by in loader)))
    loader.sampler.set_epoch(1)
    assert not all(torch.equal(a, b) for a, b in zip(first, (bx for bx, _ in loader)))


def test_a_pass_restored_from_its_state_draws_the_batches_the_interrupted_one_had_left():
    x, y = torch.randn(23, 3, 8, 8), torch.arange(23)
    whole = TensorBatches(x, y, 5, shuffle=True, seed=1, augment=crop_flip)
    whole.sampler.set_epoch(2)
    expected = [(bx.clone(), by.clone()) for bx, by in whole]
    first = TensorBatches(x, y, 5, shuffle=True, seed=1, augment=crop_flip)
    first.sampler.set_epoch(2)
    drawn = iter(first)
    head = [next(drawn) for _ in range(2)]
    state = first.state_dict()
    assert state["epoch"] == 2 and state["position"] == 2 and "generator" in state

    resumed = TensorBatches(x, y, 5, shuffle=True, seed=1, augment=crop_flip)
    resumed.load_state_dict(state)
    assert resumed.start == resumed.position == 2  # what the module tells Lightning's fetcher
    tail = list(resumed)
    assert resumed.start == 0 and resumed.position == len(resumed) == 5
    got = head + tail
    assert len(got) == len(expected) and all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(got, expected))
    assert resumed.state_dict() == {"epoch": 2, "position": 0}  # a finished pass resumes at the next epoch's start
    assert [len(by) for _, by in resumed] == [5, 5, 5, 5, 3]  # and the next pass is whole


# ---- config ----

def test_dataset_defaults_and_value_checks(make_cfg):
    assert make_cfg("dataset=mnist").dataset.val_size == 5000
    assert make_cfg("dataset=fashion_mnist").dataset.val_size == 5000
    assert make_cfg().dataset.name == "digits"
    with pytest.raises(ConfigError, match=r"dataset.r=200 must be <= dataset.d=100"):
        validate(make_cfg("dataset=teacher", "dataset.r=200"))
    with pytest.raises(ConfigError, match=r"dataset.val_size=-1 must be an integer >= 0"):
        validate(make_cfg("dataset=mnist", "dataset.val_size=-1"))
    with pytest.raises(ConfigError, match=r"dataset.augment='yes' must be true or false"):
        validate(make_cfg("dataset=cifar10", "dataset.augment=yes"))
