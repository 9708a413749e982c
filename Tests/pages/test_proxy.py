"""Browser walk through /proxy without a Caddy: the "not configured" banner, adding a route through
the form, seeing it listed, editing it (with the revision it was loaded at), a readable validation
error for a bad host, a readable message when applying cannot reach Caddy, and the ACME directory setting refused when
malformed and kept when sound."""

import re

from selenium.webdriver.common.by import By

from conftest import screenshot
from test_pages import (  # noqa: F401  (fixtures are used by name)
    admin_account, admin_driver, browser, fill, flash_text, form_with, submit, unique, wait, wait_for_path,
)


def test_add_edit_and_apply_a_route_without_caddy(admin_driver, base_url):
    driver = admin_driver
    host = unique("photos").replace("_", "-") + ".lan"
    driver.get(base_url + "/proxy")
    banner = driver.find_elements(By.CSS_SELECTOR, "[data-proxy-banner]")
    assert banner and "Caddy is not configured" in banner[0].text
    screenshot(driver, "proxy-not-configured")

    # Add a route through the form.
    form = form_with(driver, "/proxy/routes")
    fill(form, "host", host)
    fill(form, "address", "192.168.1.20:8096")
    submit(form)
    wait(driver).until(lambda d: "added" in flash_text(d))
    row = driver.find_element(By.XPATH, f'//tr[td//a[contains(., "{host}")]]')
    assert "192.168.1.20:8096" in row.text and "internal CA" in row.text and "revision 1" in row.text

    # Edit it: the form carries the revision it was loaded at.
    row.find_element(By.LINK_TEXT, "Edit").click()
    wait_for_path(driver, "/proxy")
    form = driver.find_element(By.CSS_SELECTOR, "#route-form form")
    assert form.find_element(By.NAME, "revision").get_attribute("value") == "1"
    fill(form, "address", "192.168.1.21:8096")
    submit(form)
    wait(driver).until(lambda d: "saved" in flash_text(d))
    row = driver.find_element(By.XPATH, f'//tr[td//a[contains(., "{host}")]]')
    assert "192.168.1.21:8096" in row.text and "revision 2" in row.text

    # A bad host is refused with a readable message and the typed values kept.
    form = form_with(driver, "/proxy/routes")
    fill(form, "host", "Not A Host!")
    fill(form, "address", "10.0.0.5:80")
    submit(form)
    wait(driver).until(lambda d: "problem" in flash_text(d))
    assert re.search(r"host", flash_text(driver), re.I)
    assert driver.find_element(By.CSS_SELECTOR, 'form[action="/proxy/routes"] [name="address"]').get_attribute("value") == "10.0.0.5:80"
    screenshot(driver, "proxy-invalid-host")

    # Applying without Caddy says so plainly.
    driver.get(base_url + "/proxy")
    submit(form_with(driver, "/proxy/apply"))
    wait(driver).until(lambda d: "Caddy" in flash_text(d))
    assert "not configured" in flash_text(driver) or "did not answer" in flash_text(driver)
    screenshot(driver, "proxy-apply-without-caddy")

    # Settings: a bad ACME directory is refused readably, a good one is kept and shown.
    form = form_with(driver, "/proxy/settings")
    fill(form, "acmeCA", "ca.lan/directory")
    submit(form)
    wait(driver).until(lambda d: "ACME directory" in flash_text(d))
    form = form_with(driver, "/proxy/settings")
    fill(form, "acmeCA", "https://ca.lan/acme/acme/directory")
    submit(form)
    wait(driver).until(lambda d: "saved" in flash_text(d))
    field = driver.find_element(By.CSS_SELECTOR, 'form[action="/proxy/settings"] [name="acmeCA"]')
    assert field.get_attribute("value") == "https://ca.lan/acme/acme/directory"
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", field)
    screenshot(driver, "proxy-settings-acme-directory")
