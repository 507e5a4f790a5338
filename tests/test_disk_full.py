"""A full disk (storage/disk.py): a write the file system refuses is one line naming
the path, what it needed and what is free, exit 2, no half-written file, and a
re-run after space is freed continues to the uninterrupted run's result."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FAST, all_scalars
from test_bad_input import cli  # noqa: F401 - a fixture
from test_reliability import rounds_of, same_weights
from rlth_runner.storage import files
from rlth_runner.storage.ledger import Ledger
from rlth_runner.storage.layout import RunLayout

RUN = [*FAST, "rounds=2", "train.max_steps=2", "model.width=8", "hardware.num_threads=1"]


class Budget:
    """A disk with `left` bytes free, for the files written through storage/files.py, once the run
    first writes a file named `filling` (the sizes of the JSON files before it vary with their times)."""

    def __init__(self, left: int | None, filling: Path | None = None):
        self.left, self.written, self.filling = left, [], filling

    def atomic_write(self, real):
        def write_within(path, write):
            if Path(path) == self.filling:
                self.filling = None
            if self.filling is not None:
                return real(path, write)

            def counted(f):
                if not isinstance(f, io.BufferedWriter):  # the size measured after a refusal, not a disk
                    return write(f)
                budget = self

                class Limited:
                    def write(self, data):
                        if budget.left is not None and len(data) > budget.left:  # what still fits, a smaller file, is written
                            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                        if budget.left is not None:
                            budget.left -= len(data)
                        return f.write(data)

                    def flush(self):
                        f.flush()

                start, left = f.tell(), self.left
                try:
                    write(Limited())
                except OSError:
                    self.left = left  # the refused file's temporary is removed, and its space with it
                    raise
                self.written.append((Path(path), f.tell() - start))
            return real(path, counted)
        return write_within


def error_line(stderr: str, start: str) -> str:
    """The one `rlth-run:` line of a run's stderr (its progress bars go there too), with no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("rlth-run")]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"rlth-run: error: {start}"), lines[0]
    return lines[0]


def assert_intact(out: Path) -> None:
    """No temporary file left, every JSON file whole, every recorded artifact as recorded."""
    assert not [p for p in out.rglob("*.tmp")]
    for path in out.rglob("*.json"):
        json.loads(path.read_text())
    ledger = Ledger(RunLayout(out))
    for name in ledger.entries():
        assert ledger.damage(out / name) is None, name


@pytest.mark.slow  # three runs
def test_a_full_disk_is_one_line_exit_2_and_the_rerun_equals_an_uninterrupted_run(cli, tmp_path, monkeypatch):
    real = files.atomic_write
    straight, full = tmp_path / "straight", tmp_path / "full"
    counting = Budget(None)
    monkeypatch.setattr(files, "atomic_write", counting.atomic_write(real))
    assert cli(*RUN, f"hydra.run.dir={straight}")[0] == 0
    # round 1's weights are one byte too many
    [size] = [n for p, n in counting.written if p == straight / "rounds/round_1/weights.pt"]
    budget = Budget(size - 1, filling=full / "rounds/round_1/weights.pt")
    monkeypatch.setattr(files, "atomic_write", budget.atomic_write(real))

    code, _, err = cli(*RUN, f"hydra.run.dir={full}")

    assert code == 2
    line = error_line(err, f"disk full: cannot write {full / 'rounds/round_1/weights.pt'} (no space left on the device): "
                         f"it needs {size / 1000:.1f} kB, ")
    assert line.endswith("; free space, then run the same command again to continue"), line
    assert " free on /" in line
    summary = json.loads((full / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"] == line.removeprefix("rlth-run: error: ")
    assert not (full / "rounds/round_1/weights.pt").exists()
    assert_intact(full)

    monkeypatch.setattr(files, "atomic_write", real)  # space freed
    assert cli(*RUN, f"hydra.run.dir={full}")[0] == 0
    assert rounds_of(full) == rounds_of(straight)
    assert same_weights(full, straight, 2)
    assert all_scalars(full) == all_scalars(straight)
    assert_intact(full)


def test_a_file_that_replaces_another_keeps_the_old_one_when_the_disk_is_full(tmp_path, monkeypatch):
    path = tmp_path / "summary.json"
    files.write_json(path, {"status": "completed"})
    monkeypatch.setattr(files, "atomic_write", Budget(10).atomic_write(files.atomic_write))
    with pytest.raises(OSError) as refused:
        files.write_json(path, {"status": "running", "padding": "x" * 100})
    assert refused.value.errno == errno.ENOSPC and refused.value.needed == len(json.dumps({"status": "running", "padding": "x" * 100}, indent=2)) + 1
    assert files.read_json(path) == {"status": "completed"}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def can_mount_tmpfs() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mkdir -p /tmp/.rlth-probe && mount -t tmpfs -o size=64k tmpfs /tmp/.rlth-probe"],
                           capture_output=True)
    return probe.returncode == 0


SCRIPT = """
set -u
mkdir -p "$DISK" && mount -t tmpfs -o size=8k tmpfs "$DISK" || exit 99
"$RLTH" $ARGS hydra.run.dir="$DISK/r" 2> "$OUT/hydra.err"; echo $? > "$OUT/hydra.rc"
ls -A "$DISK" > "$OUT/hydra.left"
mount -o remount,size=100k "$DISK"
"$RLTH" $ARGS hydra.run.dir="$DISK/r" 2> "$OUT/first.err"; echo $? > "$OUT/first.rc"
cp -a "$DISK/r" "$OUT/after_first"
mount -o remount,size=16m "$DISK"
"$RLTH" $ARGS hydra.run.dir="$DISK/r" 2> "$OUT/second.err"; echo $? > "$OUT/second.rc"
cp -a "$DISK/r" "$OUT/after_second"
"""


@pytest.mark.slow
@pytest.mark.skipif(not can_mount_tmpfs(), reason="mounting a tmpfs needs root and unshare")
def test_a_run_on_a_small_tmpfs_stops_in_one_line_and_continues_once_it_grows(tmp_path):
    rlth = str(Path(sys.executable).with_name("rlth-run"))
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "RLTH": rlth, "ARGS": " ".join(RUN), "DISK": str(tmp_path / "disk"), "OUT": str(tmp_path)}
    subprocess.run(["unshare", "-m", "sh", "-c", SCRIPT], env=env, check=True, timeout=600)
    # 8 kB: Hydra's copies of the config do not fit; the directory this command made goes
    assert (tmp_path / "hydra.rc").read_text().strip() == "2"
    line = error_line((tmp_path / "hydra.err").read_text(), f"disk full: cannot write {tmp_path / 'disk'}/r/.hydra/")
    assert (tmp_path / "hydra.left").read_text() == ""
    # 100 kB: the run stops partway, then the disk grows to 16 MB and the same command finishes it
    assert (tmp_path / "first.rc").read_text().strip() == "2"
    line = error_line((tmp_path / "first.err").read_text(), f"disk full: cannot write {tmp_path / 'disk'}/r/")
    assert f"free on {tmp_path / 'disk'}; free space, then run the same command again to continue" in line, line
    assert_intact(tmp_path / "after_first")
    assert (tmp_path / "second.rc").read_text().strip() == "0", (tmp_path / "second.err").read_text()
    straight = tmp_path / "straight"
    subprocess.run([rlth, *RUN, f"hydra.run.dir={straight}"], check=True, capture_output=True, timeout=600)
    done = tmp_path / "after_second"
    assert rounds_of(done) == rounds_of(straight)
    assert same_weights(done, straight, 2)
    assert all_scalars(done) == all_scalars(straight)
