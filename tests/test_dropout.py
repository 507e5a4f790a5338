"""`model.dropout`: off (0) it is exactly the old network; on, it drops units
in training mode only, and every evaluation runs in eval mode."""

from __future__ import annotations

import pytest
import torch

from rlth_runner.analysis import measures
from rlth_runner.config import ConfigError
from rlth_runner.config.checks import validate
from rlth_runner.data import TensorBatches
from rlth_runner.models.conv import ConvNet
from rlth_runner.models.lenet import LeNet5, LeNet300100
from rlth_runner.models.mlp import MLP

IMAGE = (1, 16, 16)
BUILDERS = {
    "mlp": lambda **kw: MLP(IMAGE, 10, width=16, hidden_layers=2, **kw),
    "lenet_300_100": lambda **kw: LeNet300100(IMAGE, 10, **kw),
    "lenet5": lambda **kw: LeNet5(IMAGE, 10, **kw),
    "conv": lambda **kw: ConvNet(IMAGE, 10, convs=(4, 4), fcs=(16, 16), **kw),
}


def built(name, seed=0, **kw):
    torch.manual_seed(seed)
    return BUILDERS[name](**kw)


@pytest.mark.parametrize("name", BUILDERS)
def test_dropout_off_is_the_old_network(name):
    old, off = built(name), built(name, dropout=0.0)
    assert old.state_dict().keys() == off.state_dict().keys()
    assert [n for n, _ in old.named_modules()] == [n for n, _ in off.named_modules()]
    assert all(torch.equal(a, b) for a, b in zip(old.state_dict().values(), off.state_dict().values()))
    x = torch.randn(4, *IMAGE)
    assert torch.equal(old(x), off(x))


@pytest.mark.parametrize("name", BUILDERS)
def test_dropout_acts_in_training_mode_only(name):
    net = built(name, dropout=0.5)
    assert net.state_dict().keys() == built(name).state_dict().keys(), "no new parameter or buffer"
    x = torch.randn(8, *IMAGE)
    torch.manual_seed(1)
    first = net(x)
    torch.manual_seed(2)
    assert not torch.equal(first, net(x)), "train mode: different units dropped"
    net.eval()
    assert torch.equal(net(x), net(x))
    assert torch.equal(net(x), built(name)(x)), "eval mode: the network without dropout"


def test_evaluation_runs_in_eval_mode():
    net = built("mlp", dropout=0.9)
    x, y = torch.randn(64, *IMAGE), torch.randint(0, 10, (64,))
    loader = TensorBatches(x, y, 16)
    torch.manual_seed(1)
    first = measures.untrained_accuracy(net, loader)
    torch.manual_seed(2)
    assert measures.untrained_accuracy(net, loader) == first
    assert net.training, "left in the mode it had"


def test_dropout_must_be_a_probability(make_cfg):
    validate(make_cfg("model.dropout=0.3"))
    with pytest.raises(ConfigError, match=r"^model.dropout=1\.0 must be"):
        validate(make_cfg("model.dropout=1.0"))
