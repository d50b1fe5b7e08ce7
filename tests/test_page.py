"""report.html in a real headless browser, offline: both plots are on screen."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from matplotlib import image

from tests.conftest import BuiltExample

WINDOW = (1200, 1600)
# Everything that would reach out: background services, updates, sync.
OFFLINE_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run")
Pixels = npt.NDArray[np.float32]


def chromium() -> str:
    """Return Debian's chromium; skip without it, except in CI."""
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing in CI; .ci/run installs it with "
                        "apt-get install -y chromium")
        pytest.skip("chromium is not installed: apt-get install -y chromium")
    return found


def screenshot(page: Path, shot: Path, profile: Path) -> None:
    """Open `page` in headless chromium and save what it shows."""
    command = [chromium(), *OFFLINE_FLAGS, f"--user-data-dir={profile}",
               f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
               page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]


def embedded_plots(page: Path) -> list[Pixels]:
    """Decode the PNG images the page carries inline."""
    found = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"',
                       page.read_text(encoding="utf-8"))
    return [image.imread(io.BytesIO(base64.b64decode(data)))[:, :, :3]
            for data in found]


def place_of(plot: Pixels, shot: Pixels) -> tuple[int, int] | None:
    """Return where `plot` appears pixel for pixel in `shot`, if it does."""
    height, width = plot.shape[:2]
    colourful = plot.max(axis=2) - plot.min(axis=2) > 0.3
    row, column = np.argwhere(colourful)[0]
    anchors = np.argwhere(np.abs(shot - plot[row, column]).max(axis=2) < 0.02)
    for found_row, found_column in anchors:
        top, left = int(found_row - row), int(found_column - column)
        if top < 0 or left < 0 or top + height > shot.shape[0] or (
                left + width > shot.shape[1]):
            continue
        window = shot[top:top + height, left:left + width]
        if float(np.abs(window - plot).mean()) < 0.02:
            return top, left
    return None


def test_report_html_shows_both_plots_in_a_headless_browser(
        built_example: BuiltExample, tmp_path: Path) -> None:
    page = built_example.results / "report.html"
    shot = tmp_path / "report.png"
    screenshot(page, shot, tmp_path / "profile")

    pixels = image.imread(str(shot))[:, :, :3]
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    assert float((pixels.min(axis=2) < 0.9).mean()) > 0.02, "a blank page"
    plots = embedded_plots(page)
    assert len(plots) == 2
    places = [place_of(plot, pixels) for plot in plots]
    assert None not in places, f"plots on screen at {places}; see {shot}"
