"""The HTML report opens in a real headless Chromium and its plotly figures render."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_result import CliResult
from review_studies import shared_storage

Cli = Callable[..., CliResult]
# Every figure a study of each kind should show (the tests' studies have three losses).
EXPECTED = {
    "g": ["weight-simplex", "objective-per-weight", "learning-curves"],
    "ps": ["weight-simplex", "objective-per-weight", "pareto-front", "learning-curves"],
    "cmo": ["methods-over-seeds", "methods-vs-static", "weight-trajectories", "learning-curves"],
}
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=8000",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        reason = "chromium is not installed (run .ci/install-chromium, or apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run this test")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from review_studies import run_cli

    url = shared_storage()
    folder = tmp_path_factory.mktemp("html")
    paths = {}
    for study in EXPECTED:
        paths[study] = folder / f"{study}.html"
        code = run_cli(
            "report", study, "--format", "html", "--output", str(paths[study]), "--storage", url
        )
        assert code == 0, study
    return paths


def browse(chromium: str, page: Path, profile: Path, *mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [chromium, *_FLAGS, f"--user-data-dir={profile}", *mode, page.as_uri()],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def sections(dom: str) -> dict[str, str]:
    """Each figure's section of the rendered page, by figure id."""
    return dict(re.findall(r'<section id="([\w-]+)-section">(.*?)</section>', dom, re.S))


def test_figures_render_in_chromium(chromium: str, pages: dict[str, Path], tmp_path: Path) -> None:
    # The pages load at once: each Chromium parses plotly.js (4.8 MB) on its own.
    browsers = {
        study: browse(chromium, page, tmp_path / f"profile-{study}", "--dump-dom")
        for study, page in pages.items()
    }
    for study, browser in browsers.items():
        dom, _ = browser.communicate(timeout=90)
        assert browser.returncode == 0, study
        static = pages[study].read_text()
        found = sections(dom)
        assert list(found) == EXPECTED[study], study
        for figure_id, html in found.items():
            # Plotly.newPlot ran: the div got its class and drew its SVG layers and traces.
            rendered = rf'id="{figure_id}"[^>]*class="[^"]*js-plotly-plot'
            assert re.search(rendered, html), figure_id
            assert not re.search(rendered, static), "the class must come from rendering"
            assert html.count('class="main-svg"') >= 2, figure_id
            drawn = html.count('class="point"') + html.count('class="js-line"')
            assert drawn > 0, f"{study}: nothing drawn in {figure_id}"
        # Self-contained: no script, style or image is fetched from anywhere.
        assert not re.search(r"<(script|link|img)[^>]+(src|href)=", static)


def test_screenshot_shows_the_page(chromium: str, pages: dict[str, Path], tmp_path: Path) -> None:
    png = tmp_path / "g.png"
    browser = browse(
        chromium,
        pages["g"],
        tmp_path / "profile",
        f"--screenshot={png}",
        "--window-size=1200,2400",
    )
    browser.communicate(timeout=90)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 2400)
    # A blank page compresses to a few KB; text, a ternary plot and curves do not.
    assert len(data) > 60_000
