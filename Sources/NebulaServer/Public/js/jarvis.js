// AI pages.
//
// /ai: the "Add a provider" form shows an example base URL for the chosen kind
//   (select[data-ai-kind] options carry data-example-url).
//
// /jarvis ([data-jarvis="app"], data-csrf, data-conversation): streams answers from
//   POST /api/v1/ai/chat (Server-Sent Events read with fetch + ReadableStream), renders Markdown
//   with marked and colours code with highlight.js when the Debian libraries are loaded (plain
//   text otherwise), renames and deletes conversations through /api/v1/ai/conversations.
//   Model output is never trusted: raw HTML in it is shown as text, links other than http(s),
//   mailto and same-site paths become plain text, and the rendered tree keeps only an allowlist
//   of elements and attributes.

// ------------------------------------------------------------------ provider form

for (const select of document.querySelectorAll("select[data-ai-kind]")) {
  const input = select.form && select.form.querySelector('input[name="baseURL"]');
  if (!input) continue;
  const sync = () => {
    const option = select.selectedOptions[0];
    if (option && option.dataset.exampleUrl) input.placeholder = option.dataset.exampleUrl;
  };
  select.addEventListener("change", sync);
  sync();
}

// ------------------------------------------------------------------ Markdown

const ALLOWED_TAGS = new Set([
  "P", "BR", "HR", "EM", "STRONG", "DEL", "S", "CODE", "PRE", "BLOCKQUOTE", "UL", "OL", "LI", "A", "SPAN",
  "H1", "H2", "H3", "H4", "H5", "H6", "TABLE", "THEAD", "TBODY", "TR", "TH", "TD", "INPUT",
]);
const ALLOWED_ATTRIBUTES = { A: ["href", "title", "rel", "target"], CODE: ["class"], SPAN: ["class"], OL: ["start"],
  TH: ["align"], TD: ["align"], INPUT: ["type", "checked", "disabled"] };

function escapeHTML(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** The link target if it is safe to follow: http(s), mailto, or a path on this site. */
function safeHref(raw) {
  if (!raw) return null;
  const href = String(raw).trim();
  if (/^(https?:|mailto:)/i.test(href)) return href;
  if (/^[/#?]/.test(href) && !href.startsWith("//") && !href.startsWith("/\\")) return href;
  return null;
}

const markdown = (() => {
  const lib = window.marked;
  if (!lib || typeof lib.parse !== "function" || typeof lib.use !== "function") return null;
  lib.use({
    gfm: true,
    breaks: false,
    mangle: false,
    headerIds: false,
    renderer: {
      // Raw HTML from the model is shown as text, never parsed.
      html(html) { return escapeHTML(typeof html === "string" ? html : (html && html.text) || ""); },
      link(href, title, text) {
        const safe = safeHref(href);
        if (!safe) return text;
        const titled = title ? ` title="${escapeHTML(title)}"` : "";
        return `<a href="${escapeHTML(safe)}"${titled} rel="noopener noreferrer" target="_blank">${text}</a>`;
      },
      // Images would load from anywhere (and CSP blocks them): show a link instead.
      image(href, title, text) {
        const safe = safeHref(href);
        const label = escapeHTML(text || href || "image");
        return safe ? `<a href="${escapeHTML(safe)}" rel="noopener noreferrer" target="_blank">${label}</a>` : label;
      },
    },
  });
  return lib;
})();

/** A fragment with only allowlisted elements and attributes (defence in depth after marked). */
function sanitize(html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  const walk = (node) => {
    for (const child of [...node.childNodes]) {
      if (child.nodeType === Node.COMMENT_NODE) { child.remove(); continue; }
      if (child.nodeType !== Node.ELEMENT_NODE) continue;
      if (!ALLOWED_TAGS.has(child.tagName)) {
        child.replaceWith(document.createTextNode(child.textContent || ""));
        continue;
      }
      const keep = ALLOWED_ATTRIBUTES[child.tagName] || [];
      for (const attribute of [...child.attributes]) {
        if (!keep.includes(attribute.name)) child.removeAttribute(attribute.name);
      }
      if (child.tagName === "A") {
        const safe = safeHref(child.getAttribute("href"));
        if (!safe) child.removeAttribute("href");
      }
      if (child.tagName === "INPUT" && child.getAttribute("type") !== "checkbox") { child.remove(); continue; }
      walk(child);
    }
  };
  walk(template.content);
  return template.content;
}

function highlight(element) {
  const hljs = window.hljs;
  for (const code of element.querySelectorAll("pre > code")) {
    if (hljs && !code.classList.contains("hljs")) {
      try {
        if (typeof hljs.highlightElement === "function") hljs.highlightElement(code);
        else if (typeof hljs.highlightBlock === "function") hljs.highlightBlock(code);
      } catch { /* an unknown language stays plain */ }
    }
    code.classList.add("hljs");
    const pre = code.parentElement;
    if (pre && !pre.querySelector(".jarvis-copy") && navigator.clipboard) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "jarvis-copy";
      button.textContent = "Copy";
      button.addEventListener("click", () => {
        navigator.clipboard.writeText(code.textContent || "").then(() => {
          button.textContent = "Copied";
          setTimeout(() => { button.textContent = "Copy"; }, 1500);
        }, () => { button.textContent = "Copy failed"; });
      });
      pre.append(button);
    }
  }
}

/** Renders `text` into `element`: Markdown when marked is loaded, plain text otherwise. */
function render(element, text, { final = true } = {}) {
  if (!markdown) {
    element.textContent = text;
    element.classList.add("is-plain");
    return;
  }
  try {
    element.replaceChildren(sanitize(markdown.parse(text)));
  } catch {
    element.textContent = text;
    element.classList.add("is-plain");
    return;
  }
  if (final) highlight(element);
}

// ------------------------------------------------------------------ chat

const app = document.querySelector('[data-jarvis="app"]');
if (app) startChat(app);

function startChat(app) {
  const csrf = app.dataset.csrf || "";
  const list = app.querySelector("[data-jarvis-messages]");
  const welcome = app.querySelector("[data-jarvis-welcome]");
  const form = app.querySelector("[data-jarvis-composer]");
  const input = form.querySelector("textarea");
  const providerSelect = form.querySelector("[data-jarvis-provider]");
  const modelSelect = form.querySelector("[data-jarvis-model]");
  const healthBadge = form.querySelector("[data-jarvis-health]");
  const sendButton = form.querySelector('[data-jarvis-action="send"]');
  const stopButton = form.querySelector('[data-jarvis-action="stop"]');
  const titleElement = app.querySelector("[data-jarvis-title]");
  const renameForm = app.querySelector("[data-jarvis-rename]");
  const ownedActions = app.querySelector("[data-jarvis-owned]");
  const conversationList = app.querySelector("[data-jarvis-conversations]");
  const emptyList = app.querySelector("[data-jarvis-empty]");
  let models = [];
  let controller = null;

  const headers = (json = true) => ({ ...(json ? { "Content-Type": "application/json" } : {}), "X-CSRF-Token": csrf, Accept: "application/json" });

  // Saved answers: Markdown, highlighted.
  for (const body of list.querySelectorAll("[data-markdown]")) render(body, body.textContent || "");
  scrollToEnd();

  // ---- pickers

  function showHealth() {
    const option = providerSelect.selectedOptions[0];
    const health = option ? option.dataset.health : "auto";
    const words = { ok: ["ok", "green"], down: ["down", "red"], unknown: ["not checked", "grey"], auto: ["local first", "blue"] };
    const [word, tone] = words[health] || [health, "grey"];
    healthBadge.textContent = word;
    healthBadge.className = `badge tone-${tone}`;
    healthBadge.title = option && option.value !== "auto" ? `${option.value}: ${word}` : "auto: local providers first";
  }

  function fillModels() {
    const provider = providerSelect.value;
    const wanted = modelSelect.value || app.dataset.model || "";
    const seen = new Set();
    const options = [new Option(provider === "auto" ? "default (first that answers)" : "default", "")];
    for (const model of models) {
      if (provider !== "auto" && model.provider !== provider) continue;
      if (seen.has(model.name)) continue;
      seen.add(model.name);
      options.push(new Option(provider === "auto" ? `${model.name} · ${model.provider}` : model.name, model.name));
    }
    if (wanted && !seen.has(wanted)) options.push(new Option(wanted, wanted));
    modelSelect.replaceChildren(...options);
    modelSelect.value = wanted;
  }

  providerSelect.addEventListener("change", () => { showHealth(); fillModels(); });
  showHealth();
  fetch("/api/v1/ai/models", { headers: { Accept: "application/json" }, credentials: "same-origin" })
    .then((response) => (response.ok ? response.json() : { items: [] }))
    .then((page) => { models = page.items || []; fillModels(); })
    .catch(() => {});

  // ---- composer

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || controller) return;
    input.value = "";
    send(text);
  });
  stopButton.addEventListener("click", () => { if (controller) controller.abort(); });

  function setBusy(busy) {
    stopButton.hidden = !busy;
    sendButton.disabled = busy;
    app.classList.toggle("is-streaming", busy);
  }

  function scrollToEnd() {
    list.scrollTop = list.scrollHeight;
  }

  function message(role) {
    if (welcome) welcome.hidden = true;
    const article = document.createElement("article");
    article.className = `jarvis-msg jarvis-msg-${role}`;
    article.dataset.role = role;
    const author = document.createElement("div");
    author.className = "jarvis-msg-author";
    author.textContent = role === "user" ? "You" : "Jarvis";
    const body = document.createElement("div");
    body.className = "jarvis-msg-body";
    article.append(author, body);
    list.insertBefore(article, welcome || null);
    return { article, body };
  }

  function banner(article, kind, text) {
    const element = document.createElement("div");
    element.className = kind === "error" ? "jarvis-msg-error" : "jarvis-msg-note";
    element.setAttribute("role", kind === "error" ? "alert" : "status");
    element.textContent = text;
    const meta = article.querySelector(".jarvis-msg-meta");
    if (meta) meta.before(element);
    else article.append(element);
    article.classList.toggle("has-error", kind === "error");
  }

  function metaLine(article, parts) {
    let meta = article.querySelector(".jarvis-msg-meta");
    if (!meta) {
      meta = document.createElement("div");
      meta.className = "jarvis-msg-meta";
      article.append(meta);
    }
    meta.textContent = parts.filter(Boolean).join(" · ");
  }

  const ms = (value) => (value == null ? null : value < 1000 ? `${value} ms` : `${(value / 1000).toFixed(1)} s`);

  async function apiError(response) {
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) return body.error.message;
    } catch { /* not JSON */ }
    return `The server answered ${response.status} ${response.statusText}.`;
  }

  async function send(text) {
    const user = message("user");
    user.body.textContent = text;
    const answer = message("assistant");
    answer.article.classList.add("is-pending");
    answer.body.innerHTML = '<span class="jarvis-typing" aria-label="Waiting for the answer"><span></span><span></span><span></span></span>';
    scrollToEnd();
    controller = new AbortController();
    setBusy(true);

    let received = "";
    let ended = false;
    let route = null;
    let usage = null;
    let frame = 0;
    const paint = () => {
      frame = 0;
      render(answer.body, received, { final: false });
      const nearEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 160;
      if (nearEnd) scrollToEnd();
    };
    const handle = (event, data) => {
      switch (event) {
        case "start":
          route = data;
          if (data.conversationId && app.dataset.conversation !== data.conversationId) {
            app.dataset.conversation = data.conversationId;
            history.replaceState(null, "", `/jarvis?c=${encodeURIComponent(data.conversationId)}`);
            ownedActions.hidden = false;
          }
          metaLine(answer.article, [`${data.provider}/${data.model}`, "writing…"]);
          break;
        case "delta":
          if (typeof data.text === "string") {
            if (!received) { answer.article.classList.remove("is-pending"); answer.article.classList.add("is-live"); }
            received += data.text;
            if (!frame) frame = requestAnimationFrame(paint);
          }
          break;
        case "tool_call":
          banner(answer.article, "note", `Asked to call the tool ${data.name || "?"}.`);
          break;
        case "usage":
          usage = data;
          break;
        case "done": {
          ended = true;
          const tokens = data.usage || usage;
          metaLine(answer.article, [
            route && `${route.provider}/${route.model}`,
            data.firstTokenMs != null && `first token ${ms(data.firstTokenMs)}`,
            tokens && `${tokens.promptTokens} + ${tokens.completionTokens} tokens`,
            `${ms(data.durationMs)} in all`,
          ]);
          break;
        }
        case "error":
          ended = true;
          finishText();
          banner(answer.article, "error", received
            ? `Cut off: ${data.message || "the provider stopped answering."} The text above is incomplete.`
            : `No answer: ${data.message || "the provider failed."}`);
          metaLine(answer.article, [route && `${route.provider}/${route.model}`, "incomplete"]);
          break;
        default:
          break;
      }
    };
    const finishText = () => {
      if (frame) { cancelAnimationFrame(frame); frame = 0; }
      answer.article.classList.remove("is-pending", "is-live");
      if (received) render(answer.body, received);
      else answer.body.replaceChildren();
    };

    try {
      const response = await fetch("/api/v1/ai/chat", {
        method: "POST",
        headers: { ...headers(), Accept: "text/event-stream" },
        credentials: "same-origin",
        signal: controller.signal,
        body: JSON.stringify({
          provider: providerSelect.value || "auto",
          model: modelSelect.value || undefined,
          message: text,
          conversationId: app.dataset.conversation || undefined,
          stream: true,
        }),
      });
      if (!response.ok || !response.body) {
        finishText();
        banner(answer.article, "error", response.ok ? "The browser cannot read a streamed answer." : await apiError(response));
        return;
      }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          dispatch(block, handle);
        }
      }
      if (buffer.trim()) dispatch(buffer, handle);
      if (!ended) {
        finishText();
        metaLine(answer.article, [route && `${route.provider}/${route.model}`, "incomplete"]);
        banner(answer.article, "error", received
          ? "Cut off: the connection closed before the answer was finished. The text above is incomplete."
          : "No answer: the connection closed before the model said anything.");
      } else if (!answer.article.classList.contains("has-error")) {
        finishText();
      }
    } catch (error) {
      finishText();
      if (route) metaLine(answer.article, [`${route.provider}/${route.model}`, error && error.name === "AbortError" ? "stopped" : "incomplete"]);
      if (error && error.name === "AbortError") {
        banner(answer.article, "note", received ? "Stopped: you stopped this answer; the text above is incomplete." : "Stopped before the answer began.");
      } else {
        banner(answer.article, "error", `${received ? "Cut off" : "No answer"}: the connection to Nebula broke (${error && error.message ? error.message : error}).`);
      }
    } finally {
      controller = null;
      setBusy(false);
      scrollToEnd();
      input.focus();
      refreshConversations();
    }
  }

  /** One SSE block: `event:` and `data:` lines; comments (heartbeats) are ignored. */
  function dispatch(block, handle) {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return;
    let parsed;
    try { parsed = JSON.parse(data.join("\n")); } catch { return; }
    handle(event, parsed);
  }

  // ---- conversations

  async function refreshConversations() {
    try {
      const response = await fetch("/api/v1/ai/conversations", { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) return;
      const page = await response.json();
      const current = app.dataset.conversation;
      const items = (page.items || []).map((item) => {
        const li = document.createElement("li");
        const link = document.createElement("a");
        link.className = "jarvis-conversation";
        link.href = `/jarvis?c=${encodeURIComponent(item.id)}`;
        link.dataset.id = item.id;
        if (item.id === current) {
          link.setAttribute("aria-current", "page");
          if (titleElement) titleElement.textContent = item.title;
        }
        const title = document.createElement("span");
        title.className = "jarvis-conversation-title";
        title.textContent = item.title;
        const meta = document.createElement("span");
        meta.className = "jarvis-conversation-meta";
        meta.textContent = item.messageCount === 1 ? "1 message" : `${item.messageCount} messages`;
        link.append(title, meta);
        li.append(link);
        return li;
      });
      conversationList.replaceChildren(...items);
      if (emptyList) emptyList.hidden = items.length > 0;
    } catch { /* the list refreshes on the next answer or visit */ }
  }

  function notice(text) {
    let element = app.querySelector(".jarvis-notice");
    if (!element) {
      element = document.createElement("div");
      element.className = "flash flash-error jarvis-notice";
      element.setAttribute("role", "alert");
      app.querySelector(".jarvis-chat-head").after(element);
    }
    element.textContent = text;
  }

  app.querySelector('[data-jarvis-action="rename"]')?.addEventListener("click", () => {
    renameForm.hidden = false;
    titleElement.hidden = true;
    ownedActions.hidden = true;
    const field = renameForm.querySelector("input");
    field.value = titleElement.textContent.trim();
    field.focus();
    field.select();
  });
  const closeRename = () => {
    renameForm.hidden = true;
    titleElement.hidden = false;
    ownedActions.hidden = !app.dataset.conversation;
  };
  app.querySelector('[data-jarvis-action="rename-cancel"]')?.addEventListener("click", closeRename);
  renameForm?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = app.dataset.conversation;
    const title = renameForm.querySelector("input").value.trim();
    if (!id || !title) return;
    const response = await fetch(`/api/v1/ai/conversations/${encodeURIComponent(id)}`, {
      method: "PUT", headers: headers(), credentials: "same-origin", body: JSON.stringify({ title }),
    }).catch(() => null);
    if (!response || !response.ok) {
      notice(response ? `Not renamed: ${await apiError(response)}` : "Not renamed: Nebula cannot be reached.");
      return;
    }
    titleElement.textContent = title;
    closeRename();
    refreshConversations();
  });

  app.querySelector('[data-jarvis-action="delete"]')?.addEventListener("click", async () => {
    const id = app.dataset.conversation;
    if (!id || !window.confirm(`Delete “${titleElement.textContent.trim()}” and all its messages?`)) return;
    const response = await fetch(`/api/v1/ai/conversations/${encodeURIComponent(id)}`, {
      method: "DELETE", headers: headers(false), credentials: "same-origin",
    }).catch(() => null);
    if (!response || !response.ok) {
      notice(response ? `Not deleted: ${await apiError(response)}` : "Not deleted: Nebula cannot be reached.");
      return;
    }
    window.location.assign("/jarvis");
  });
}
