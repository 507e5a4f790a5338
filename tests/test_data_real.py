"""Real data: LeNet-300-100 on Debian's Fashion-MNIST (dataset-fashion-mnist), one epoch."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from rlth_runner.data.mnist import DEBIAN_FASHION_MNIST, FILES
from rlth_runner.entry.conf import CONFIG_DIR
from rlth_runner.run.runner import run

HAVE_DEBIAN_FILES = all((Path(DEBIAN_FASHION_MNIST) / f"{f}.gz").is_file() for f in FILES)


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_DEBIAN_FILES, reason="needs `apt-get install dataset-fashion-mnist` (.ci/run installs it)")
def test_lenet_300_100_learns_fashion_mnist_in_one_epoch(tmp_path):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "dataset=fashion_mnist", "model=lenet_300_100", "rounds=1", "train.epochs=1", "train.batch_size=60",
            "train.lr=1.2e-3", "train.log_every_n_steps=50", f"paths.data_dir={tmp_path / 'empty'}", f"paths.output_dir={tmp_path / 'run'}",
        ])
    summary = run(cfg)["summary"]
    (r,) = summary["rounds"]
    assert r["train_steps"] == 55_000 // 60 + 1, "one epoch over the 55,000 images left after the 5,000 held out"
    assert r["test_acc"] > 0.80, r
    assert r["val_acc"] > 0.80, r
