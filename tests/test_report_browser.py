"""rlth-report's index.html in a real browser (headless Chromium, from file://):
every embedded plot loads. Also leaves a screenshot of the page for a person
to look at (its path is printed; a copy stays at /tmp/rlth-report-screenshot.png)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import FAST, rlth_run
from rlth_runner.report import cli

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"  # Debian's package `chromium`; CI installs it
SCREENSHOT_COPY = Path("/tmp/rlth-report-screenshot.png")
GRID = ["pruner.sparsity=0.2,0.5", "seed=0,1", "policy=reset,reinit", "rounds=3", "train.eval_every_n_steps=2",
        "analysis.instability.enabled=true"]
PLOTS = 8  # accuracy, methods compared (confidence bands), costs (size and compute), early stop, distance,
#           validation accuracy and loss curves, instability

# Run once the page has loaded: whether each image decoded, written where --dump-dom shows it.
PROBE = """<script>
window.addEventListener("load", () => {
  const loaded = Array.from(document.images).map((img) => img.complete && img.naturalWidth > 0 ? "1" : "0");
  document.title = "IMAGES:" + loaded.join("") + ":END";
});
</script>"""


def chromium() -> str:
    exe = shutil.which("chromium") or CHROMIUM
    if not Path(exe).exists():
        pytest.fail(f"headless Chromium is needed to check the report page and was not found at {CHROMIUM}: apt-get install chromium")
    return exe


def browse(*args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"]
    return subprocess.run([chromium(), *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report_browser")
    rlth_run("-m", *FAST, *GRID, f"hydra.sweep.dir={root / 'sweep'}", cwd=root)
    assert cli.main([str(root / "sweep"), "--out", str(root / "report")]) == 0
    return root / "report" / "index.html"


def test_every_plot_loads_in_the_browser(page, tmp_path):
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    proc = browse("--dump-dom", "--virtual-time-budget=10000", probe.as_uri())
    found = re.search(r"IMAGES:([01]*):END", proc.stdout)
    assert found, f"the page's script did not run in Chromium:\n{proc.stderr[-2000:]}"
    assert found.group(1) == "1" * PLOTS, f"images that loaded (1) or not (0): {found.group(1)}"


def test_screenshot_of_the_page(page, tmp_path):
    shot = tmp_path / "screenshot.png"
    proc = browse(f"--screenshot={shot}", "--window-size=1280,4000", "--virtual-time-budget=10000", page.as_uri())
    assert shot.exists() and shot.stat().st_size > 50_000, proc.stderr[-2000:]
    shutil.copy(shot, SCREENSHOT_COPY)
    print(f"screenshot of {page}: {shot} (copy: {SCREENSHOT_COPY})")
