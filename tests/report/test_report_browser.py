"""The HTML report opened from disk in a real headless browser shows its plots."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from matplotlib import image

from safereflect.report import ReportInputs, render_report

BROWSER = next((p for name in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(name))), None)
REFLECT_GREEN = np.array([0x2C, 0xA0, 0x2C])  # reflect's bar colour in every plot


@pytest.mark.skipif(
    BROWSER is None,
    reason="no headless browser on PATH (looked for chromium, chromium-browser, "
    "google-chrome); e.g. `apt-get install chromium` to run this check",
)
def test_report_renders_with_visible_plots(tmp_path, inputs_kwargs):
    _, page = render_report(ReportInputs(**inputs_kwargs), tmp_path / "report")
    shot = tmp_path / "shot.png"
    # flags keep the browser off the network and out of any real profile
    cmd = [
        BROWSER,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        page.as_uri(),
    ]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), f"no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"
    pixels = (image.imread(shot)[..., :3] * 255).round().astype(np.int32).reshape(-1, 3)
    assert pixels.shape[0] == 1280 * 2000
    packed = pixels[:, 0] << 16 | pixels[:, 1] << 8 | pixels[:, 2]  # np.unique(axis=0) is 60x slower
    assert len(np.unique(packed)) > 500, "screenshot is (nearly) blank"
    # text and tables alone would not paint large areas in the plots' bar colour
    green = np.abs(pixels - REFLECT_GREEN).max(axis=1) <= 3
    assert green.sum() > 2000, f"only {green.sum()} pixels of reflect's bar colour: plots not visible"
