"""Browser walk through automation: import a runbook (first with a mistake, shown at its line), dry-run
it, follow the run page, approve a gated run, pause automation, and look at the library and workflows."""

import re

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

from conftest import screenshot
from test_pages import (  # noqa: F401  (fixtures are used by name)
    admin_account, admin_driver, browser, fill, flash_text, form_with, submit, unique, wait, wait_for_path,
)


def text_of(driver, selector):
    """The text of the element matching `selector`, or "" while the live page is replacing it."""
    try:
        return driver.find_element(By.CSS_SELECTOR, selector).text
    except StaleElementReferenceException:
        return ""


def runbook_yaml(name, action="teleport"):
    return f"""name: {name}
description: Page test runbook
inputs:
  - {{ name: target, type: string, default: web-1 }}
steps:
  - name: Greet
    action: log
    params: {{ message: "hello {{{{ inputs.target }}}}" }}
  - name: Ask
    action: approval
    params: {{ message: "continue with {{{{ inputs.target }}}}?" }}
  - name: Restart
    action: {action}
    params: {{ command: restart, container: "{{{{ inputs.target }}}}" }}
"""


def test_import_dry_run_and_approve_a_runbook(admin_driver, base_url):
    driver = admin_driver
    name = unique("page-rb").replace("_", "-").lower()
    driver.get(base_url + "/runbooks")
    screenshot(driver, "runbooks-empty")
    # A mistake is shown at its place and nothing is saved.
    form = form_with(driver, "/runbooks")
    fill(form, "yaml", runbook_yaml(name))
    submit(form)
    wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".problem-list li"))
    problems = driver.find_element(By.CSS_SELECTOR, ".problem-list").text
    assert "steps[2].action" in problems and "line 13" in problems and "unknown action 'teleport'" in problems
    screenshot(driver, "runbooks-import-problems")
    # Fixed, it is imported and its page opens.
    form = form_with(driver, "/runbooks")
    fill(form, "yaml", runbook_yaml(name, "docker"))
    submit(form)
    detail = wait_for_path(driver, r"/runbooks/[0-9A-Fa-f-]{36}").split("?", 1)[0]
    assert name in driver.page_source
    screenshot(driver, "runbook-detail")
    # A dry run (the box is ticked by default) renders every step and changes nothing.
    submit(form_with(driver, detail + "/run"))
    wait_for_path(driver, r"/runs/[0-9A-Fa-f-]{36}")
    # The page reloads itself when the run ends and then shows every step's outcome.
    wait(driver, 60).until(lambda d: "would restart the container web-1" in d.page_source)
    wait(driver, 30).until(lambda d: text_of(d, "[data-run-status] .badge") == "succeeded")
    page = driver.page_source
    assert "would restart the container web-1" in page and "would wait for approval" in page
    screenshot(driver, "run-dry")
    # A real run stops at the approval; approving it lets it continue (to the docker step).
    driver.get(base_url + detail)
    form = form_with(driver, detail + "/run")
    box = form.find_element(By.NAME, "dryRun")
    if box.is_selected():
        box.click()
    fill(form, "input.target", "no-such-container")
    submit(form)
    run_path = wait_for_path(driver, r"/runs/[0-9A-Fa-f-]{36}").split("?", 1)[0]
    wait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, f"form[action='{run_path}/approve']"))
    screenshot(driver, "run-waiting-approval")
    submit(form_with(driver, run_path + "/approve"))
    wait(driver, 60).until(lambda d: "run failed" in text_of(d, "[data-run-log]") or "run succeeded" in text_of(d, "[data-run-log]"))
    log = text_of(driver, "[data-run-log]")
    assert "approved by" in log
    screenshot(driver, "run-after-approval")


def test_pause_switch_library_and_workflows(admin_driver, base_url):
    driver = admin_driver
    driver.get(base_url + "/runbooks")
    submit(form_with(driver, "/runbooks/paused"))
    driver.switch_to.alert.accept()
    wait(driver).until(lambda d: "Automation paused" in flash_text(d))
    assert "Resume automation" in driver.page_source
    screenshot(driver, "runbooks-paused")
    submit(form_with(driver, "/runbooks/paused"))
    wait(driver).until(lambda d: "Automation resumed" in flash_text(d))
    # Install a library runbook.
    submit(form_with(driver, "/runbooks/library/diagnose-dns/install"))
    wait_for_path(driver, r"/runbooks/[0-9A-Fa-f-]{36}")
    assert "diagnose-dns" in driver.page_source
    # A workflow shows its DAG as layers.
    driver.get(base_url + "/workflows")
    name = unique("page-flow").replace("_", "-").lower()
    form = form_with(driver, "/workflows")
    fill(form, "yaml", f"kind: workflow\nname: {name}\nsteps:\n  - {{ name: A, action: log, params: {{ message: a }} }}\n"
                       f"  - {{ name: B, action: log, params: {{ message: b }} }}\n"
                       f"  - {{ name: C, action: log, needs: [a, b], params: {{ message: c }} }}\n")
    submit(form)
    wait_for_path(driver, r"/runbooks/[0-9A-Fa-f-]{36}")
    layers = driver.find_element(By.CSS_SELECTOR, ".dag-layers").text
    assert re.search(r"Layer 1: a · b", layers) and "c ← a, b" in layers
    screenshot(driver, "workflow-detail")
