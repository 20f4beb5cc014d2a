"""The dashboard in a real headless Chromium (Debian's ``chromium`` and ``chromium-driver``,
driven by selenium; never a downloaded browser): log in, open a month, follow
"+ Expansion" to a customer, and find on the pages the figures ``nrr report --format
json`` gives; no console error on the way."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from reports.month import month_range
from syncer.app.reporting import report_month
from syncer.db.store import Store
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import Account, generate_account
from syncer.web.app import build_app
from syncer.web.security import hash_password
from tests.e2e.harness import NOW, settings_for, sync

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(CHROMIUM is None or DRIVER is None,
                                reason="no Chromium here: apt-get install chromium chromium-driver (.ci/run does)")
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def account() -> Account:
    return generate_account(customers=15, seed=3, now=NOW)


@pytest.fixture
def served(fake: FakeStripe, store: Store, database_url: str) -> Iterator[tuple[str, Any, Store]]:
    """The dashboard of a synced account on a loopback port."""
    settings = settings_for(fake, database_url, web_password_hash=hash_password(PASSWORD))
    assert sync(settings, store, clock=NOW).result.ok
    server = uvicorn.Server(uvicorn.Config(build_app(settings, store, clock=lambda: NOW), host="127.0.0.1", port=0,
                                           log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the dashboard did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", settings, store
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,1400",
                 "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _console_errors(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_log_in_and_follow_expansion_to_a_customer(served: tuple[str, Any, Store], browser: Any,
                                                   tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    base, settings, store = served
    month = next(m for m in reversed(month_range("2026-10", 12))
                 if report_month(settings, store, m, now=NOW).customers.expanded)
    expected = _nrr_report_json(settings, month)
    browser.get(base + "/")
    assert browser.current_url.endswith("/login")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form.login button").click()
    assert browser.find_element(By.ID, "mrr").text.startswith("$")
    browser.save_screenshot(str(tmp_path / "overview.png"))

    browser.find_element(By.CSS_SELECTOR, f'a[href="/month/{month}"]').click()
    assert browser.find_element(By.ID, "nrr").text == f"{expected['retention']['nrr']:.1f}%"
    end = browser.find_element(By.CSS_SELECTOR, "#rollforward tr.total:last-child td.num").text
    assert end == f"${expected['mrr']['end']:,.2f}"
    browser.save_screenshot(str(tmp_path / "month.png"))

    browser.find_element(By.LINK_TEXT, "+ Expansion").click()
    rows = browser.find_elements(By.CSS_SELECTOR, "#customers tbody tr")
    assert len(rows) == expected["customers"]["expanded"]
    changes = [float(r.find_elements(By.TAG_NAME, "td")[3].text.replace("$", "").replace(",", "")) for r in rows]
    assert round(sum(changes), 2) == expected["mrr"]["expansion"]
    browser.save_screenshot(str(tmp_path / "expansion.png"))

    rows[0].find_element(By.TAG_NAME, "a").click()
    assert browser.find_elements(By.CSS_SELECTOR, "#spans tbody tr")
    assert browser.find_elements(By.CSS_SELECTOR, "#invoices tbody tr")
    browser.save_screenshot(str(tmp_path / "customer.png"))
    assert _console_errors(browser) == []


def test_every_page_of_the_menu_opens_without_a_console_error(served: tuple[str, Any, Store], browser: Any) -> None:
    from selenium.webdriver.common.by import By

    base, settings, _ = served
    browser.get(base + "/login")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form.login button").click()
    browser.find_element(By.CSS_SELECTOR, 'a[href="/month/2026-10"]').click()
    browser.find_element(By.LINK_TEXT, "segments").click()
    expected = _nrr_report_json(settings, "2026-10")
    plan = next(d for d in expected["segments"] if d["dimension"] == "plan")
    assert browser.find_element(By.TAG_NAME, "h2").text.startswith("By Plan")
    shown = browser.find_elements(By.CSS_SELECTOR, "table.segments")[0].find_elements(By.CSS_SELECTOR, "tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in shown] == [s["segment"] for s in plan["segments"]]
    for link, heading in (("Cohorts", "Signup cohorts"), ("Deliveries", "Deliveries"), ("Sync", "Sync"),
                          ("Overview", "")):
        browser.find_element(By.LINK_TEXT, link).click()
        assert browser.find_element(By.TAG_NAME, "h1").text.startswith(heading), link
    assert _console_errors(browser) == []


def _nrr_report_json(settings: Any, month: str) -> dict[str, Any]:
    """What ``nrr report --format json`` prints for ``month``, run as a user runs it."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
           "DATABASE_URL": settings.database_url, "STRIPE_API_KEY": settings.stripe_api_key.get_secret_value(),
           "STRIPE_API_BASE": settings.stripe_api_base}
    nrr = Path(sys.executable).parent / "nrr"
    done = subprocess.run([str(nrr), "report", "--month", month, "--format", "json"], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))
