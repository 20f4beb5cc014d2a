"""``make screenshots``: every page of the dashboard as a PNG, for review.

Builds the demo account the way ``nrr demo`` does (a generated account behind the fake
Stripe, synced and normalized into a throwaway SQLite file), serves the dashboard on a
loopback port with a throwaway password, logs in with Debian's headless Chromium
(``/usr/bin/chromium`` and ``/usr/bin/chromedriver``, through selenium; never a
downloaded browser) at a desktop width, and saves each page of the sitemap
(``syncer.web.sitemap``), and the login page before them, into ``--out``
(``screenshots/``), printing the files. A page
that is not HTML is saved as it is served (the chart is a PNG already; a CSV stays a
CSV). ``--readme-image docs/img/dashboard.png`` also writes the overview, optimized, for
the README.

    python -m bench.screenshots [--out screenshots] [--customers 300] [--readme-image PATH]
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from bench.web import DashboardClient, log_in, record_a_delivery, serving, with_throwaway_password

WIDTH, HEIGHT = 1280, 800  # a laptop's browser window
MAX_HEIGHT = 6000  # a page longer than this is cut there
README_HEIGHT = 900  # the README's screenshot: the top of the overview (its figures and chart)
EXTENSIONS = {"text/html": "png", "image/png": "png", "image/svg+xml": "svg", "text/csv": "csv"}


def _browser_paths() -> tuple[str, str]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        raise SystemExit("make screenshots needs Chromium: apt-get install chromium chromium-driver")
    return chromium, driver


@contextmanager
def chromium(width: int = WIDTH, height: int = HEIGHT) -> Iterator[Any]:
    """A headless Debian Chromium driven by selenium, logging the browser's console."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = _browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--hide-scrollbars", "--force-device-scale-factor=1", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def browser_log_in(driver: Any, base: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/login")
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    deadline = time.monotonic() + 30
    while driver.current_url.rstrip("/") != base:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the login did not open the overview (at {driver.current_url})")
        time.sleep(0.05)


def full_page_png(driver: Any, url: str, width: int = WIDTH) -> bytes:
    """The whole page at ``url`` (up to MAX_HEIGHT), ``width`` pixels wide."""
    driver.get(url)
    driver.set_window_size(width, HEIGHT)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    # The window's outer size holds the browser's frame beside the page: make the inner one fit.
    inner = int(driver.execute_script("return window.innerHeight"))
    driver.set_window_size(width, min(max(height, inner), MAX_HEIGHT) + HEIGHT - inner)
    png: bytes = driver.get_screenshot_as_png()
    return png


def console_errors(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def optimized_png(png: bytes, width: int = WIDTH, height: int = README_HEIGHT) -> bytes:
    """The top ``height`` pixels of ``png`` at most ``width`` wide, in a 256-colour
    palette (a page's flat colours and text lose nothing visible), compressed as far as
    Pillow goes."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
    image = image.crop((0, 0, image.width, min(image.height, height)))
    out = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, format="PNG", optimize=True)
    return out.getvalue()


def _demo(folder: Path, customers: int) -> Any:
    from syncer.app.demo import run_demo

    run = run_demo(folder, customers=customers)
    if run.outcome.result.errors:
        raise run.outcome.result.errors[0]
    return run


def screenshots(out: Path, *, customers: int, readme_image: Path | None = None) -> list[Path]:
    """Every sitemap page of a fresh demo account into ``out``; the files written."""
    from syncer.web.sitemap import sample_paths

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="nrr-screenshots-") as tmp:
        print(f"building the demo account ({customers} customers)…", file=sys.stderr, flush=True)
        run = _demo(Path(tmp), customers)
        record_a_delivery(run.settings, run.store, now=run.now)
        samples = sample_paths(run.store, run.settings, now=run.now)
        settings, password = with_throwaway_password(run.settings)
        with serving(settings, run.store, now=run.now) as served, closing(DashboardClient(served.base)) as client, \
                chromium() as driver:
            base = served.base
            log_in(client, password)
            login_page = out / "00-login.png"
            login_page.write_bytes(full_page_png(driver, base + "/login"))
            written.append(login_page)
            print(f"{login_page}  (/login)")
            browser_log_in(driver, base, password)
            for number, (name, path) in enumerate(samples, 1):
                answer = client.get(path)
                if answer.status != 200:
                    raise SystemExit(f"{path}: the dashboard answered {answer.status}")
                kind = answer.content_type
                target = out / f"{number:02d}-{name}.{EXTENSIONS.get(kind, 'bin')}"
                if kind == "text/html":
                    target.write_bytes(full_page_png(driver, base + path))
                    if errors := console_errors(driver):
                        print(f"{path}: console errors: {errors}", file=sys.stderr)
                else:
                    target.write_bytes(answer.body)  # as served: not a page to photograph
                written.append(target)
                print(f"{target}  ({path})")
                if name == "overview" and readme_image is not None:
                    readme_image.parent.mkdir(parents=True, exist_ok=True)
                    readme_image.write_bytes(optimized_png(target.read_bytes()))
                    written.append(readme_image)
                    print(f"{readme_image}  (the overview, for the README)")
        run.store.engine.dispose()
    return written


def main(argv: list[str] | None = None) -> int:
    from syncer.app.demo import DEMO_CUSTOMERS
    from syncer.app.logging import configure_logging

    p = argparse.ArgumentParser(prog="python -m bench.screenshots", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("screenshots"), help="folder for the files (default: screenshots)")
    p.add_argument("--customers", type=int, default=DEMO_CUSTOMERS, help="the demo account's size (as nrr demo)")
    p.add_argument("--readme-image", type=Path, help="also write the overview here, optimized (docs/img/dashboard.png)")
    args = p.parse_args(argv)
    configure_logging("json", "warning", sys.stderr)
    screenshots(args.out, customers=args.customers, readme_image=args.readme_image)
    return 0


if __name__ == "__main__":
    sys.exit(main())
