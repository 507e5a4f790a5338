"""Whether this machine can do what `hardware.*` asks, checked before any data
is loaded or any file written (run/prepare.py's preflight calls `check` first).

config/checks.py knows the allowed values without torch; this module imports
torch to ask the machine. `hardware=gpu` on a machine without a usable GPU
stops with one line naming the fix (`hardware=cpu`, or `hardware=auto`: a GPU
when there is one, else the CPU), not with Lightning's error once the data is
on the device.
"""

from __future__ import annotations

import torch

from ..config import ConfigError

FIX = "use hardware=cpu, or hardware=auto to train on a GPU when one is usable and on the CPU otherwise"


def gpu_problem() -> str | None:
    """Why no CUDA (or ROCm) GPU is usable here; None when one is."""
    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None and torch.version.hip is None:
        return f"this torch build ({torch.__version__}) has no CUDA support"
    return "torch finds no GPU: torch.cuda.is_available() is False"


def check(hardware_cfg) -> None:
    """ConfigError naming the key and the fix if this machine lacks the device asked for."""
    accelerator, devices, precision = hardware_cfg.accelerator, hardware_cfg.devices, hardware_cfg.precision
    if accelerator in ("gpu", "cuda"):
        if problem := gpu_problem():
            raise ConfigError(f"hardware.accelerator={accelerator}: no GPU is usable on this machine ({problem}); {FIX}")
        count = torch.cuda.device_count()
        if isinstance(devices, int) and devices > count:
            raise ConfigError(f"hardware.devices={devices}: this machine has {count} usable GPU{'s' if count != 1 else ''}; "
                              f"use hardware.devices={count} or less")
        if str(precision).startswith("bf16") and not torch.cuda.is_bf16_supported():
            raise ConfigError(f"hardware.precision={precision}: {torch.cuda.get_device_name()} has no bfloat16 support; "
                              f"use hardware=gpu (32-bit) or hardware.precision=16-mixed")
    elif accelerator == "auto" and devices > 1 and torch.cuda.is_available() and devices > (count := torch.cuda.device_count()):
        raise ConfigError(f"hardware.devices={devices}: hardware.accelerator=auto trains on the GPUs when there are any, and this machine "
                          f"has {count}; use hardware.devices={count} or less, or hardware.accelerator=cpu for {devices} CPU processes")
    elif accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"hardware.accelerator=mps: Apple's MPS is not usable on this machine; {FIX}")
