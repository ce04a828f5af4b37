"""The dashboard in a real headless Chromium: every page loads, with no error element.

`lifeline dashboard` serves the demo home; Playwright drives Debian's `chromium` (no browser
download). Screenshots go to $LIFELINE_SCREENSHOTS (or the test's folder).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.e2e.servers import BIN, chromium, free_port, serving
from tests.reliability.harness import copy_home

pytestmark = pytest.mark.e2e

PAGES = {  # page -> text its last element shows (the page is drawn)
    "portfolio": "Value at risk by band",
    "customer": "Purchases per month",
    "segments": "Export",
    "campaign": "Breakeven retention rate",
    "health": "Last runs",
}


def load(page, url: str) -> float:
    """Seconds until the page at URL has drawn its last element and the footer."""
    started = time.monotonic()
    page.goto(url)
    page.get_by_text("read through the Warehouse port").wait_for(timeout=120_000)
    return time.monotonic() - started


def test_every_page_loads_in_headless_chromium(homes, tmp_path):
    if chromium() is None:
        pytest.fail("chromium is not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    _, scored, _ = homes["scores"]
    home = copy_home(scored, tmp_path / "home")
    shots = Path(os.environ.get("LIFELINE_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFELINE_")}
    if "LIFELINE_POLICY_FILE" in os.environ:  # the policy the demo home was built with
        env["LIFELINE_POLICY_FILE"] = os.environ["LIFELINE_POLICY_FILE"]
    command = [str(BIN / "lifeline"), "dashboard", "--port", str(port), "--home", str(home)]
    base = f"http://127.0.0.1:{port}"
    timings = {}
    with (
        serving(command, env, f"{base}/_stcore/health", tmp_path / "dashboard.log"),
        sync_playwright() as play,
    ):
        browser = play.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        for name, last in PAGES.items():
            url = f"{base}/?page={name}" + ("&customer=CUST" if name == "customer" else "")
            first = load(page, url)
            again = load(page, url)  # after the first load: the reads are cached
            page.get_by_text(last).first.wait_for(timeout=60_000)
            assert page.locator('[data-testid="stException"]').count() == 0, name
            assert page.locator('[data-testid="stAlertContentError"]').count() == 0, name
            page.screenshot(path=str(shots / f"dashboard-{name}.png"), full_page=True)
            timings[name] = (round(first, 2), round(again, 2))
        browser.close()
    print("dashboard page loads (first, again) in s:", timings)
    assert all((shots / f"dashboard-{name}.png").stat().st_size > 10_000 for name in PAGES)
