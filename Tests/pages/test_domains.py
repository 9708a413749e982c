"""Browser walk through domains and DNS: add a manual domain, add records (and see a conflict
refused readably), import CSV with a bad row (nothing imported, every problem shown), mark the
changes published, set up dynamic DNS."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import screenshot
from test_pages import (  # noqa: F401  (fixtures are used by name)
    admin_account, admin_driver, browser, fill, flash_text, form_with, submit, unique, wait, wait_for_path,
)


def test_add_a_domain_records_import_and_publish(admin_driver, base_url):
    driver = admin_driver
    zone = unique("lab") + ".example.org"
    driver.get(base_url + "/domains")
    screenshot(driver, "domains-list")
    # A bad name is refused with a message, the form keeps what was typed.
    form = form_with(driver, "/domains")
    fill(form, "name", "not a domain")
    submit(form)
    wait(driver).until(lambda d: "not" in flash_text(d).lower())
    assert driver.find_element(By.NAME, "name").get_attribute("value") == "not a domain"
    # The manual domain.
    form = form_with(driver, "/domains")
    fill(form, "name", zone)
    Select(form.find_element(By.NAME, "provider")).select_by_value("manual")
    submit(form)
    path = wait_for_path(driver, r"/domains/[0-9A-Fa-f-]{36}").split("?", 1)[0]
    assert zone in flash_text(driver)
    # Two records, then a CNAME beside the A: refused with the reason.
    for name, kind, content in [("www", "A", "192.0.2.10"), ("@", "MX", f"10 mail.{zone}")]:
        form = form_with(driver, path + "/records")
        fill(form, "name", name)
        Select(form.find_element(By.NAME, "type")).select_by_value(kind)
        fill(form, "content", content)
        submit(form)
        wait(driver).until(lambda d: "Added" in flash_text(d))
    form = form_with(driver, path + "/records")
    fill(form, "name", "www")
    Select(form.find_element(By.NAME, "type")).select_by_value("CNAME")
    fill(form, "content", "elsewhere.example.net")
    submit(form)
    wait(driver).until(lambda d: "CNAME" in flash_text(d))
    table = driver.find_element(By.XPATH, "//table[caption='DNS records']").text
    assert f"www.{zone}" in table and "192.0.2.10" in table and "elsewhere" not in table
    assert "changes not pushed" in driver.page_source
    # A CSV import with one bad row imports nothing and says which row.
    form = form_with(driver, path + "/import")
    Select(form.find_element(By.NAME, "format")).select_by_value("csv")
    fill(form, "data", "name,type,content,ttl\nnas,A,192.0.2.20,300\nbroken,A,not-an-ip,300\n")
    submit(form)
    wait(driver).until(lambda d: "Nothing was imported" in flash_text(d))
    assert "row 3" in flash_text(driver)
    assert "192.0.2.20" not in driver.find_element(By.XPATH, "//table[caption='DNS records']").text
    screenshot(driver, "domain-import-refused")
    form = form_with(driver, path + "/import")
    Select(form.find_element(By.NAME, "format")).select_by_value("csv")
    fill(form, "data", "name,type,content,ttl\nnas,A,192.0.2.20,300\n")
    submit(form)
    wait(driver).until(lambda d: "1 added" in flash_text(d))
    # Mark as published: the pending mark goes away.
    submit(form_with(driver, path + "/push"))
    wait(driver).until(lambda d: "published" in flash_text(d).lower())
    assert "changes not pushed" not in driver.page_source
    screenshot(driver, "domain-detail")
    # Export links answer with the records.
    driver.get(base_url + path)
    csv_link = driver.find_element(By.LINK_TEXT, "Export CSV").get_attribute("href")
    assert csv_link.endswith("format=csv")
    # The list shows the domain in sync.
    driver.get(base_url + "/domains")
    row = driver.find_element(By.XPATH, f"//tr[.//a[text()='{zone}']]")
    assert "Manual" in row.text and "3" in row.text and "tracked" in row.text
    # Dynamic DNS settings save with a readable confirmation.
    form = form_with(driver, "/dns/dynamic")
    fill(form, "intervalMinutes", "15")
    submit(form)
    wait(driver).until(lambda d: "Dynamic DNS is" in flash_text(d))
    screenshot(driver, "domains-list-with-domain")
