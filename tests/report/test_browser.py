"""The report in a real browser: headless Chromium (Debian's chromium + chromium-driver, driven
by selenium) renders the table and every image without a console error, and on a phone-size
screen only the table and the figures (kept at a width their text reads at) scroll sideways,
inside their boxes, never the page. Screenshots at desktop and phone widths are kept as test
artifacts in ``artifacts/`` under the repository root. Skipped, with the reason, when a piece is
absent (CI installs chromium and chromium-driver, see .ci/run).
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lrlab.report.html import build_report
from tests.report.conftest import FAKE, write_comparison

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True}
LAPTOP = (1280, 900)

webdriver = pytest.importorskip(
    "selenium.webdriver", reason="selenium is not installed (pip install selenium)"
)
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)"),
    pytest.mark.skipif(
        not CHROMEDRIVER.exists(), reason=f"{CHROMEDRIVER} is absent (apt-get install chromium-driver)"
    ),
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A comparison of 3 variants × 2 seeds, with a long name to stress narrow screens."""
    runs = dict(FAKE) | {"warmup-then-cosine-with-a-rather-long-variant-name": FAKE["cosine"]}
    return build_report(write_comparison(tmp_path_factory.mktemp("browser") / "cmp", runs))


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium through Debian's chromedriver (named, so selenium downloads nothing)."""
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={LAPTOP[0]},{LAPTOP[1]}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_page(driver: Any, path: Path) -> list[dict[str, Any]]:
    """Load ``path`` and return what the console logged while it loaded."""
    driver.get_log("browser")  # drop anything logged before
    driver.get(path.as_uri())
    return list(driver.get_log("browser"))


def screenshot(driver: Any, name: str) -> Path:
    """A full-page PNG in ``artifacts/``."""
    ARTIFACTS.mkdir(exist_ok=True)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    path = ARTIFACTS / name
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def test_console_errors_are_caught(driver: Any, tmp_path: Path) -> None:
    """The check below could pass by reading nothing: a page that logs an error must show up."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><title>x</title><script>console.error('lrlab-probe')</script>")
    logs = open_page(driver, page)
    assert any(entry["level"] == "SEVERE" and "lrlab-probe" in entry["message"] for entry in logs)


def test_the_page_renders_its_table_and_images_without_console_errors(driver: Any, report: Path) -> None:
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    logs = open_page(driver, report)
    assert [entry for entry in logs if entry["level"] in ("SEVERE", "WARNING")] == []
    assert driver.title == "fake-schedules · lrlab report"
    rows = driver.execute_script(
        "return [...document.querySelectorAll('#summary tbody tr')].map(r => r.cells[0].textContent.trim())"
    )
    assert rows == ["constant", "cosine", "multistep", "warmup-then-cosine-with-a-rather-long-variant-name"]
    images = driver.execute_script(
        "return [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight, i.width])"
    )
    assert len(images) == 4
    for complete, natural_width, natural_height, shown_width in images:
        assert complete and (natural_width, natural_height) == (960, 660)
        assert 0 < shown_width <= LAPTOP[0]
    headings = driver.execute_script(
        "return [...document.querySelectorAll('#summary thead th')].map(h => h.textContent.trim())"
    )
    assert "val_acc at best val_loss" in headings and "test_acc" in headings
    path = screenshot(driver, "report-screenshot.png")
    assert path.read_bytes().startswith(b"\x89PNG") and path.stat().st_size > 50_000
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= LAPTOP[0]  # nothing scrolls sideways at desktop width


def test_on_a_phone_only_the_table_scrolls_sideways(driver: Any, report: Path) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    try:
        assert [e for e in open_page(driver, report) if e["level"] == "SEVERE"] == []
        sizes = driver.execute_script(
            "const wrap = document.querySelector('#summary .table-wrap');"
            "return {viewport: window.innerWidth, page: document.documentElement.scrollWidth,"
            " body: document.body.scrollWidth, wrap: wrap.clientWidth, table: wrap.scrollWidth,"
            " images: [...document.images].map(i => i.getBoundingClientRect().right)}"
        )
        assert sizes["viewport"] == PHONE["width"]
        assert sizes["page"] <= sizes["viewport"] and sizes["body"] <= sizes["viewport"]
        assert sizes["table"] > sizes["wrap"]  # the wide table scrolls inside its box
        boxes = driver.execute_script(
            "return [...document.querySelectorAll('figure')].map(f => [f.getBoundingClientRect().right,"
            " f.clientWidth, f.scrollWidth, f.querySelector('img').getBoundingClientRect().width])"
        )
        for right, box, inner, shown in boxes:
            assert right <= sizes["viewport"]  # the figure's box fits the screen …
            # … and its image keeps a width its text reads at (10 pt at 150 dpi → ≥ 13 CSS px),
            # scrolling sideways inside the box like the table
            assert shown >= 600 and inner > box
        path = screenshot(driver, "report-screenshot-phone.png")
        assert path.stat().st_size > 20_000
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
