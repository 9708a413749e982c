"""Browser walk through Jarvis agents: with a fake OpenAI-compatible model on loopback that first
calls the `list_servers` tool (arguments streamed in two pieces, `finish_reason: tool_calls`) and
then answers slowly, create an agent on /ai/agents, ask it something, and watch its execution page
follow the run by itself (live reload on `ai.execution_updated`) until it has succeeded, with the
tool call, its result and the answer shown."""

import json
import threading
import time
from http.server import ThreadingHTTPServer

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import screenshot
from test_ai import MODEL, FakeOpenAI, add_provider
from test_pages import (  # noqa: F401  (fixtures are used by name)
    admin_account, admin_driver, browser, fill, flash_text, form_with, submit, unique, wait, wait_for_path,
)

ANSWER = "All your servers answered: the control plane's own node is online."


class FakeToolModel(FakeOpenAI):
    """test_ai's fake model (its /v1/models and error answers), answering chats differently:
    a `list_servers` tool call when the conversation has no tool result yet, otherwise a final
    answer in slow pieces (so the run is seen going on)."""

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
            return
        messages = body.get("messages") or []
        tools = [t["function"]["name"] for t in body.get("tools") or []]
        if "list_servers" not in tools:
            self._json(400, {"error": {"message": f"the agent sent no list_servers tool: {tools}", "type": "invalid_request_error"}})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()

        def chunk(delta, finish=None):
            payload = {"id": "chatcmpl-a", "object": "chat.completion.chunk", "created": int(time.time()), "model": MODEL,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
            self.wfile.flush()

        chunk({"role": "assistant", "content": ""})
        if messages and messages[-1]["role"] == "tool":
            for start in range(0, len(ANSWER), 10):
                chunk({"content": ANSWER[start:start + 10]})
                time.sleep(0.15)
            chunk({}, finish="stop")
        else:
            call = {"index": 0, "id": "call_servers", "type": "function", "function": {"name": "list_servers", "arguments": "{"}}
            chunk({"tool_calls": [call]})
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]})
            chunk({}, finish="tool_calls")
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def text_of(driver, css):
    """The text of the first `css` element; "" while the page is being reloaded by live.js."""
    try:
        return driver.find_element(By.CSS_SELECTOR, css).text
    except StaleElementReferenceException:
        return ""


@pytest.fixture(scope="module")
def fake_tool_model():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeToolModel)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_an_agent_calls_a_tool_and_its_execution_page_follows_the_run(admin_driver, base_url, fake_tool_model):
    driver = admin_driver
    provider = add_provider(driver, base_url, fake_tool_model)
    name = unique("doctor").replace("_", "-")

    # Create the agent with one tool.
    driver.get(base_url + "/ai/agents")
    form = form_with(driver, "/ai/agents")
    fill(form, "name", name)
    fill(form, "systemPrompt", "You are Jarvis. Look with the tools before you answer.")
    Select(form.find_element(By.NAME, "provider")).select_by_value(provider)
    fill(form, "model", MODEL)
    for box in form.find_elements(By.CSS_SELECTOR, 'input[type="checkbox"][name^="tool."]'):
        if box.is_selected() != (box.get_attribute("name") == "tool.list_servers"):
            box.click()
    submit(form)
    wait(driver).until(lambda d: f"Ask {name}" in text_of(d, "main"))
    screenshot(driver, "agents")

    # Ask it; the execution page shows the run and follows it to the end.
    ask = next(f for f in driver.find_elements(By.CSS_SELECTOR, 'form[action$="/run"]') if f"Ask {name}" in f.text)
    fill(ask, "message", "Are my servers up?")
    submit(ask)
    wait_for_path(driver, r"/ai/executions/[0-9A-Fa-f-]+")
    # The page reloads itself while the run goes on (and once more for the last update).
    wait(driver, 60).until(lambda d: "succeeded" in text_of(d, ".card .badge"))
    shown = lambda t: ANSWER in t and "list_servers" in t and "Step 1" in t and "Step 2" in t  # noqa: E731
    page = wait(driver).until(lambda d: (lambda t: t if shown(t) else False)(text_of(d, "main")))
    assert shown(page), page
    screenshot(driver, "agent-execution")
