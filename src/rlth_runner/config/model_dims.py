"""The model's dimensions, checked from the config alone (torch-free): a width,
a depth, a list of channels that makes no network (a layer of zero units) or
one the model cannot build is a one-line ConfigError before torch is imported
and before the run writes anything, instead of an error deep inside torch.

The dimensions are those of the models in models/, named by the `_target_` of
their conf/model/ files; a model file with another `_target_` is checked by
its own constructor. Keys a model file leaves out take the class's defaults,
which are valid.
"""

from __future__ import annotations

from .values import ConfigError, full_key, is_int

# VGG's depths, the keys of models/vgg.py's PLANS (a test checks that they agree).
VGG_DEPTHS = (16, 19)

# `_target_` -> (key, smallest value, what the key counts) for each integer dimension.
COUNTS = {
    "rlth_runner.models.mlp.MLP": (("width", 1, "the units of every hidden layer"),
                                   ("hidden_layers", 0, "width x width layers between input and output")),
    "rlth_runner.models.rlth_resnet.RLTHResNet": (("width", 1, "the channels of the stem and of every block"),
                                                  ("hidden_layers", 0, "BasicBlocks after the stem"),
                                                  ("stem_kernel", 1, "the stem convolution's kernel size")),
    "rlth_runner.models.resnet.CifarResNet": (("width", 1, "the channels of the first stage"),),
    "rlth_runner.models.student.Student": (("width", 1, "the student's neurons"),),
}
# `_target_` -> keys that list the widths of layers: (key, whether the list may be empty, what it lists).
WIDTHS = {
    "rlth_runner.models.conv.ConvNet": (("convs", False, "the channels of each 3x3 convolution, in pairs"),
                                        ("fcs", True, "the units of each fully connected layer before the output")),
}


def check(model_cfg) -> None:
    """ConfigError with one line for a dimension of `model_cfg` that makes no network."""
    target = model_cfg.get("_target_")
    for key, low, meaning in COUNTS.get(target, ()):
        value = model_cfg.get(key)
        if key in model_cfg and not (is_int(value) and value >= low):
            raise ConfigError(f"{full_key(model_cfg, key)}={value!r} must be an integer >= {low}: {meaning}"
                              + (" (a layer of zero units makes no network)" if low == 1 else ""))
    for key, may_be_empty, meaning in WIDTHS.get(target, ()):
        if key in model_cfg:
            _widths(model_cfg, key, may_be_empty, meaning)
    if target == "rlth_runner.models.conv.ConvNet" and "convs" in model_cfg and len(model_cfg.convs) % 2:
        raise ConfigError(f"{full_key(model_cfg, 'convs')}={list(model_cfg.convs)} must list an even number of widths: "
                          "convolutions come in pairs, each pair followed by a 2x2 max pool")
    if target == "rlth_runner.models.resnet.CifarResNet" and "depth" in model_cfg:
        depth = model_cfg.depth
        if not (is_int(depth) and depth >= 8 and (depth - 2) % 6 == 0):
            raise ConfigError(f"{full_key(model_cfg, 'depth')}={depth!r} must be 6n+2 with n >= 1 (20, 32, 44, 56, 110): "
                              "n BasicBlocks in each of the three stages")
    if target == "rlth_runner.models.vgg.VGG" and "depth" in model_cfg and model_cfg.depth not in VGG_DEPTHS:
        raise ConfigError(f"{full_key(model_cfg, 'depth')}={model_cfg.depth!r} is not one of: {', '.join(map(str, VGG_DEPTHS))}")


def _widths(model_cfg, key: str, may_be_empty: bool, meaning: str) -> None:
    value = model_cfg.get(key)
    widths = list(value) if hasattr(value, "__len__") and not isinstance(value, str) else None
    if widths is None or not all(is_int(w) and w >= 1 for w in widths) or (not widths and not may_be_empty):
        shown = widths if widths is not None else value
        raise ConfigError(f"{full_key(model_cfg, key)}={shown!r} must be a {'' if may_be_empty else 'nonempty '}list of integers >= 1: "
                          f"{meaning} (a layer of zero units makes no network)")
