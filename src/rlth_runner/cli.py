"""`rlth-run`: the Hydra entry point.

Kept thin and free of torch imports: the config is composed and checked
before the (slow) import of torch and Lightning, so `--help` and config
errors answer at once.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from .config import ConfigError, validate


# An absolute path works both from a source checkout (conf/ is linked into the
# package) and from an installed wheel, which carries conf/ as package data.
CONFIG_DIR = str(Path(__file__).resolve().parent / "conf")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> float | None:
    try:
        validate(cfg)
    except ConfigError as err:
        print(f"rlth-run: error: {err}", file=sys.stderr)
        sys.exit(2)

    from .runner import RunError, run

    try:
        return run(cfg)["objective"]
    except ConfigError as err:  # found once the data and model exist, still before training
        print(f"rlth-run: error: {err}", file=sys.stderr)
        sys.exit(2)
    except RunError as err:
        print(f"rlth-run: error: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
