"""Browser walk through monitoring: create an HTTP check against a loopback site, see it up, let it
fail into an incident, read and acknowledge the incident, and open the public status page."""

import http.server
import re
import threading

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import screenshot
from test_pages import (  # noqa: F401  (fixtures are used by name)
    admin_account, admin_driver, browser, fill, flash_text, form_with, submit, unique, wait, wait_for_path,
)


class Site:
    """A loopback HTTP server whose answer the test switches between healthy and failing."""

    def __init__(self):
        site = self
        self.healthy = True

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                code = 200 if site.healthy else 500
                body = b"all good" if site.healthy else b"boom"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def site():
    running = Site()
    yield running
    running.stop()


def test_create_an_http_check_see_it_up_then_an_incident(admin_driver, base_url, site):
    driver = admin_driver
    name = unique("web")
    # Create the check from the form on /checks.
    driver.get(base_url + "/checks")
    screenshot(driver, "checks-empty")
    form = form_with(driver, "/checks")
    fill(form, "name", name)
    Select(form.find_element(By.NAME, "kind")).select_by_value("http")
    fill(form, "url", site.url)
    fill(form, "keyword", "all good")
    fill(form, "intervalSeconds", "3600")
    fill(form, "timeoutSeconds", "20")
    Select(form.find_element(By.NAME, "public")).select_by_value("true")
    submit(form)
    path = wait_for_path(driver, r"/checks/[0-9A-Fa-f-]{36}")
    check_path = path.split("?", 1)[0]
    # Run it now: up.
    submit(form_with(driver, check_path + "/run"))
    wait(driver, 60).until(lambda d: "Up:" in flash_text(d))
    assert "HTTP 200" in flash_text(driver)
    badge = driver.find_element(By.CSS_SELECTOR, "[data-check-status] .badge")
    assert badge.text == "up"
    screenshot(driver, "check-detail-up")
    # One failure is enough for an incident once the threshold is 1.
    form = form_with(driver, check_path)
    fill(form, "failuresBeforeIncident", "1")
    submit(form)
    wait(driver, 30).until(lambda d: "Saved" in flash_text(d))
    site.healthy = False
    submit(form_with(driver, check_path + "/run"))
    wait(driver, 60).until(lambda d: "Down:" in flash_text(d))
    assert "HTTP 500" in flash_text(driver)
    # The list shows it down with its uptime.
    driver.get(base_url + "/checks")
    row = driver.find_element(By.XPATH, f"//tr[.//a[text()='{name}']]")
    assert "down" in row.text and "50.00%" in row.text
    screenshot(driver, "checks-list")
    # The incident page has the timeline; acknowledge it.
    driver.get(base_url + "/incidents?status=open")
    driver.find_element(By.LINK_TEXT, name).click()
    wait_for_path(driver, r"/incidents/[0-9A-Fa-f-]{36}")
    incident_path = driver.current_url.split(base_url, 1)[1]
    timeline = driver.find_element(By.XPATH, "//table[caption='Timeline']").text
    assert "opened" in timeline and "HTTP 500" in timeline
    submit(form_with(driver, incident_path + "/acknowledge"))
    wait(driver, 30).until(lambda d: "Acknowledged" in flash_text(d))
    assert "acknowledged" in driver.find_element(By.XPATH, "//table[caption='Timeline']").text
    screenshot(driver, "incident-detail")
    driver.get(base_url + "/incidents")
    screenshot(driver, "incidents-list")


def test_status_page_is_off_until_an_admin_turns_it_on(admin_driver, base_url):
    driver = admin_driver
    import requests
    settings = requests.get(base_url + "/status", timeout=10)
    driver.get(base_url + "/checks")
    button = form_with(driver, "/monitoring/settings").find_element(By.CSS_SELECTOR, 'button[type="submit"]')
    if settings.status_code == 404:
        assert "on" in button.text
        button.click()
        wait(driver, 30).until(lambda d: "Saved" in flash_text(d))
    page = requests.get(base_url + "/status", timeout=10)
    assert page.status_code == 200
    driver.get(base_url + "/status")
    assert driver.find_elements(By.CSS_SELECTOR, "table")  or "No services" in driver.page_source
    assert not re.search(r"127\.0\.0\.1", driver.page_source), "targets stay private"
    screenshot(driver, "status-page")
