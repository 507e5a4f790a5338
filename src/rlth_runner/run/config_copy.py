"""Hydra's copy of the config a run was made with (`.hydra/config.yaml`) is an
artifact like the others: what branches and rlth-report read the run's settings
from. Its checksum goes into the ledger the first time a run sees it whole, and
every later invocation checks it. A damaged copy (truncated, edited, deleted
while the ledger names it) is named in one warning, moved to damaged/, and
written again from the run's own saved command (`.hydra/overrides.yaml`,
composed again by the entry point), byte for byte as recorded. A copy that
cannot be made so is left as it is (a branch still refuses it), and the
warning says why."""

from __future__ import annotations

import hashlib
import logging
from typing import Callable

from ..storage.files import write_bytes
from ..storage.rundir import RunDir

log = logging.getLogger("rlth_runner")


def check(run_dir: RunDir, recompose: Callable[[], str | None] | None) -> None:
    """Check (and record, or restore) the run's copy of its config; `recompose`: the copy's text from the run's saved command."""
    if not run_dir.writer:
        return
    path, ledger = run_dir.config_path, run_dir.ledger
    entries = ledger.entries()
    entry = entries.get(run_dir.relative(path))
    if entry is None and not path.exists():
        return  # a run made without Hydra (in process), or before its copy was recorded: nothing to go by
    problem = ledger.damage(path, entries)
    if problem is None:
        if entry is None:
            ledger.record(path)
        return
    try:
        text = recompose() if recompose is not None else None
    except Exception as err:  # noqa: BLE001 - any reason the command cannot be composed again means the same: no restore
        text, why = None, f"the saved command does not compose ({type(err).__name__}: {err})"
    else:
        why = "the run saved no command (.hydra/overrides.yaml)" if text is None else None
    if text is not None and entry is not None and hashlib.sha256(text.encode()).hexdigest() != entry["sha256"]:
        text, why = None, "the saved command now composes another config (conf/ changed since the run was made)"
    if text is None:
        log.warning("%s; it cannot be restored (%s), so it stays as it is", problem, why)
        return
    where = f"moved it to {run_dir.move_aside(path)}" if path.exists() else "it is gone"
    write_bytes(path, text.encode())
    ledger.record(path)
    log.warning("%s; %s and restored it from the run's saved command", problem, where)
