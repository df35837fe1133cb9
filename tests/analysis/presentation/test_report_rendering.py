"""report.html in a real browser: headless Chromium draws every plot.

Aspects: the report built from the recorded smoke run is opened by headless Chromium and
screenshotted; every plot figure (found by its frame colour) appears, in the number the summary
promises, and its inside is an image with ink — non-background pixels in several colours, not a
blank or broken image. Skipped with a reason when Chromium is absent, except in CI (CI=true), where
a missing browser fails: `deploy/scripts/ensure-chromium.sh` installs it.
"""
import os
import shutil
import subprocess

import numpy
import pytest
from PIL import Image

from analysis.presentation import report

WINDOW = (1300, 9000)  # tall enough for the whole smoke report, so one screenshot holds every plot


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    if os.environ.get("CI") == "true":
        pytest.fail("Chromium is missing in CI: run deploy/scripts/ensure-chromium.sh before the tests")
    pytest.skip("Chromium is not installed (deploy/scripts/ensure-chromium.sh installs it)")


def screenshot(page, out, profile) -> numpy.ndarray:
    argv = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
            "--force-device-scale-factor=1", f"--user-data-dir={profile}", f"--screenshot={out}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}", page.as_uri()]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=90)
    assert out.exists(), f"Chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-2000:]}"
    return numpy.asarray(Image.open(out).convert("RGB")).astype(int)


def frames(pixels: numpy.ndarray) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) inner boxes of every rectangle drawn in the plot frame colour."""
    colour = tuple(int(report.PLOT_FRAME_COLOUR[i:i + 2], 16) for i in (1, 3, 5))
    mask = (numpy.abs(pixels - colour).sum(axis=2) <= 6)
    rows = numpy.flatnonzero(mask.sum(axis=1) > 300)  # horizontal borders: long runs of the colour
    bands, start = [], None
    for a, b in zip(rows, list(rows[1:]) + [None]):
        start = a if start is None else start
        if b is None or b != a + 1:
            bands.append((start, a))
            start = None
    boxes = []
    for (_, top_end), (bottom_start, _) in zip(bands[0::2], bands[1::2]):
        columns = numpy.flatnonzero(mask[top_end + 1:bottom_start].sum(axis=0) > (bottom_start - top_end) * 0.9)
        boxes.append((top_end + 1, bottom_start, int(columns.min()) + 1, int(columns.max())))
    return boxes


@pytest.fixture
def built_report(smoke_run):
    paths = report.build(smoke_run)
    return paths, sum(1 for key in paths if key.startswith("plot_"))


def test_headless_chromium_draws_every_plot_of_the_report(built_report, tmp_path):
    paths, plot_count = built_report
    pixels = screenshot(paths["report_html"], tmp_path / "report.png", tmp_path / "profile")
    boxes = frames(pixels)
    assert len(boxes) == plot_count >= 7
    for top, bottom, left, right in boxes:
        inside = pixels[top:bottom - 24, left:right]  # leave out the caption under the image
        assert inside.shape[0] > 200 and inside.shape[1] > 600, (top, bottom, left, right)
        ink = numpy.abs(inside - 255).sum(axis=2) > 60  # not white
        assert ink.mean() > 0.02, f"plot at y={top} is blank"
        coloured = inside[ink]
        saturated = coloured.max(axis=1) - coloured.min(axis=1) > 60
        assert saturated.sum() > 200, f"plot at y={top} has no coloured lines or bars"
