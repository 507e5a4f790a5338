"""Inside a fit: masks hold through Adam steps; the loader is a seeded permutation."""

import pytorch_lightning as pl
import torch

from rlth_runner.data import TensorBatches
from rlth_runner.lottery.pruning import masks
from rlth_runner.lottery.pruning.magnitude import prune_layerwise
from rlth_runner.models.mlp import MLP
from rlth_runner.training.callbacks import EnforceMasks
from rlth_runner.training.tasks import Classifier


def pruned_net():
    torch.manual_seed(0)
    net = MLP(input_shape=(1, 8, 8), num_classes=10, width=32, hidden_layers=1)
    masks.attach(net, ["Linear"])
    prune_layerwise(net, {n: 0.3 for n in masks.masked_layers(net)})
    return net


def fit(net, callbacks, steps=20):
    torch.manual_seed(1)
    x, y = torch.randn(256, 1, 8, 8), torch.randint(0, 10, (256,))
    trainer = pl.Trainer(max_steps=steps, callbacks=callbacks, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    trainer.fit(Classifier(net, "adam", lr=1e-2), TensorBatches(x, y, 32, shuffle=True))
    assert trainer.global_step == steps


def test_pruned_weights_stay_exactly_zero_through_adam():
    net = pruned_net()
    before = {n: m.weight.detach().clone() for n, m in masks.masked_layers(net).items()}
    fit(net, [EnforceMasks()])
    for name, layer in masks.masked_layers(net).items():
        pruned = layer.weight_mask == 0
        assert pruned.any()
        assert torch.count_nonzero(layer.weight[pruned]) == 0
        assert not torch.equal(layer.weight[~pruned], before[name][~pruned]), "surviving weights should train"


def test_without_enforcement_adam_revives_pruned_weights():
    # The control that shows the test above can fail.
    net = pruned_net()
    fit(net, [])
    revived = sum(int(torch.count_nonzero(m.weight[m.weight_mask == 0])) for m in masks.masked_layers(net).values())
    assert revived > 0


def test_batches_are_a_seeded_permutation_per_epoch():
    x = torch.arange(10).float().view(10, 1)
    loader = TensorBatches(x, torch.arange(10), batch_size=3, shuffle=True, seed=7)
    assert len(loader) == 4
    epoch0 = torch.cat([b[1] for b in loader])
    assert sorted(epoch0.tolist()) == list(range(10))
    assert torch.equal(epoch0, torch.cat([b[1] for b in loader])), "same epoch, same order"
    loader.sampler.set_epoch(1)
    epoch1 = torch.cat([b[1] for b in loader])
    assert not torch.equal(epoch0, epoch1)
    for bx, by in loader:
        assert torch.equal(bx.view(-1).long(), by), "inputs and targets stay paired"


def test_adam_steps_in_a_fit_do_not_load_nvml(monkeypatch, tmp_path):
    """Importing Lightning sets PYTORCH_NVML_BASED_CUDA_CHECK=1, which makes every Adam step load NVML
    (trainer.keep_cuda_checks_cheap); a Trainer built by rlth-runner trains without that cost."""
    import os

    from rlth_runner.storage.layout import LoggerLocation
    from rlth_runner.training.spec import TrainerSettings
    from rlth_runner.training.trainer import build_trainer

    monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "1")  # as lightning_fabric leaves it
    settings = TrainerSettings("cpu", 1, "auto", "32-true", False, 1, 10, 0, "Round 0/0")
    build_trainer(settings, LoggerLocation(str(tmp_path), "", "r"), (1, 3))
    assert "PYTORCH_NVML_BASED_CUDA_CHECK" not in os.environ
    loads = []
    monkeypatch.setattr(torch.cuda, "_raw_device_count_nvml", lambda: loads.append(1) or -1)
    net = pruned_net()
    opt = torch.optim.Adam(net.parameters())
    net(torch.randn(4, 1, 8, 8)).sum().backward()
    opt.step()
    assert loads == []
    monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "1")  # the control: with the variable, a step loads it
    opt.step()
    assert loads
