"""experiment=frankle_lenet300 without the mnist/lenet_300_100 configs (issue 3):
its keys exist in the config schema and pass validation."""

from pathlib import Path

from omegaconf import OmegaConf

from rlth_runner.cli import CONFIG_DIR
from rlth_runner.config import validate


def test_frankle_lenet300_sets_the_papers_values(make_cfg):
    preset = OmegaConf.load(Path(CONFIG_DIR) / "experiment" / "frankle_lenet300.yaml")
    assert {"override /dataset": "mnist"} in preset.defaults and {"override /model": "lenet_300_100"} in preset.defaults
    body = OmegaConf.masked_copy(preset, [k for k in preset if k != "defaults"])
    merged = OmegaConf.merge(make_cfg(), body)  # struct mode: a misspelt key fails here
    validate(merged)
    assert merged.train.batch_size == 60 and merged.train.lr == 1.2e-3 and merged.train.optimizer == "adam"
    assert merged.dataset.val_size == 5000 and merged.train.eval_every_n_steps == 100
    assert merged.pruner.sparsity == 0.2 and dict(merged.pruner.layer_rates) == {"output": 0.1}
    assert merged.pruner.schedule == "imp" and merged.train.max_steps == 50000
