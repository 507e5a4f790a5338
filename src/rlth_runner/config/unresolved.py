"""One line for an OmegaConf error met while checking a config, most often an
interpolation that does not resolve (`key=${nowhere}`): the key, its value
as written, and OmegaConf's reason."""

from __future__ import annotations

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException


def omegaconf_line(cfg, err: OmegaConfBaseException) -> str:
    """One line for an OmegaConf error: the key and its value as written, and OmegaConf's reason."""
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    key = getattr(err, "full_key", None) or _failing_key(cfg, reason)
    if not key:
        return reason
    raw = OmegaConf.to_container(cfg, resolve=False)
    for part in key.split("."):
        raw = raw.get(part) if isinstance(raw, dict) else None
    return f"{key}={raw}: {reason}" if raw is not None else f"{key}: {reason}"


def _failing_key(cfg, reason: str, prefix: str = "") -> str | None:
    """The first key whose value fails to resolve with `reason` (`DictConfig.get` does not say which)."""
    for key in cfg.keys() if hasattr(cfg, "keys") else ():
        try:
            value = cfg[key]
        except OmegaConfBaseException as err:
            if str(err).strip().startswith(reason):
                return f"{prefix}{key}"
            continue
        if hasattr(value, "keys") and (found := _failing_key(value, reason, f"{prefix}{key}.")):
            return found
    return None
