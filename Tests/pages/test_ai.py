"""Browser walk through the AI pages: add an OpenAI-compatible provider on /ai (a fake model
server started by the test on loopback, speaking the real wire format: GET /v1/models and
streamed POST /v1/chat/completions with `data:` chunks and `[DONE]`), see it answer, chat with it
on /jarvis (streamed Markdown with a highlighted code block, raw HTML shown as text), rename the
conversation, reload and find it kept; then an answer cut off midway shows its partial text with
an error banner, before and after a reload."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from conftest import screenshot
from test_pages import (  # noqa: F401  (fixtures are used by name)
    admin_account, admin_driver, browser, fill, flash_text, form_with, submit, unique, wait, wait_for_path,
)

MODEL = "fake-coder"
ANSWER = (
    "Here is a **greeting** function:\n\n"
    "```python\n"
    "def greet(name):\n"
    "    return f\"hello {name}\"\n"
    "```\n\n"
    "And <b>raw</b> HTML stays text.\n"
)
PARTIAL = "The first half of the answer arrives, and then"


class FakeOpenAI(BaseHTTPRequestHandler):
    """An OpenAI-compatible server: `/v1/models` and streamed `/v1/chat/completions`. The last user
    message steers it: CUT gets part of an answer, then the connection closes without a
    finish_reason or [DONE]; SLOW streams slowly; FAIL is refused with a 500 and an OpenAI error."""

    protocol_version = "HTTP/1.0"
    requests_seen = []

    def log_message(self, *args):
        pass

    def _json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/") == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "test"}]})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
            return
        # Validate what Nebula sends, as the real server would.
        assert body.get("stream") is True, body
        assert body.get("model") == MODEL, body
        messages = body.get("messages") or []
        assert messages and messages[-1]["role"] == "user", messages
        FakeOpenAI.requests_seen.append(body)
        asked = messages[-1]["content"]
        if "FAIL" in asked:
            self._json(500, {"error": {"message": "the fake model is overloaded", "type": "server_error", "code": None}})
            return
        cut = "CUT" in asked
        pause = 0.4 if "SLOW" in asked else 0.03
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()

        def frame(payload):
            self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
            self.wfile.flush()

        def chunk(delta, finish=None):
            frame({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": int(time.time()), "model": MODEL,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

        chunk({"role": "assistant", "content": ""})
        text = PARTIAL if cut else ANSWER
        try:
            for start in range(0, len(text), 12):
                chunk({"content": text[start:start + 12]})
                time.sleep(pause)
        except (BrokenPipeError, ConnectionResetError):
            return  # Nebula stopped reading (the user pressed Stop)
        if cut:
            self.close_connection = True
            return  # the connection drops midway: no finish_reason, no [DONE]
        chunk({}, finish="stop")
        frame({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": int(time.time()), "model": MODEL,
               "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 42, "total_tokens": 53}})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


@pytest.fixture(scope="module")
def fake_openai():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def provider_card(driver, name):
    return driver.find_element(By.CSS_SELECTOR, f'article.ai-provider[data-provider="{name}"]')


def add_provider(driver, base_url, url):
    """Adds an OpenAI-compatible provider through the /ai form; returns its name."""
    name = unique("fake").replace("_", "-")
    driver.get(base_url + "/ai")
    form = form_with(driver, "/ai/providers")
    fill(form, "name", name)
    Select(form.find_element(By.NAME, "kind")).select_by_value("openai")
    assert form.find_element(By.NAME, "baseURL").get_attribute("placeholder").endswith("/v1"), "the URL example follows the kind"
    fill(form, "baseURL", url)
    Select(form.find_element(By.NAME, "locality")).select_by_value("local")
    fill(form, "priority", "1")
    fill(form, "defaultModel", MODEL)
    submit(form)
    wait(driver).until(lambda d: f"Added {name}" in flash_text(d))
    return name


def open_jarvis_with(driver, base_url, provider):
    driver.get(base_url + "/jarvis")
    Select(driver.find_element(By.ID, "jarvis-provider")).select_by_value(provider)
    wait(driver).until(lambda d: current_text(d, "[data-jarvis-health]") == "ok")
    # The model list comes from /api/v1/ai/models, filtered by the provider.
    wait(driver).until(lambda d: any(o.get_attribute("value") == MODEL
                                     for o in d.find_elements(By.CSS_SELECTOR, "#jarvis-model option")))
    Select(driver.find_element(By.ID, "jarvis-model")).select_by_value(MODEL)


def current_text(driver, selector):
    """The text of the element `selector` finds, or "" while jarvis.js is replacing it."""
    try:
        return driver.find_element(By.CSS_SELECTOR, selector).text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def send(driver, text):
    box = driver.find_element(By.ID, "jarvis-input")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


def test_add_a_provider_then_chat_with_streamed_markdown_kept_after_reload(admin_driver, base_url, fake_openai):
    driver = admin_driver
    # A wrong address is refused readably, the form keeps what was typed.
    driver.get(base_url + "/ai")
    form = form_with(driver, "/ai/providers")
    fill(form, "name", "Not A Name!")
    Select(form.find_element(By.NAME, "kind")).select_by_value("openai")
    fill(form, "baseURL", fake_openai)
    submit(form)
    wait(driver).until(lambda d: "name" in flash_text(d).lower())
    assert form_with(driver, "/ai/providers").find_element(By.NAME, "baseURL").get_attribute("value") == fake_openai

    name = add_provider(driver, base_url, fake_openai)
    card = provider_card(driver, name)
    assert "ok" in card.find_element(By.CSS_SELECTOR, ".ai-provider-head .badge").text
    assert "1 model" in card.text and "local" in card.text and "circuit closed" in card.text
    assert card.find_element(By.LINK_TEXT, name).get_attribute("href").split("/ai/providers/", 1)[1]
    # Check now answers again, with the latency.
    submit(card.find_element(By.CSS_SELECTOR, f'form[action$="/check"]'))
    wait(driver).until(lambda d: f"{name} answered" in flash_text(d))
    card = provider_card(driver, name)
    assert card.find_element(By.CSS_SELECTOR, ".ai-provider-head .badge.tone-green").text == "ok"
    assert " ms" in card.text
    screenshot(driver, "ai-providers")

    # Jarvis: the answer streams in and is rendered as Markdown with a highlighted code block.
    open_jarvis_with(driver, base_url, name)
    send(driver, "Write a greeting function in Python")
    answer = wait(driver, 20).until(lambda d: d.find_element(By.CSS_SELECTOR, ".jarvis-msg-assistant"))
    wait(driver, 20).until(lambda d: "first token" in answer.find_element(By.CSS_SELECTOR, ".jarvis-msg-meta").text)
    meta = answer.find_element(By.CSS_SELECTOR, ".jarvis-msg-meta").text
    assert f"{name}/{MODEL}" in meta and "11 + 42 tokens" in meta, meta
    code = answer.find_element(By.CSS_SELECTOR, ".jarvis-msg-body pre > code.hljs")
    assert "def greet(name):" in code.text
    assert code.find_elements(By.CSS_SELECTOR, "span[class^='hljs-']"), "the code block is not highlighted"
    assert answer.find_element(By.CSS_SELECTOR, ".jarvis-msg-body strong").text == "greeting"
    # Raw HTML from the model is shown, not parsed.
    assert not answer.find_elements(By.CSS_SELECTOR, ".jarvis-msg-body b")
    assert "<b>raw</b> HTML stays text" in answer.text
    assert not answer.find_elements(By.CSS_SELECTOR, ".jarvis-msg-error")
    path = wait_for_path(driver, "/jarvis")
    assert "?c=" in path, path
    assert FakeOpenAI.requests_seen[-1]["messages"][-1]["content"] == "Write a greeting function in Python"
    screenshot(driver, "jarvis-answer")

    # Rename the conversation.
    driver.find_element(By.CSS_SELECTOR, '[data-jarvis-action="rename"]').click()
    field = driver.find_element(By.ID, "jarvis-rename-input")
    field.clear()
    field.send_keys("Greeting helper")
    field.send_keys(Keys.ENTER)
    # The list is redrawn after the rename: read it afresh each time.
    wait(driver).until(lambda d: current_text(d, ".jarvis-conversation[aria-current='page']").startswith("Greeting helper"))

    # Reload: the conversation is kept, rendered the same way.
    driver.refresh()
    assert driver.find_element(By.CSS_SELECTOR, "[data-jarvis-title]").text == "Greeting helper"
    current = driver.find_element(By.CSS_SELECTOR, ".jarvis-conversation[aria-current='page']")
    assert "2 messages" in current.text
    user = driver.find_element(By.CSS_SELECTOR, ".jarvis-msg-user")
    assert "Write a greeting function in Python" in user.text
    answer = driver.find_element(By.CSS_SELECTOR, ".jarvis-msg-assistant")
    wait(driver).until(lambda d: answer.find_elements(By.CSS_SELECTOR, "pre > code.hljs span[class^='hljs-']"))
    assert f"{name}/{MODEL}" in answer.find_element(By.CSS_SELECTOR, ".jarvis-msg-meta").text
    assert not answer.find_elements(By.CSS_SELECTOR, ".jarvis-msg-body b")
    # A follow-up in the same conversation sends the history.
    send(driver, "Thanks")
    wait(driver, 20).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".jarvis-msg-assistant .jarvis-msg-meta")) == 2
                           and "first token" in d.find_elements(By.CSS_SELECTOR, ".jarvis-msg-assistant .jarvis-msg-meta")[1].text)
    sent = FakeOpenAI.requests_seen[-1]["messages"]
    assert [m["role"] for m in sent[-3:]] == ["user", "assistant", "user"], sent
    screenshot(driver, "jarvis")

    # The usage table counts the answers.
    driver.get(base_url + "/ai")
    usage = driver.find_element(By.XPATH, "//table[caption='AI usage']").text
    assert name in usage and MODEL in usage


def test_an_answer_cut_off_midway_shows_the_partial_text_and_an_error(admin_driver, base_url, fake_openai):
    driver = admin_driver
    name = add_provider(driver, base_url, fake_openai)
    open_jarvis_with(driver, base_url, name)
    send(driver, "Please CUT this answer short")
    answer = wait(driver, 20).until(lambda d: d.find_element(By.CSS_SELECTOR, ".jarvis-msg-assistant"))
    banner = wait(driver, 20).until(lambda d: answer.find_element(By.CSS_SELECTOR, ".jarvis-msg-error"))
    assert banner.text.startswith("Cut off:"), banner.text
    assert banner.get_attribute("role") == "alert"
    assert PARTIAL in answer.find_element(By.CSS_SELECTOR, ".jarvis-msg-body").text
    assert "has-error" in answer.get_attribute("class")
    assert "first token" not in answer.text, "a cut-off answer must not look finished"
    assert not driver.find_element(By.CSS_SELECTOR, '[data-jarvis-action="stop"]').is_displayed()
    screenshot(driver, "jarvis-cut-off")
    # The partial answer is saved with its error.
    wait_for_path(driver, "/jarvis")
    driver.refresh()
    answer = driver.find_element(By.CSS_SELECTOR, ".jarvis-msg-assistant")
    assert PARTIAL in answer.find_element(By.CSS_SELECTOR, ".jarvis-msg-body").text
    assert answer.find_element(By.CSS_SELECTOR, ".jarvis-msg-error").text.startswith("Cut off:")


def test_stop_keeps_the_partial_answer_and_an_error_before_the_first_token_is_shown(admin_driver, base_url, fake_openai):
    driver = admin_driver
    name = add_provider(driver, base_url, fake_openai)
    open_jarvis_with(driver, base_url, name)
    # Stop: what arrived stays, marked as stopped, never as finished.
    send(driver, "Answer SLOW please")
    stop = driver.find_element(By.CSS_SELECTOR, '[data-jarvis-action="stop"]')
    wait(driver).until(lambda d: stop.is_displayed())
    answer = driver.find_element(By.CSS_SELECTOR, ".jarvis-msg-assistant")
    wait(driver, 20).until(lambda d: "Here is" in answer.find_element(By.CSS_SELECTOR, ".jarvis-msg-body").text)
    stop.click()
    note = wait(driver).until(lambda d: answer.find_element(By.CSS_SELECTOR, ".jarvis-msg-note"))
    assert note.text.startswith("Stopped"), note.text
    assert "Here is" in answer.find_element(By.CSS_SELECTOR, ".jarvis-msg-body").text
    assert "first token" not in answer.text
    wait(driver).until(lambda d: not stop.is_displayed())
    # A provider that refuses before answering: the API's message is shown on the answer.
    send(driver, "Please FAIL")
    answers = lambda d: d.find_elements(By.CSS_SELECTOR, ".jarvis-msg-assistant")
    wait(driver, 20).until(lambda d: len(answers(d)) == 2 and answers(d)[1].find_elements(By.CSS_SELECTOR, ".jarvis-msg-error"))
    banner = answers(driver)[1].find_element(By.CSS_SELECTOR, ".jarvis-msg-error")
    assert not banner.text.startswith("Cut off"), banner.text
    assert "overloaded" in banner.text or name in banner.text, banner.text
    assert answers(driver)[1].find_element(By.CSS_SELECTOR, ".jarvis-msg-body").text == ""
    screenshot(driver, "jarvis-stopped-and-refused")
