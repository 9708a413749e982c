"""Fixtures for the browser page tests (headless Chromium via selenium 4).

Run through scripts/test.sh, which starts a server and sets NEBULA_URL. In a test:

    def test_login_page(driver, base_url):
        driver.get(base_url + "/login")
        screenshot(driver, "login")        # from conftest import screenshot

A screenshot of the page is also saved automatically when a test using `driver` fails.
"""

import os
import re
import tempfile

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = os.environ.get("NEBULA_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("NEBULA_CHROMEDRIVER", "/usr/bin/chromedriver")

_screenshot_dir = None
_saved = []


def screenshot_dir():
    """Directory for screenshots: $NEBULA_SCREENSHOTS if set, else one temp dir per run."""
    global _screenshot_dir
    if _screenshot_dir is None:
        wanted = os.environ.get("NEBULA_SCREENSHOTS")
        if wanted:
            os.makedirs(wanted, exist_ok=True)
            _screenshot_dir = wanted
        else:
            _screenshot_dir = tempfile.mkdtemp(prefix="nebula-screenshots-")
    return _screenshot_dir


def screenshot(driver, name):
    """Save a PNG of the current page as <dir>/<name>.png and return its path."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "screenshot"
    if not safe.endswith(".png"):
        safe += ".png"
    path = os.path.join(screenshot_dir(), safe)
    driver.save_screenshot(path)
    _saved.append(path)
    return path


@pytest.fixture(scope="session")
def base_url():
    url = os.environ.get("NEBULA_URL")
    if not url:
        pytest.fail("NEBULA_URL is not set: run scripts/test.sh (or set NEBULA_URL=http://127.0.0.1:PORT)")
    return url.rstrip("/")


def _options():
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    return options


@pytest.fixture
def driver(request):
    """A fresh headless Chromium per test (clean cookies and storage)."""
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=_options())
    drv.set_page_load_timeout(30)
    try:
        yield drv
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            try:
                path = screenshot(drv, "FAILED-" + request.node.name)
                print(f"\nscreenshot of the failed page: {path}")
            except Exception as exc:  # the browser may be gone already
                print(f"\n(no screenshot: {exc})")
        drv.quit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


def pytest_terminal_summary(terminalreporter):
    if _saved:
        terminalreporter.write_line(f"{len(_saved)} screenshot(s) in {screenshot_dir()}")
