"""Browser walkthrough of the dashboard (headless Chromium via selenium).

The server under test starts with an empty data directory (scripts/test.sh). The module fixture
`admin_account` completes the setup wizard once (or finds it done) so tests can run in any order;
`admin_driver` gives each test a fresh browser signed in through the /login form.
"""

import os
import socket
import subprocess
import re
import uuid
from urllib.parse import urlsplit

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

import conftest
from conftest import screenshot

ADMIN = "admin"
ADMIN_PASSWORD = "correct-horse-battery"
DESKTOP = (1280, 900)
PHONE = (390, 844)
TIMEOUT = 10


# ------------------------------------------------------------------ helpers


def unique(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def wait(driver, timeout=TIMEOUT):
    return WebDriverWait(driver, timeout)


def path_of(driver):
    """The current path with its query, e.g. "/login?next=/audit"."""
    url = urlsplit(driver.current_url)
    return (url.path or "/") + ("?" + url.query if url.query else "")


def wait_for_path(driver, pattern, timeout=TIMEOUT):
    """Waits until the current path (without query) matches the regex `pattern`."""
    wait(driver, timeout).until(lambda d: re.fullmatch(pattern, path_of(d).split("?", 1)[0]))
    return path_of(driver)


def fill(scope, name, value):
    field = scope.find_element(By.NAME, name)
    field.clear()
    field.send_keys(value)


def form_with(driver, action):
    """The POST form whose action is `action`."""
    return driver.find_element(By.CSS_SELECTOR, f'form[action="{action}"]')


def submit(form):
    form.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()


def flash_text(driver):
    try:
        flashes = driver.find_elements(By.CSS_SELECTOR, ".flash")
        return " ".join(f.text for f in flashes)
    except StaleElementReferenceException:  # the page changed under us: ask again on the next poll
        return ""
    except WebDriverException as error:  # Chromium's own words for the same race
        if "does not belong to the document" in str(error):
            return ""
        raise


def accept_confirm(driver, timeout=5):
    """Accepts the confirm() dialog a `form[data-confirm]` opens and returns its text."""
    wait(driver, timeout).until(EC.alert_is_present())
    alert = driver.switch_to.alert
    text = alert.text
    alert.accept()
    return text


def set_viewport(driver, size):
    """Emulates a device viewport of exactly `size` CSS pixels (window sizes include chrome)."""
    width, height = size
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600,
    })


def horizontal_overflow(driver):
    """(scrollWidth, innerWidth, widest offending elements) of the current page."""
    return driver.execute_script("""
        const doc = document.documentElement;
        const vw = window.innerWidth;
        const wide = [];
        for (const el of document.body.querySelectorAll('*')) {
            const r = el.getBoundingClientRect();
            if (r.width > 0 && r.right > vw + 1 && !el.closest('.table-wrap, pre')) {
                wide.push(el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).trim().replace(/\\s+/g, '.') : '')
                          + ' right=' + Math.round(r.right));
            }
        }
        return [doc.scrollWidth, vw, wide.slice(0, 8)];
    """)


def assert_no_horizontal_overflow(driver, label):
    scroll_width, inner_width, offenders = horizontal_overflow(driver)
    assert scroll_width <= inner_width + 1, (
        f"{label}: page is {scroll_width}px wide in a {inner_width}px viewport; too wide: {offenders}")


def login(driver, base_url, username=ADMIN, password=ADMIN_PASSWORD, next_path=None):
    driver.get(base_url + "/login" + (f"?next={next_path}" if next_path else ""))
    form = form_with(driver, "/login")
    fill(form, "username", username)
    fill(form, "password", password)
    submit(form)


def session_for(base_url, username=ADMIN, password=ADMIN_PASSWORD):
    """A requests.Session signed in through the /login form (CSRF cookie + hidden field)."""
    http = requests.Session()
    page = http.get(base_url + "/login", timeout=10)
    csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
    response = http.post(base_url + "/login", data={"_csrf": csrf, "username": username, "password": password, "next": "/"},
                         allow_redirects=False, timeout=10)
    assert response.status_code == 303, f"login with requests answered {response.status_code}"
    return http


def api(base_url, token, method, path, **kwargs):
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    return requests.request(method, base_url + "/api/v1" + path, headers=headers, timeout=10, **kwargs)


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def admin_account(base_url):
    """Creates the first admin through /setup if nobody has yet; returns what was observed.

    Uses its own browser (the conftest `driver` is per test) and records what it saw, so that
    test_setup_* can assert it whichever test happens to run first.
    """
    observed = {"performed": False}
    if requests.get(base_url + "/setup", allow_redirects=False, timeout=10).status_code != 200:
        return observed

    drv = webdriver.Chrome(service=Service(conftest.CHROMEDRIVER), options=conftest._options())
    try:
        drv.set_page_load_timeout(30)
        set_viewport(drv, DESKTOP)
        drv.get(base_url + "/")
        observed["redirected_to"] = path_of(drv)
        observed["title"] = drv.title
        screenshot(drv, "setup")
        set_viewport(drv, PHONE)
        observed["phone_overflow"] = horizontal_overflow(drv)
        screenshot(drv, "setup-390")
        set_viewport(drv, DESKTOP)

        # A mismatched confirmation is refused with a readable message.
        form = form_with(drv, "/setup")
        fill(form, "username", ADMIN)
        fill(form, "password", ADMIN_PASSWORD)
        fill(form, "confirm", ADMIN_PASSWORD + "-typo")
        submit(form)
        wait(drv).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".flash"))
        observed["mismatch_flash"] = flash_text(drv)
        screenshot(drv, "setup-mismatch")

        form = form_with(drv, "/setup")
        fill(form, "username", ADMIN)
        fill(form, "password", ADMIN_PASSWORD)
        fill(form, "confirm", ADMIN_PASSWORD)
        submit(form)
        wait_for_path(drv, "/")
        observed["after_submit"] = path_of(drv)
        observed["header_user"] = drv.find_element(By.CSS_SELECTOR, ".user-name").text
        observed["flash"] = flash_text(drv)
        observed["performed"] = True
    finally:
        drv.quit()
    return observed


@pytest.fixture
def browser(driver):
    """The conftest `driver` with a viewport of exactly 1280x900 CSS pixels."""
    set_viewport(driver, DESKTOP)
    return driver


@pytest.fixture
def admin_driver(admin_account, browser, base_url):
    """A fresh browser, signed in as the admin through the /login form, on the Overview."""
    driver = browser
    login(driver, base_url)
    wait_for_path(driver, "/")
    assert driver.find_elements(By.CSS_SELECTOR, "form.logout-form"), "not signed in after /login"
    return driver


@pytest.fixture(scope="module")
def api_token(admin_account, base_url):
    """An admin API token, created through the /users form with requests (for background calls)."""
    http = session_for(base_url)
    page = http.get(base_url + "/users", timeout=10)
    csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
    response = http.post(base_url + "/tokens", data={"_csrf": csrf, "name": unique("pages-fixture"), "role": "admin", "days": "1"}, timeout=10)
    match = re.search(r'id="new-token"[^>]*><code>([^<]+)</code>', response.text)
    assert match, "the /tokens form did not show the new token"
    return match.group(1).strip()


# ------------------------------------------------------------------ setup and sign-in


def test_setup_redirects_then_creates_the_admin_and_closes(admin_account, browser, base_url):
    driver = browser
    if admin_account["performed"]:
        assert admin_account["redirected_to"] == "/setup", "before any user exists, / must redirect to /setup"
        assert "Set up" in admin_account["title"]
        assert "differ" in admin_account["mismatch_flash"], admin_account["mismatch_flash"]
        assert admin_account["after_submit"] == "/"
        assert admin_account["header_user"] == ADMIN
        assert "Welcome" in admin_account["flash"]
        width, inner, offenders = admin_account["phone_overflow"]
        assert width <= inner + 1, f"/setup overflows at 390 px: {width} > {inner}: {offenders}"
    # Afterwards the wizard is gone, and pages send a signed-out browser to /login.
    assert requests.get(base_url + "/setup", allow_redirects=False, timeout=10).status_code == 404
    driver.get(base_url + "/secrets")
    assert wait_for_path(driver, "/login").startswith("/login")
    assert "next=" in driver.current_url and "secrets" in driver.current_url


def test_login_failure_shows_an_error_and_success_reaches_overview(admin_account, browser, base_url):
    driver = browser
    login(driver, base_url, password="not-the-password")
    error = wait(driver).until(lambda d: d.find_element(By.CSS_SELECTOR, ".flash-error"))
    assert error.get_attribute("role") == "alert"
    assert error.text.strip(), "the failed sign-in shows no message"
    assert "password" in error.text.lower() or "incorrect" in error.text.lower() or "invalid" in error.text.lower(), error.text
    assert path_of(driver).startswith("/login")
    # The username is kept, the password is not.
    assert driver.find_element(By.NAME, "username").get_attribute("value") == ADMIN
    assert driver.find_element(By.NAME, "password").get_attribute("value") == ""
    screenshot(driver, "login-error")

    fill(driver, "password", ADMIN_PASSWORD)
    submit(form_with(driver, "/login"))
    wait_for_path(driver, "/")
    assert driver.find_element(By.CSS_SELECTOR, "h1.page-title").text == "Overview"
    assert driver.find_element(By.CSS_SELECTOR, ".user-name").text == ADMIN
    assert len(driver.find_elements(By.CSS_SELECTOR, ".stat-grid > *, .stat-card")) >= 4


def test_login_follows_next(admin_account, browser, base_url):
    driver = browser
    driver.get(base_url + "/audit")
    wait_for_path(driver, "/login")
    screenshot(driver, "login")
    form = form_with(driver, "/login")
    assert form.find_element(By.NAME, "next").get_attribute("value") == "/audit"
    fill(form, "username", ADMIN)
    fill(form, "password", ADMIN_PASSWORD)
    submit(form)
    wait_for_path(driver, "/audit")


# ------------------------------------------------------------------ secrets


def test_secret_store_list_reveal_delete(admin_driver, base_url):
    driver = admin_driver
    name = unique("PAGES_SECRET").upper()
    value = "s3cr3t-" + uuid.uuid4().hex

    driver.get(base_url + "/secrets")
    form = form_with(driver, "/secrets")
    fill(form, "name", name)
    fill(form, "value", value)
    fill(form, "description", "made by the page tests")
    submit(form)
    wait(driver).until(lambda d: "Secret stored" in flash_text(d))

    row = driver.find_element(By.XPATH, f'//table//tr[td//*[normalize-space(text())="{name}"]]')
    assert "made by the page tests" in row.text
    assert value not in driver.page_source, "a secret's value appears in the /secrets page source"
    screenshot(driver, "secrets")

    row.find_element(By.XPATH, './/button[normalize-space()="Reveal"]').click()
    assert name in accept_confirm(driver)
    revealed = wait(driver).until(lambda d: d.find_element(By.ID, "revealed-secret"))
    assert revealed.text.strip() == value
    screenshot(driver, "secrets-revealed")

    driver.get(base_url + "/secrets")
    assert value not in driver.page_source
    driver.find_element(By.XPATH, f'//form[@action="/secrets/{name}/delete"]//button').click()
    assert "cannot be undone" in accept_confirm(driver)
    wait(driver).until(lambda d: "Secret deleted" in flash_text(d))
    assert not driver.find_elements(By.XPATH, f'//table//*[normalize-space(text())="{name}"]')


def test_secret_store_refuses_a_bad_name_with_a_message(admin_driver, base_url):
    driver = admin_driver
    driver.get(base_url + "/secrets")
    form = form_with(driver, "/secrets")
    fill(form, "name", "has spaces!")
    fill(form, "value", "x")
    submit(form)
    error = wait(driver).until(lambda d: d.find_element(By.CSS_SELECTOR, ".flash-error"))
    assert "name" in error.text.lower(), error.text
    assert path_of(driver).startswith("/secrets")
    screenshot(driver, "secrets-error")


# ------------------------------------------------------------------ users and tokens


def test_create_operator_user(admin_driver, base_url):
    driver = admin_driver
    username = unique("op")
    driver.get(base_url + "/users")
    form = form_with(driver, "/users")
    fill(form, "username", username)
    fill(form, "password", "operator-password-123")
    Select(form.find_element(By.NAME, "role")).select_by_value("operator")
    submit(form)
    wait(driver).until(lambda d: "User added" in flash_text(d))
    row = driver.find_element(By.XPATH, f'//table//tr[td[normalize-space()="{username}"]]')
    assert "operator" in row.find_element(By.CSS_SELECTOR, ".role-badge").text
    assert "active" in row.text

    # The new operator can sign in and sees an operator's Users page (no admin forms).
    driver.find_element(By.CSS_SELECTOR, "form.logout-form button").click()
    wait_for_path(driver, "/login")
    login(driver, base_url, username=username, password="operator-password-123")
    wait_for_path(driver, "/")
    assert driver.find_element(By.CSS_SELECTOR, ".user-name").text == username
    driver.get(base_url + "/users")
    assert not driver.find_elements(By.CSS_SELECTOR, 'form[action="/users"]')
    screenshot(driver, "users-as-operator")


def test_api_token_create_use_revoke(admin_driver, base_url):
    driver = admin_driver
    name = unique("pages-token")
    driver.get(base_url + "/users")
    form = form_with(driver, "/tokens")
    fill(form, "name", name)
    Select(form.find_element(By.NAME, "role")).select_by_value("viewer")
    fill(form, "days", "7")
    submit(form)
    token = wait(driver).until(lambda d: d.find_element(By.ID, "new-token")).text.strip()
    assert token and " " not in token
    assert "will not be shown again" in flash_text(driver)
    screenshot(driver, "users-new-token")

    me = api(base_url, token, "GET", "/me")
    assert me.status_code == 200, me.text
    assert me.json()["username"] == ADMIN

    driver.get(base_url + "/users")
    assert token not in driver.page_source, "the token is shown again after a reload"
    screenshot(driver, "users")
    row = driver.find_element(By.XPATH, f'//table//tr[td[normalize-space()="{name}"]]')
    row.find_element(By.XPATH, './/button[normalize-space()="Revoke"]').click()
    assert name in accept_confirm(driver)
    wait(driver).until(lambda d: "Token revoked" in flash_text(d))
    row = driver.find_element(By.XPATH, f'//table//tr[td[normalize-space()="{name}"]]')
    assert "revoked" in row.text

    refused = api(base_url, token, "GET", "/me")
    assert refused.status_code == 401
    assert set(refused.json()["error"]) >= {"code", "message"}


# ------------------------------------------------------------------ jobs


def test_queue_maintenance_job_and_watch_it_finish(admin_driver, base_url):
    driver = admin_driver
    driver.get(base_url + "/jobs")
    screenshot(driver, "jobs")
    form = form_with(driver, "/jobs/run")
    Select(form.find_element(By.NAME, "type")).select_by_value("maintenance.retention")
    form.find_element(By.XPATH, './/button[normalize-space()="Queue job"]').click()
    path = wait_for_path(driver, r"/jobs/[0-9A-Fa-f-]{36}")
    assert "Queued maintenance.retention" in flash_text(driver)

    # live.js may replace the badge and log nodes as the job moves on: look them up on every poll.
    def finished(d):
        try:
            badge = d.find_element(By.CSS_SELECTOR, "[data-job-status]")
            log = d.find_element(By.CSS_SELECTOR, "pre[data-live-job-log]")
            return badge.text.strip() == "succeeded" and "deleted" in log.text and "tone-green" in badge.get_attribute("class")
        except (StaleElementReferenceException, WebDriverException):
            return False
    try:
        wait(driver, 20).until(finished)
    finally:
        screenshot(driver, "job-detail")
    assert path_of(driver) == path  # no reload or navigation was needed

    # The job is listed, and the status filter finds it.
    driver.get(base_url + "/jobs?status=succeeded")
    assert driver.find_elements(By.CSS_SELECTOR, f'a[href="{path}"]')


# ------------------------------------------------------------------ live overview


def test_overview_events_update_live(admin_driver, base_url, api_token):
    driver = admin_driver
    driver.get(base_url + "/")
    indicator = driver.find_element(By.CSS_SELECTOR, "[data-live-status]")
    wait(driver).until(lambda d: indicator.get_attribute("data-state") == "live")
    feed = driver.find_element(By.CSS_SELECTOR, "tbody[data-live-events]")
    driver.execute_script("arguments[0].setAttribute('data-marker', 'same-page')", feed)
    rows_before = len(feed.find_elements(By.TAG_NAME, "tr"))

    name = unique("LIVE_SECRET").upper()
    created = api(base_url, api_token, "POST", "/secrets", json={"name": name, "value": "live-value"})
    assert created.status_code == 201, created.text
    try:
        wait(driver).until(lambda d: f"secret:{name}" in feed.text)
        row = feed.find_element(By.XPATH, f'./tr[td[normalize-space()="secret:{name}"]]')
        assert "secret.created" in row.text
        assert row.is_displayed()
        assert feed.get_attribute("data-marker") == "same-page", "the page was reloaded"
        assert len(feed.find_elements(By.TAG_NAME, "tr")) >= min(rows_before + 1, 15)
        assert not driver.find_elements(By.CSS_SELECTOR, "[data-empty]")
        screenshot(driver, "overview")
    finally:
        api(base_url, api_token, "DELETE", f"/secrets/{name}")


# ------------------------------------------------------------------ audit


def make_secret_history(base_url, api_token):
    """Creates and deletes a secret through the API; returns its name."""
    name = unique("AUDIT_SECRET").upper()
    assert api(base_url, api_token, "POST", "/secrets", json={"name": name, "value": "audit-value"}).status_code == 201
    assert api(base_url, api_token, "DELETE", f"/secrets/{name}").status_code == 204
    return name


def assert_not_an_error_page(driver):
    if not driver.find_elements(By.CSS_SELECTOR, "h1.page-title"):
        body = driver.find_element(By.TAG_NAME, "body").text.replace("\n", " | ")
        pytest.fail(f"{path_of(driver)} shows an error page instead of the dashboard: {body}")


def test_audit_search_form_filters_by_action(admin_driver, base_url, api_token):
    driver = admin_driver
    name = make_secret_history(base_url, api_token)
    driver.get(base_url + "/audit")
    form = driver.find_element(By.CSS_SELECTOR, 'form[action="/audit"]')
    assert Select(form.find_element(By.NAME, "outcome")).first_selected_option.text == "Any"
    fill(form, "action", "secret.*")
    submit(form)
    wait(driver).until(lambda d: "action=secret" in d.current_url)
    assert_not_an_error_page(driver)
    assert driver.find_element(By.NAME, "action").get_attribute("value") == "secret.*"
    actions = [el.text for el in driver.find_elements(By.XPATH, "//table//tbody/tr/td[3]")]
    assert {"secret.create", "secret.delete"} <= set(actions), actions
    assert all(a.startswith("secret.") for a in actions), actions
    assert name in driver.find_element(By.CSS_SELECTOR, "table").text


def test_audit_lists_secret_actions(admin_driver, base_url, api_token):
    driver = admin_driver
    name = make_secret_history(base_url, api_token)
    driver.get(base_url + "/audit?action=secret.*")
    assert_not_an_error_page(driver)
    assert driver.find_element(By.NAME, "action").get_attribute("value") == "secret.*"
    rows = driver.find_elements(By.XPATH, "//table//tbody/tr")
    actions = [row.find_element(By.XPATH, "./td[3]").text for row in rows]
    assert actions, "no audit rows for secret.*"
    assert all(a.startswith("secret.") for a in actions), actions
    mine = [row for row in rows if name in row.find_element(By.XPATH, "./td[4]").text]
    assert sorted(row.find_element(By.XPATH, "./td[3]").text for row in mine) == ["secret.create", "secret.delete"]
    for row in mine:
        assert row.find_element(By.XPATH, "./td[2]").text == ADMIN
        assert "success" in row.find_element(By.XPATH, "./td[5]").text
    assert "audit-value" not in driver.page_source, "a secret value appears in the audit log"
    screenshot(driver, "audit")


# ------------------------------------------------------------------ settings


def test_settings_instance_name_shows_in_title(admin_driver, base_url):
    driver = admin_driver
    driver.get(base_url + "/settings")
    original = driver.find_element(By.NAME, "instanceName").get_attribute("value")
    new_name = "Homelab " + uuid.uuid4().hex[:4]
    try:
        form = form_with(driver, "/settings")
        fill(form, "instanceName", new_name)
        form.find_element(By.XPATH, './/button[normalize-space()="Save settings"]').click()
        wait(driver).until(lambda d: "Settings saved" in flash_text(d))
        assert driver.title == f"Settings · {new_name}"
        assert new_name in driver.find_element(By.CSS_SELECTOR, ".sidebar .brand-name").get_attribute("textContent")
        screenshot(driver, "settings")
        driver.get(base_url + "/")
        assert driver.title.endswith(new_name)
    finally:
        driver.get(base_url + "/settings")
        form = form_with(driver, "/settings")
        fill(form, "instanceName", original or "Nebula Command")
        submit(form)
        wait(driver).until(lambda d: "Settings saved" in flash_text(d))


def test_settings_refuses_a_bad_number_with_a_message(admin_driver, base_url):
    driver = admin_driver
    driver.get(base_url + "/settings")
    form = form_with(driver, "/settings")
    before = form.find_element(By.NAME, "eventRetentionDays").get_attribute("value")
    fill(form, "eventRetentionDays", "0")
    submit(form)
    error = wait(driver).until(lambda d: d.find_element(By.CSS_SELECTOR, ".flash-error"))
    assert "3650" in error.text, error.text
    screenshot(driver, "settings-error")
    assert driver.find_element(By.NAME, "eventRetentionDays").get_attribute("value") == before, "a refused value was saved"


# ------------------------------------------------------------------ responsive layout


PAGES = ["/", "/servers", "/jobs", "/audit", "/users", "/secrets", "/settings"]


def test_pages_have_no_horizontal_overflow_on_a_phone(admin_driver, base_url, api_token):
    driver = admin_driver
    # Some content so tables are not empty: a job with a detail page and a secret.
    job = api(base_url, api_token, "POST", "/jobs", json={"type": "maintenance.retention"})
    pages = list(PAGES)
    if job.status_code in (200, 201, 202):
        pages.append(f"/jobs/{job.json()['id']}")
    set_viewport(driver, PHONE)
    assert driver.execute_script("return window.innerWidth") == PHONE[0]
    problems = []
    for page in pages:
        driver.get(base_url + page)
        scroll_width, inner_width, offenders = horizontal_overflow(driver)
        if scroll_width > inner_width + 1:
            problems.append(f"{page}: {scroll_width}px > {inner_width}px {offenders}")
        if page in ("/", "/users"):
            screenshot(driver, ("overview" if page == "/" else "users") + "-390")
    # The menu opens on a phone.
    driver.get(base_url + "/")
    toggle = driver.find_element(By.CSS_SELECTOR, "[data-nav-toggle]")
    assert toggle.is_displayed()
    toggle.click()
    wait(driver).until(lambda d: d.find_element(By.CSS_SELECTOR, "#primary-nav a[href='/secrets']").is_displayed())
    screenshot(driver, "overview-390-menu")
    # Signed out, too.
    driver.delete_all_cookies()
    driver.get(base_url + "/login")
    scroll_width, inner_width, offenders = horizontal_overflow(driver)
    if scroll_width > inner_width + 1:
        problems.append(f"/login: {scroll_width}px > {inner_width}px {offenders}")
    screenshot(driver, "login-390")
    assert not problems, "horizontal overflow at 390 px:\n" + "\n".join(problems)


def test_desktop_screenshots_of_every_page(admin_driver, base_url):
    driver = admin_driver
    for page, name in [("/", "overview-desktop"), ("/jobs", "jobs-desktop"), ("/audit", "audit-desktop"),
                       ("/users", "users-desktop"), ("/secrets", "secrets-desktop"), ("/settings", "settings-desktop"),
                       ("/servers", "servers-desktop")]:
        driver.get(base_url + page)
        assert driver.find_element(By.CSS_SELECTOR, "h1.page-title").text
        assert_no_horizontal_overflow(driver, page + " at 1280 px")
        screenshot(driver, name)
    driver.get(base_url + "/no-such-page")
    assert "404" in driver.title
    screenshot(driver, "not-found")


# ------------------------------------------------------------------ fleet


def test_fleet_shows_the_local_node_live_with_charts_and_manages_servers(admin_driver, base_url):
    driver = admin_driver
    driver.get(base_url + "/servers")
    # The machine running the server is the first node, and its card updates live (fleet.js stamps it).
    wait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".server-card[data-updated-at]"))
    card = driver.find_element(By.CSS_SELECTOR, ".server-card")
    assert re.fullmatch(r"\d+%", card.find_element(By.CSS_SELECTOR, '.meter-value[data-metric="memory"]').text)
    assert card.find_element(By.CSS_SELECTOR, "[data-server-status]").text == "online"
    screenshot(driver, "servers")

    # Its page draws the history charts with Chart.js.
    card.find_element(By.CSS_SELECTOR, "a.server-name").click()
    wait_for_path(driver, r"/servers/[0-9A-Fa-f-]{36}")
    wait(driver, 15).until(lambda d: d.execute_script(
        "return !!(window.Chart && window.Chart.getChart(document.querySelector('canvas[data-chart=cpu]')))"))
    assert "Filesystems" in driver.page_source
    screenshot(driver, "server-detail")

    # Add an SSH server with the form, see its page, then remove it.
    name = unique("nas")
    driver.get(base_url + "/servers")
    form = form_with(driver, "/servers")
    fill(form, "name", name)
    Select(form.find_element(By.NAME, "connection")).select_by_value("ssh")
    fill(form, "address", "192.0.2.44")
    fill(form, "tags", "media, lab")
    submit(form)
    path = wait_for_path(driver, r"/servers/[0-9A-Fa-f-]{36}")
    assert name in driver.find_element(By.CSS_SELECTOR, "h1.page-title").text
    assert "lab, media" in driver.page_source  # tags are kept sorted
    driver.execute_script("window.confirm = () => true")
    submit(form_with(driver, path.split("?")[0] + "/delete"))
    wait_for_path(driver, "/servers")
    assert "Server removed" in flash_text(driver)
    assert name not in driver.page_source


def local_server_path(driver, base_url):
    driver.get(base_url + "/servers")
    wait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".server-card[data-updated-at]"))
    return driver.find_element(By.CSS_SELECTOR, ".server-card a.server-name").get_attribute("href")


def test_web_terminal_runs_commands_on_the_local_node(admin_driver, base_url):
    driver = admin_driver
    driver.get(local_server_path(driver, base_url))
    driver.find_element(By.LINK_TEXT, "Terminal").click()
    wait_for_path(driver, r"/servers/[0-9A-Fa-f-]{36}/terminal")
    wait(driver, 15).until(lambda d: d.find_element(By.CSS_SELECTOR, "[data-terminal-status]").text == "connected")
    wait(driver, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".xterm-helper-textarea"))
    typing = driver.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea")
    typing.send_keys("echo nebula-$((6*7)) \u00e9t\u00e9" + Keys.ENTER)
    screen_text = "window.nebulaTerminal.selectAll(); const t = window.nebulaTerminal.getSelection(); window.nebulaTerminal.clearSelection(); return t;"
    wait(driver, 15).until(lambda d: "nebula-42 été" in d.execute_script(screen_text))
    screenshot(driver, "terminal")
    typing.send_keys("exit" + Keys.ENTER)
    wait(driver, 15).until(lambda d: d.find_element(By.CSS_SELECTOR, "[data-terminal-status]").text == "ended")


def test_power_card_needs_the_name_and_reboots_with_the_configured_command(admin_driver, base_url):
    driver = admin_driver
    path = local_server_path(driver, base_url).replace(base_url, "")
    driver.get(base_url + path)
    name = driver.find_element(By.CSS_SELECTOR, "h1.page-title").text
    form = form_with(driver, path + "/power")
    fill(form, "confirm", "not-the-name")
    form.find_element(By.CSS_SELECTOR, "button[value=reboot]").click()
    wait(driver).until(lambda d: "Type the server's name" in flash_text(d))
    form = form_with(driver, path + "/power")
    fill(form, "confirm", name)
    form.find_element(By.CSS_SELECTOR, "button[value=reboot]").click()
    # make test runs this server with NEBULA_REBOOT_COMMAND=true: harmless, and it succeeds.
    wait(driver).until(lambda d: "accepted" in flash_text(d))
    screenshot(driver, "server-power")


def test_file_browser_makes_uploads_renames_and_deletes_inside_its_root(admin_driver, base_url, tmp_path):
    driver = admin_driver
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "readme.txt").write_text("hello from the page test\n")
    os.chmod(tmp_path, 0o755)
    path = local_server_path(driver, base_url).replace(base_url, "")
    driver.get(base_url + path)
    form = form_with(driver, path)
    fill(form, "fileRoots", str(shared))
    submit(form)
    wait(driver).until(lambda d: "Saved" in flash_text(d))
    driver.find_element(By.LINK_TEXT, "Files").click()
    wait_for_path(driver, r"/servers/[0-9A-Fa-f-]{36}/files")
    assert "readme.txt" in driver.page_source
    # A folder, then an upload into the root with the progress bar (files.js), then a rename and a delete.
    form = form_with(driver, path + "/files/mkdir")
    fill(form, "name", "backups")
    submit(form)
    wait(driver).until(lambda d: "Folder backups made" in flash_text(d))
    upload = tmp_path / "notes.txt"
    upload.write_text("uploaded through the browser\n")
    driver.find_element(By.CSS_SELECTOR, "form[data-upload-form] input[type=file]").send_keys(str(upload))
    driver.find_element(By.CSS_SELECTOR, "form[data-upload-form] button[type=submit]").click()
    wait(driver).until(lambda d: d.find_elements(By.LINK_TEXT, "notes.txt"))
    assert (shared / "notes.txt").read_text() == "uploaded through the browser\n"
    screenshot(driver, "server-files")
    rename = [f for f in driver.find_elements(By.CSS_SELECTOR, "form[action$='/files/rename']")
              if f.find_element(By.NAME, "path").get_attribute("value") == "notes.txt"][0]
    fill(rename, "to", "backups/notes.txt")
    submit(rename)
    wait(driver).until(lambda d: "Renamed" in flash_text(d))
    assert (shared / "backups" / "notes.txt").exists()
    driver.execute_script("window.confirm = () => true")
    delete = [f for f in driver.find_elements(By.CSS_SELECTOR, "form[action$='/files/delete']")
              if f.find_element(By.NAME, "path").get_attribute("value") == "backups"][0]
    submit(delete)
    wait(driver).until(lambda d: "Deleted" in flash_text(d))
    assert not (shared / "backups").exists()
    # A way out of the root is refused with a readable message.
    driver.get(base_url + path + "/files?root=0&path=..%2F..%2Fetc")
    assert "cannot be shown" in driver.page_source


def test_agent_join_token_wake_on_lan_and_ssh_key_flows(admin_driver, base_url):
    driver = admin_driver
    # An agent server: a join token and the command to run on the node.
    name = unique("pi")
    driver.get(base_url + "/servers")
    form = form_with(driver, "/servers")
    fill(form, "name", name)
    submit(form)
    path = wait_for_path(driver, r"/servers/[0-9A-Fa-f-]{36}").split("?")[0]
    submit(form_with(driver, path + "/join-token"))
    command = wait(driver).until(lambda d: d.find_element(By.ID, "join-command")).text
    assert "nebula agent --server" in command and "--token" in command
    screenshot(driver, "server-join-token")
    # Wake-on-LAN: a MAC under Edit, then a packet from the control plane (to loopback here).
    driver.get(base_url + path)
    form = form_with(driver, path)
    fill(form, "macAddress", "52:54:00:aa:bb:cc")
    fill(form, "wakeBroadcast", "127.0.0.1")
    submit(form)
    wait(driver).until(lambda d: "Saved" in flash_text(d))
    submit(form_with(driver, path + "/wake"))
    wait(driver).until(lambda d: "magic packet for 52:54:00:aa:bb:cc" in flash_text(d))
    driver.execute_script("window.confirm = () => true")
    submit(form_with(driver, path + "/delete"))
    wait_for_path(driver, "/servers")

    # An SSH server: generate a key, see its authorized_keys line, and an exact failure.
    name = unique("vps")
    form = form_with(driver, "/servers")
    fill(form, "name", name)
    Select(form.find_element(By.NAME, "connection")).select_by_value("ssh")
    fill(form, "address", "127.0.0.1")
    fill(form, "port", "1")
    submit(form)
    path = wait_for_path(driver, r"/servers/[0-9A-Fa-f-]{36}").split("?")[0]
    submit(form_with(driver, path + "/ssh/key"))
    line = wait(driver).until(lambda d: d.find_element(By.ID, "authorized-keys-line")).text
    assert line.startswith("ssh-ed25519 AAAA")
    submit(form_with(driver, path + "/ssh/test"))
    wait(driver).until(lambda d: "refused" in flash_text(d))
    screenshot(driver, "server-ssh")
    driver.execute_script("window.confirm = () => true")
    submit(form_with(driver, path + "/delete"))
    wait_for_path(driver, "/servers")


# ------------------------------------------------------------------ marketplace


def test_marketplace_search_and_package_page(admin_driver, base_url):
    driver = admin_driver
    driver.get(base_url + "/marketplace")
    cards = driver.find_elements(By.CSS_SELECTOR, "#package-grid [data-package]")
    assert len(cards) >= 40
    assert_no_horizontal_overflow(driver, "/marketplace at 1280 px")
    screenshot(driver, "marketplace-desktop")
    # Search with the GET form, then open the package from its card.
    fill(driver, "q", "jelly")
    driver.find_element(By.CSS_SELECTOR, "form.filter-form button[type=submit]").click()
    wait(driver).until(lambda d: "q=jelly" in d.current_url)
    names = {card.get_attribute("data-package") for card in driver.find_elements(By.CSS_SELECTOR, "#package-grid [data-package]")}
    assert names == {"jellyfin", "jellyseerr"}
    driver.find_element(By.CSS_SELECTOR, "[data-package='jellyfin'] a.server-name").click()
    wait_for_path(driver, "/marketplace/jellyfin")
    assert "Jellyfin" in driver.find_element(By.CSS_SELECTOR, "h1.page-title").text
    assert driver.find_element(By.ID, "install")
    assert "jellyfin/jellyfin:" in driver.find_element(By.ID, "compose-file").text
    assert "MEDIA_DIR" in driver.page_source
    screenshot(driver, "marketplace-package-desktop")
    # The category filter keeps only that category.
    driver.get(base_url + "/marketplace?category=home")
    names = {card.get_attribute("data-package") for card in driver.find_elements(By.CSS_SELECTOR, "#package-grid [data-package]")}
    assert "home-assistant" in names and "plex" not in names
    driver.get(base_url + "/marketplace/sources")
    assert "No private catalogs" in driver.page_source
    screenshot(driver, "marketplace-sources-desktop")


# ------------------------------------------------------------------ containers and installs


def docker(*arguments):
    """The docker CLI against the throwaway dockerd scripts/test.sh starts (NEBULA_TEST_DOCKER_HOST)."""
    host = os.environ.get("NEBULA_TEST_DOCKER_HOST")
    if not host:
        pytest.skip("NEBULA_TEST_DOCKER_HOST is not set: run through scripts/test.sh")
    return subprocess.run(["docker", "-H", host, *arguments], check=True, capture_output=True, text=True).stdout.strip()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_containers_page_shows_live_logs_and_stops_a_container(admin_driver, base_url):
    driver = admin_driver
    name = unique("chatty").replace("_", "-")
    # It ends on SIGTERM (a shell as PID 1 ignores it otherwise), so Stop does not wait Docker's 10 s grace.
    docker("run", "-d", "--name", name, "--network", "none", "local/busybox",
           "sh", "-c", "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo line-$i; echo oops-$i >&2; sleep 0.3; done")
    try:
        driver.get(base_url + "/containers")
        wait(driver).until(lambda d: d.find_elements(By.LINK_TEXT, name))
        assert_no_horizontal_overflow(driver, "/containers at 1280 px")
        screenshot(driver, "containers-desktop")
        driver.find_element(By.LINK_TEXT, name).click()
        wait_for_path(driver, r"/servers/[0-9A-Fa-f-]{36}/containers/" + name)
        # Live logs: lines keep arriving, stderr marked apart; live usage fills in.
        wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "pre.log-view .log-stdout")) >= 3)
        wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, "pre.log-view .log-stderr"))
        first = len(driver.find_elements(By.CSS_SELECTOR, "pre.log-view .log-line"))
        wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "pre.log-view .log-line")) > first)
        wait(driver).until(lambda d: "%" in d.find_element(By.CSS_SELECTOR, "[data-stat=cpu]").text)
        screenshot(driver, "container-detail")
        driver.execute_script("window.confirm = () => true")
        stop = [f for f in driver.find_elements(By.CSS_SELECTOR, "form") if (f.get_attribute("action") or "").endswith(f"/containers/{name}/stop")][0]
        submit(stop)
        wait(driver).until(lambda d: f"{name} stopped" in flash_text(d))
        assert docker("inspect", "-f", "{{.State.Running}}", name) == "false"
    finally:
        docker("rm", "-f", name)


def test_install_an_app_from_a_private_catalog_then_uninstall_it(admin_driver, base_url, api_token, tmp_path):
    driver = admin_driver
    package = unique("hello").replace("_", "-")
    port = free_port()
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / f"{package}.yaml").write_text(f"""name: {package}
title: Hello {package}
version: 1.0.0
description: A tiny web server for the page test.
category: web
icon: "🌐"
website: https://busybox.net
compose:
  services:
    web:
      image: local/busybox
      command: ["httpd", "-f", "-p", "80", "-h", "/www"]
      ports:
        - "${{WEB_PORT}}:80"
variables:
  - name: WEB_PORT
    description: Port of the page
    type: port
    default: 8080
    required: true
health_checks:
  - type: http
    port: ${{WEB_PORT}}
    interval: 1s
    timeout: 30s
""")
    os.chmod(tmp_path, 0o755)
    os.chmod(catalog, 0o755)
    added = api(base_url, api_token, "POST", "/marketplace/sources",
                json={"name": package, "kind": "folder", "location": str(catalog)})
    assert added.status_code == 201, added.text
    # The form: the port is changed, then the install runs as a job whose log follows it.
    driver.get(base_url + f"/marketplace/{package}")
    form = form_with(driver, f"/marketplace/{package}/install")
    fill(form, "var.WEB_PORT", str(port))
    screenshot(driver, "install-form")
    submit(form)
    wait_for_path(driver, r"/jobs/[0-9A-Fa-f-]{36}")
    wait(driver, 90).until(lambda d: "is installed and healthy" in d.find_element(By.TAG_NAME, "main").text)
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
    screenshot(driver, "install-job")
    driver.get(base_url + "/apps")
    wait(driver).until(lambda d: d.find_elements(By.LINK_TEXT, package))
    assert "running" in driver.find_element(By.TAG_NAME, "main").text
    screenshot(driver, "apps-desktop")
    driver.find_element(By.LINK_TEXT, package).click()
    wait_for_path(driver, r"/apps/[0-9A-Fa-f-]{36}")
    assert f"{package}_web_1" in driver.page_source or f"{package}-web-1" in driver.page_source
    screenshot(driver, "app-detail")
    driver.execute_script("window.confirm = () => true")
    delete = [f for f in driver.find_elements(By.CSS_SELECTOR, "form") if f.find_elements(By.CSS_SELECTOR, "input[name=deleteData]")][0]
    submit(delete)
    wait_for_path(driver, r"/jobs/[0-9A-Fa-f-]{36}")
    wait(driver, 60).until(lambda d: "succeeded" in d.find_element(By.TAG_NAME, "main").text)
    driver.get(base_url + "/apps")
    assert not driver.find_elements(By.LINK_TEXT, package)


def git(repo, *arguments):
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=page", "-c", "user.email=page@test", *arguments],
                   check=True, capture_output=True, text=True)


def commit_site(repo, text):
    (repo / "index.html").write_text(text + "\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", text)


def test_deploy_a_git_repository_then_roll_back(admin_driver, base_url, tmp_path):
    driver = admin_driver
    docker("version")  # skips the test without the throwaway dockerd
    repo = tmp_path / "site"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "Dockerfile").write_text('FROM local/busybox\nCOPY index.html /www/index.html\nCMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n')
    commit_site(repo, "page v1")
    os.chmod(tmp_path, 0o755)
    name = unique("site").replace("_", "-")
    port = free_port()
    # A project through the form: the webhook secret is shown once.
    driver.get(base_url + "/deploys")
    form = form_with(driver, "/deploys")
    fill(form, "name", name)
    fill(form, "repoUrl", f"file://{repo}")
    fill(form, "containerPort", "8080")
    fill(form, "hostPort", str(port))
    submit(form)
    # The answer is the project's page itself (the secret cannot travel through a redirect).
    wait(driver).until(lambda d: "Shown only now" in d.page_source)
    deploy_action = driver.find_element(By.CSS_SELECTOR, "form[action$='/deploy']").get_attribute("action")
    project = urlsplit(deploy_action).path[: -len("/deploy")]
    # Deploy: the job page follows the build, then the release is live and answers.
    try:
        submit(form_with(driver, project + "/deploy"))
        wait_for_path(driver, r"/jobs/[0-9A-Fa-f-]{36}")
        wait(driver, 120).until(lambda d: "succeeded" in d.find_element(By.TAG_NAME, "main").text)
        assert "Step 1/" in driver.find_element(By.TAG_NAME, "main").text
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "page v1\n"
        commit_site(repo, "page v2")
        driver.get(base_url + project)
        submit(form_with(driver, project + "/deploy"))
        wait_for_path(driver, r"/jobs/[0-9A-Fa-f-]{36}")
        wait(driver, 120).until(lambda d: "succeeded" in d.find_element(By.TAG_NAME, "main").text)
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "page v2\n"
        driver.get(base_url + project)
        assert "r2 live" in driver.page_source
        screenshot(driver, "deploy-project")
        # Roll back to r1 from its row (it asks first).
        driver.execute_script("window.confirm = () => true")
        submit(form_with(driver, project + "/releases/1/rollback"))
        wait_for_path(driver, r"/jobs/[0-9A-Fa-f-]{36}")
        wait(driver, 120).until(lambda d: "succeeded" in d.find_element(By.TAG_NAME, "main").text)
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "page v1\n"
    finally:
        driver.get(base_url + project)
        driver.execute_script("window.confirm = () => true")
        deletes = driver.find_elements(By.CSS_SELECTOR, f'form[action="{project}/delete"]')
        if deletes:
            submit(deletes[0])


# ------------------------------------------------------------------ logout


def test_logout_returns_to_login(admin_driver, base_url):
    driver = admin_driver
    driver.find_element(By.CSS_SELECTOR, "form.logout-form button").click()
    wait_for_path(driver, "/login")
    assert "signed out" in flash_text(driver).lower()
    screenshot(driver, "logged-out")
    driver.get(base_url + "/")
    wait_for_path(driver, "/login")


def start_recording_receiver():
    """A loopback HTTP server standing in for ntfy: records each POST's path and Title header."""
    import http.server
    import threading

    received = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            received.append((self.path, self.headers.get("Title"), self.rfile.read(length).decode()))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def test_notification_channel_send_test_rule_and_delivery_log(admin_driver, base_url):
    driver = admin_driver
    server, received = start_recording_receiver()
    name = unique("phone").replace("_", "-")
    try:
        driver.get(base_url + "/notifications")
        form = form_with(driver, "/notifications/channels")
        # Only the chosen kind's fields show: the SMTP host is hidden for ntfy.
        Select(form.find_element(By.NAME, "kind")).select_by_value("ntfy")
        assert not form.find_element(By.NAME, "host").is_displayed()
        fill(form, "name", name)
        fill(form, "url", f"http://127.0.0.1:{server.server_address[1]}")
        fill(form, "topic", "homelab")
        submit(form)
        wait(driver).until(lambda d: "added" in flash_text(d))
        # Send test: delivered, shown in the flash and in the log.
        test_action = driver.find_element(By.XPATH, f"//tr[td[contains(., '{name}')]]//form[contains(@action, '/test')]")
        submit(test_action)
        wait(driver).until(lambda d: "delivered" in flash_text(d))
        assert received and received[-1][0] == "/homelab" and received[-1][1] == "Test notification from Nebula Command"
        log = driver.find_element(By.XPATH, "//section[.//h2[contains(., 'Delivery log')]]").text
        assert "Test notification from Nebula Command" in log and "sent" in log
        # A rule with quiet hours.
        rule = form_with(driver, "/notifications/rules")
        fill(rule, "name", name + "-night")
        fill(rule, "channels", name)
        fill(rule, "quietStart", "22:00")
        fill(rule, "quietEnd", "07:00")
        fill(rule, "timeZone", "Europe/Berlin")
        submit(rule)
        wait(driver).until(lambda d: "Rule" in flash_text(d))
        assert "22:00–07:00 Europe/Berlin" in driver.find_element(By.TAG_NAME, "main").text
        screenshot(driver, "notifications")
        # A bad time zone is explained on the page.
        rule = form_with(driver, "/notifications/rules")
        fill(rule, "name", name + "-bad")
        fill(rule, "channels", name)
        fill(rule, "quietStart", "22:00")
        fill(rule, "quietEnd", "07:00")
        fill(rule, "timeZone", "Mars/Olympus")
        submit(rule)
        wait(driver).until(lambda d: "time zone" in flash_text(d))
    finally:
        server.shutdown()
