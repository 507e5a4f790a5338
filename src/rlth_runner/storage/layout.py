"""Every path of a run directory, and nothing else joins a path inside one
(tests/test_architecture.py checks). A round counts as done once its
metrics.json exists; it is written last, so a run killed mid-round redoes
only that round.

    <run>/init.pt                          weights at step 0 (what `reset` rewinds to)
    <run>/rewind.pt                        policy=rewind: {"step", "state"} captured in round 0
    <run>/rounds/round_<k>/start.pt        verify.enabled: the weights round k started from
    <run>/rounds/round_<k>/checkpoint.ckpt while round k trains: its last checkpoint (Lightning's format)
    <run>/rounds/round_<k>/mask.pt         boolean masks by layer
    <run>/rounds/round_<k>/weights.pt      final weights, masks included as buffers
    <run>/rounds/round_<k>/arch.json       model config, data shape, hidden layers in order
    <run>/rounds/round_<k>/metrics.json    the round's record (record.py)
    <run>/rounds/round_<k>/instability.json analysis.instability: the error path between two copies, its barrier
    <run>/tensorboard/round_<k>/           one TensorBoard run per round
    <run>/tensorboard/summary/             per-round scalars against the round index
    <run>/tensorboard/hparams/             the HPARAMS tab's row: settings and the last round's results
    <run>/verification/metrics.json        verify.enabled: the retraining's record
    <run>/verification/tensorboard/round_<k>/
    <run>/instability/tensorboard/round_<k>/   analysis.instability: the second copy's curves
    <run>/branches/<kind>/                 a control trained off this run's rounds (lottery/branches/): a run directory
    <run>/.hydra/config.yaml               the composed config (Hydra's copy; a branch's: the settled one)
    <run>/.hydra/invocations/<time>[_n]/   a later invocation's copy, so the run's own is never overwritten
    <run>/summary.json
    <run>/fingerprint.json                 the settings that decide the results (config/fingerprint.py)
    <run>/checksums.json                   sha256 and size of every artifact above, as written (ledger.py)
    <run>/.lock                            held (flock) by the process running in the directory (lock.py)
    <run>/damaged/                         artifacts found damaged on resume, moved aside, never deleted
    <run>/export/round_<k>/                rlth-export's default output for round k (TicketFiles)

A job of several seeds (`replicas=K`, ReplicasLayout) holds one run directory per seed and:

    <job>/seed_<s>/                        seed s's run directory, exactly as a single run of seed s
    <job>/summary.json                     the seeds, their directories and statuses, the job's status

A sweep directory (SweepLayout) holds one run directory per job and:

    <sweep>/multirun.yaml                  Hydra's record of the sweep command (the latest one)
    <sweep>/multirun.<time>.yaml           an earlier sweep's record that differs, kept by the next sweep
    <sweep>/.rlth/sweeps/<id>/<job>.json   while sweep <id> runs: each job it started, and whether the
                                           job was refused (another process held its directory)

Torch-free: the report and the command line read paths before any training.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

HYDRA_DIR = ".hydra"  # Hydra's output_subdir for a run's first invocation
INVOCATIONS = f"{HYDRA_DIR}/invocations"
HYDRA_FILES = ("config.yaml", "hydra.yaml", "overrides.yaml")  # what Hydra writes to its output_subdir
SWEEP_RECORD = "multirun.yaml"  # what Hydra writes to a sweep directory
ROUND_RECORD = "metrics.json"


def natural_order(name: str) -> list:
    """Job 10 after job 9, a re-run's `<time>_10` after `<time>_9`: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


@dataclass(frozen=True)
class LoggerLocation:
    """Where a TensorBoardLogger writes: <save_dir>/<name>/<version>/."""

    save_dir: str
    name: str
    version: str


class RoundPaths:
    """The files in one round's folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.start, self.checkpoint = folder / "start.pt", folder / "checkpoint.ckpt"
        self.mask, self.weights = folder / "mask.pt", folder / "weights.pt"
        self.arch, self.record = folder / "arch.json", folder / ROUND_RECORD
        self.instability = folder / "instability.json"
        self.finished = (self.record, self.arch, self.mask, self.weights)  # what a finished round holds


class RunLayout:
    """The paths of the run directory at `root`; it reads and writes nothing."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def relative(self, path: Path) -> str:
        """`path` as the ledger and messages name it."""
        return str(path.relative_to(self.root))

    @property
    def init_path(self) -> Path:
        return self.root / "init.pt"

    @property
    def rewind_path(self) -> Path:
        return self.root / "rewind.pt"

    @property
    def summary_path(self) -> Path:
        return self.root / "summary.json"

    @property
    def fingerprint_path(self) -> Path:
        return self.root / "fingerprint.json"

    @property
    def checksums_path(self) -> Path:
        return self.root / "checksums.json"

    @property
    def lock_path(self) -> Path:
        return self.root / ".lock"

    def damaged_path(self, path: Path, stamp: str) -> Path:
        """Where `move_aside` keeps a damaged `path`; `stamp` tells the attempts apart."""
        return self.root / "damaged" / stamp / path.relative_to(self.root)

    # ---------------------------------------------------------------- rounds
    @property
    def rounds_dir(self) -> Path:
        return self.root / "rounds"

    def round_dir(self, k: int) -> Path:
        return self.rounds_dir / f"round_{k}"

    def round(self, k: int) -> RoundPaths:
        return RoundPaths(self.round_dir(k))

    def is_round_record(self, path: Path) -> bool:
        return path.name == ROUND_RECORD and path.parent.parent == self.rounds_dir

    @staticmethod
    def holds_tensors(path: Path) -> bool:
        """Whether `path` is saved with torch (weights, masks, checkpoints), not as JSON."""
        return path.suffix in (".pt", ".ckpt")

    @property
    def verification_record(self) -> Path:
        return self.root / "verification" / ROUND_RECORD

    # ---------------------------------------------------------------- TensorBoard
    @property
    def tensorboard(self) -> Path:
        """What `tensorboard --logdir` shows: one run per round, and `summary`."""
        return self.root / "tensorboard"

    @property
    def summary_tensorboard(self) -> Path:
        return self.tensorboard / "summary"

    @property
    def hparams_tensorboard(self) -> Path:
        return self.tensorboard / "hparams"

    def tensorboard_location(self, k: int, extra: str | None = None) -> LoggerLocation:
        """Where round k's fit logs; `extra` ("verification", "instability"): a fit that is
        not the round's own, kept out of tensorboard/ so that only the rounds overlay there."""
        base = self.root / extra if extra else self.root
        return LoggerLocation(str(base), self.tensorboard.name, f"round_{k}")

    def tensorboard_dir(self, k: int, extra: str | None = None) -> Path:
        where = self.tensorboard_location(k, extra)
        return Path(where.save_dir) / where.name / where.version

    def finished_rounds(self) -> list[int]:
        """The rounds whose metrics.json exists, in order."""
        found = (d.name.removeprefix("round_") for d in self.rounds_dir.glob("round_*"))
        return sorted(int(k) for k in found if k.isdigit() and (self.round_dir(int(k)) / ROUND_RECORD).exists())

    def export_dir(self, k: int) -> Path:
        """Where `rlth-export` writes round k unless told otherwise."""
        return self.root / "export" / f"round_{k}"

    # ---------------------------------------------------------------- branches
    @property
    def branches(self) -> Path:
        return self.root / "branches"

    def branch_dir(self, name: str) -> Path:
        """A branch (lottery/branches/) of this run: a run directory of its own."""
        return self.branches / name

    # ---------------------------------------------------------------- Hydra's copies of the config
    @property
    def config_path(self) -> Path:
        """The composed config the run was made with (Hydra's copy from its first invocation)."""
        return self.hydra_config(HYDRA_DIR)

    def hydra_config(self, subdir: str) -> Path:
        """The composed config in Hydra's output_subdir `subdir` (relative to the root)."""
        return self.root / subdir / HYDRA_FILES[0]

    def hydra_files(self, subdir: str) -> list[Path]:
        """What Hydra writes to `subdir` (its output_subdir, relative to the root)."""
        return [self.root / subdir / name for name in HYDRA_FILES]

    def hydra_subdir(self, stamp: str) -> str:
        """Where a new invocation's copy of the config goes, relative to the root: `.hydra`,
        unless an earlier invocation's copy is there, then the first free `.hydra/invocations/<stamp>[_n]`."""
        if not any(path.exists() for path in self.hydra_files(HYDRA_DIR)):
            return HYDRA_DIR
        sub, n = f"{INVOCATIONS}/{stamp}", 1
        while (self.root / sub).exists():
            n += 1
            sub = f"{INVOCATIONS}/{stamp}_{n}"
        return sub

    def newest_command(self) -> tuple[Path, Path] | None:
        """Hydra's overrides.yaml and hydra.yaml of the newest invocation (beside `newest_config`):
        what `rlth-run resume=<run>` runs again; None without them."""
        config = self.newest_config()
        if config is None:
            return None
        overrides, hydra = config.with_name(HYDRA_FILES[2]), config.with_name(HYDRA_FILES[1])
        return (overrides, hydra) if overrides.is_file() else None

    def newest_config(self) -> Path | None:
        """The config of the newest invocation: a re-run's copy under .hydra/invocations/
        (it may change only keys that decide no result), else the first one's."""
        copies = list((self.root / INVOCATIONS).glob(f"*/{HYDRA_FILES[0]}"))
        if copies:
            return max(copies, key=lambda p: natural_order(p.parent.name))
        return self.config_path if self.config_path.is_file() else None


class ReplicasLayout:
    """The paths of a job that trains several seeds as one batched model (run/replicas.py)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def seed_dir(self, seed: int) -> Path:
        # No `=` in the name: Hydra's override grammar could not take it back in `branch.from=`.
        return self.root / f"seed_{seed}"

    @property
    def summary_path(self) -> Path:
        return self.root / "summary.json"

    def seed_dirs(self) -> list[str]:
        """The names of the seed directories that hold a run (a summary.json), in seed order: none where root is a run."""
        found = [p.name for p in self.root.glob("seed_*") if p.name.removeprefix("seed_").isdigit() and (p / "summary.json").is_file()]
        return sorted(found, key=natural_order)


class SweepLayout:
    """The paths of a sweep directory that are the sweep's own (each job's directory is a RunLayout)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    @property
    def record(self) -> Path:
        return self.root / SWEEP_RECORD

    def earlier_records(self) -> list[Path]:
        """Earlier sweeps' records kept beside the latest one, oldest first."""
        stem, suffix = SWEEP_RECORD.rsplit(".", 1)
        return sorted(self.root.glob(f"{stem}.*.{suffix}"), key=lambda p: natural_order(p.name))

    def earlier_record(self, stamp: str) -> Path:
        """Where an earlier sweep's record from `stamp` is kept: the first free `multirun.<stamp>[_n].yaml`."""
        stem, suffix = SWEEP_RECORD.rsplit(".", 1)
        path, n = self.root / f"{stem}.{stamp}.{suffix}", 1
        while path.exists():
            n += 1
            path = self.root / f"{stem}.{stamp}_{n}.{suffix}"
        return path

    @property
    def ledgers(self) -> Path:
        return self.root / ".rlth" / "sweeps"

    def ledger(self, sweep_id: str) -> Path:
        """The jobs sweep `sweep_id` started, one file each (storage/scan.py reads them)."""
        return self.ledgers / sweep_id

    def stop_mark(self, sweep_id: str) -> Path:
        """Present once sweep `sweep_id` was stopped by a signal (cluster/sweep_stop.py); not a ledger entry."""
        return self.ledger(sweep_id) / "stopped"

    def ledger_entry(self, sweep_id: str, job: str) -> Path:
        return self.ledger(sweep_id) / f"{job}.json"


@dataclass(frozen=True)
class TicketFiles:
    """What `rlth-export` writes into its output folder (docs/export.md has the formats)."""

    root: Path

    @property
    def tensors(self) -> Path:
        return self.root / "ticket.safetensors"  # trained weights, masks, initial (and rewind) weights

    @property
    def info(self) -> Path:
        return self.root / "ticket.json"  # architecture, fingerprint, record, versions, compaction, benchmark

    @property
    def compact(self) -> Path:
        return self.root / "compact.safetensors"  # the compacted network's weights

    @property
    def csr(self) -> Path:
        return self.root / "compact_csr.safetensors"  # the same with every linear weight in CSR form

    @property
    def onnx(self) -> Path:
        return self.root / "compact.onnx"
