// Nebula Command — live parts of the dashboard. A plain ES module, no dependencies.
//
// Everything here is an enhancement: pages are complete without it, and each feature checks for
// what it needs (EventSource, the elements it drives) and does nothing when that is missing.
//
//   <time datetime>             relative text ("5 min ago"), refreshed every 30 s; absolute in title
//   form[data-confirm]          confirm() before submitting
//   [data-live-events]          <tbody>/<ul> fed from /api/v1/events/stream (data-types,
//                               data-known-types, data-max); removes [data-empty] in the same card
//   [data-live-count="type"]    a number that goes up by one per event of that type
//   [data-live-status]          connection indicator ("live" / "reconnecting" / "offline")
//   [data-live-job-log]         a job's log from /api/v1/jobs/<data-job-id>/log, with
//                               [data-job-status="<id>"] badges and [data-job-progress="<id>"] bars
//   [data-nav-toggle]           the menu button of the narrow-screen top bar
//   [data-live-reload="type"]   reloads the page (keeping the scroll position) when an event of
//                               that type about data-live-subject arrives (at most once a second)

document.documentElement.classList.add("js");

const EVENTS_URL = "/api/v1/events/stream";
const DEFAULT_MAX_ROWS = 20;

/** Runs `fn`, logging instead of throwing, so one broken feature never stops the others. */
function safely(name, fn) {
  try {
    fn();
  } catch (error) {
    console.warn(`live.js: ${name} failed`, error);
  }
}

/** Comma list in an attribute → trimmed, non-empty, de-duplicated names. */
function list(value) {
  return [...new Set((value || "").split(",").map((s) => s.trim()).filter(Boolean))];
}

function parseJSON(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- relative time

const absoluteFormat = (() => {
  try {
    return new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  } catch {
    return null;
  }
})();

/** "just now", "5 min ago", "2 h ago", "3 d ago"; older than 30 days → the date. */
export function relativeTime(date, now = Date.now()) {
  const seconds = Math.round((now - date.getTime()) / 1000);
  const future = seconds < 0;
  const s = Math.abs(seconds);
  let text;
  if (s < 45) return "just now";
  if (s < 3600) text = `${Math.max(1, Math.round(s / 60))} min`;
  else if (s < 86400) text = `${Math.round(s / 3600)} h`;
  else if (s < 86400 * 30) text = `${Math.round(s / 86400)} d`;
  else return date.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
  return future ? `in ${text}` : `${text} ago`;
}

function updateTime(el) {
  const date = new Date(el.getAttribute("datetime"));
  if (Number.isNaN(date.getTime())) return;
  if (!el.dataset.absolute) {
    // Keep what the server wrote (UTC) and add the viewer's local time.
    const server = el.textContent.trim();
    const local = absoluteFormat ? absoluteFormat.format(date) : date.toString();
    el.dataset.absolute = server && server !== local ? `${local} (${server})` : local;
  }
  el.title = el.dataset.absolute;
  el.textContent = relativeTime(date);
}

function updateTimes(root = document) {
  root.querySelectorAll("time[datetime]").forEach(updateTime);
}

// ---------------------------------------------------------------- confirmations

function initConfirmations() {
  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target;
      if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) return;
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true,
  );
}

// ---------------------------------------------------------------- navigation toggle

function initNavToggle() {
  document.querySelectorAll("[data-nav-toggle]").forEach((button) => {
    const sidebar = button.closest("[data-sidebar]");
    if (!sidebar) return;
    const nav = document.getElementById(button.getAttribute("aria-controls") || "");
    const setOpen = (open) => {
      sidebar.dataset.sidebar = open ? "open" : "closed";
      button.setAttribute("aria-expanded", String(open));
    };
    button.addEventListener("click", () => setOpen(sidebar.dataset.sidebar !== "open"));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && sidebar.dataset.sidebar === "open") {
        setOpen(false);
        button.focus();
      }
    });
    document.addEventListener("click", (event) => {
      if (sidebar.dataset.sidebar === "open" && !sidebar.contains(event.target)) setOpen(false);
    });
    if (nav) {
      nav.addEventListener("focusout", (event) => {
        if (sidebar.dataset.sidebar === "open" && event.relatedTarget && !sidebar.contains(event.relatedTarget)) {
          setOpen(false);
        }
      });
    }
  });
}

// ---------------------------------------------------------------- status badges (mirrors StatusBadge.tone)

const TONES = {
  green: ["succeeded", "online", "success", "ok", "healthy", "active", "completed", "done"],
  blue: ["running", "queued", "pending", "starting", "retrying", "in_progress"],
  red: ["failed", "failure", "denied", "offline", "error", "unhealthy", "down"],
  amber: ["warning", "degraded"],
};

export function toneFor(status) {
  const word = String(status || "").toLowerCase();
  for (const [tone, words] of Object.entries(TONES)) {
    if (words.includes(word)) return tone;
  }
  return "grey";
}

function setBadge(el, status) {
  el.textContent = status;
  el.className = el.className.replace(/\btone-\w+\b/g, "").trim() + ` tone-${toneFor(status)}`;
  if (!el.classList.contains("badge")) el.classList.add("badge");
}

// ---------------------------------------------------------------- connection indicators

function setLiveStatus(elements, state) {
  const labels = { connecting: "connecting", live: "live", reconnecting: "reconnecting", offline: "offline", ended: "finished" };
  for (const el of elements) {
    el.hidden = false;
    el.dataset.state = state;
    el.dataset.liveStatus = state;
    const text = el.querySelector(".live-text") || el;
    text.textContent = labels[state] || state;
  }
}

/** The indicators that belong to `el`: those in the same card, else the page-level ones. */
function indicatorsFor(el) {
  const scope = el.closest(".card");
  const local = scope ? [...scope.querySelectorAll("[data-live-status]")] : [];
  if (local.length) return local;
  return [...document.querySelectorAll("[data-live-status]")].filter((i) => !i.closest(".card"));
}

function stateOf(source) {
  return source.readyState === EventSource.CLOSED ? "offline" : "reconnecting";
}

// ---------------------------------------------------------------- event stream reader

/**
 * Reads a `text/event-stream` with fetch() and calls `onMessage({ type, data, lastEventId })` for
 * every message, whatever its `event:` name. (EventSource only delivers names registered up front,
 * and the server names each event after its type, so a feed of "all events" cannot use it.)
 * Reconnects after the server's `retry:` delay with `Last-Event-ID`, backing off on repeated
 * failures; stops for good on 401/403/404 (signed out, no access). Returns `{ close() }`, or null
 * when the browser cannot stream a response body.
 */
export function openEventStream(url, { onOpen = () => {}, onMessage, onError = () => {} }) {
  if (typeof window.fetch !== "function" || typeof window.TextDecoder !== "function" ||
      typeof window.AbortController !== "function") return null;
  let lastEventId = "";
  let retry = 3000;
  let failures = 0;
  let closed = false;
  let controller = null;
  let timer = null;

  const reconnect = () => {
    if (closed) return;
    onError(false);
    failures += 1;
    const delay = Math.min(30_000, retry * 2 ** Math.min(failures - 1, 4));
    timer = setTimeout(connect, delay);
  };

  async function connect() {
    if (closed) return;
    controller = new AbortController();
    const headers = { Accept: "text/event-stream" };
    if (lastEventId) headers["Last-Event-ID"] = lastEventId;
    let response;
    try {
      response = await fetch(url, { headers, credentials: "same-origin", cache: "no-store", signal: controller.signal });
    } catch {
      reconnect();
      return;
    }
    if (!response.ok || !response.body) {
      if ([401, 403, 404].includes(response.status)) {
        closed = true;
        onError(true);
      } else {
        reconnect();
      }
      return;
    }
    failures = 0;
    onOpen();
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let data = [];
    let name = "";
    const line = (text) => {
      if (text === "") {
        if (data.length) onMessage({ type: name || "message", data: data.join("\n"), lastEventId });
        data = [];
        name = "";
        return;
      }
      if (text.startsWith(":")) return;
      const colon = text.indexOf(":");
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? "" : text.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") data.push(value);
      else if (field === "event") name = value;
      else if (field === "id" && !value.includes("\0")) lastEventId = value;
      else if (field === "retry" && /^\d+$/.test(value)) retry = parseInt(value, 10);
    };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n")) >= 0) {
          line(buffer.slice(0, end).replace(/\r$/, ""));
          buffer = buffer.slice(end + 1);
        }
      }
    } catch {
      // Aborted or the connection dropped: reconnect below unless closed.
    }
    reconnect();
  }

  connect();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      controller?.abort();
    },
  };
}

// ---------------------------------------------------------------- event stream hub

/**
 * One event stream per page. Each consumer says which event types it wants (empty = all);
 * the hub asks the server for the union and dispatches each event to the consumers that want it.
 * Uses fetch() so every event name arrives; falls back to EventSource (named types only).
 */
function startEventHub(consumers) {
  if (!consumers.length) return;

  const wantsAll = consumers.some((c) => c.types.length === 0);
  const filter = wantsAll ? [] : [...new Set(consumers.flatMap((c) => c.types))];
  const names = new Set([...filter, ...consumers.flatMap((c) => c.types.concat(c.knownTypes))]);
  const url = EVENTS_URL + (filter.length ? `?types=${filter.map(encodeURIComponent).join(",")}` : "");
  const indicators = [...new Set(consumers.flatMap((c) => c.indicators))];

  const seen = new Set();
  const handle = (message) => {
    const event = parseJSON(message.data);
    if (!event || typeof event !== "object") return;
    const type = event.type || (message.type !== "message" ? message.type : "");
    if (!type) return;
    const key = event.id;
    if (key !== undefined && key !== null) {
      if (seen.has(key)) return;
      seen.add(key);
      if (seen.size > 500) seen.delete(seen.values().next().value);
    }
    event.type = type;
    for (const consumer of consumers) {
      if (consumer.types.length === 0 || consumer.types.includes(type)) {
        safely("live event", () => consumer.receive(event));
      }
    }
  };

  setLiveStatus(indicators, "connecting");
  const stream = openEventStream(url, {
    onOpen: () => setLiveStatus(indicators, "live"),
    onMessage: handle,
    onError: (final) => setLiveStatus(indicators, final ? "offline" : "reconnecting"),
  });
  if (stream) {
    window.addEventListener("pagehide", () => stream.close());
    return;
  }

  if (typeof window.EventSource !== "function") {
    setLiveStatus(indicators, "offline");
    return;
  }
  let source;
  try {
    source = new EventSource(url);
  } catch (error) {
    console.warn("live.js: cannot open the event stream", error);
    return;
  }
  source.onmessage = handle;
  for (const name of names) source.addEventListener(name, handle);
  source.onopen = () => setLiveStatus(indicators, "live");
  source.onerror = () => setLiveStatus(indicators, stateOf(source));
  window.addEventListener("pagehide", () => source.close());
}

function eventTime(event) {
  const time = document.createElement("time");
  const date = new Date(event.occurredAt || Date.now());
  time.setAttribute("datetime", Number.isNaN(date.getTime()) ? new Date().toISOString() : date.toISOString());
  time.textContent = Number.isNaN(date.getTime()) ? "" : date.toISOString().replace("T", " ").slice(0, 16) + " UTC";
  updateTime(time);
  return time;
}

function cell(child) {
  const td = document.createElement("td");
  if (typeof child === "string") td.textContent = child;
  else td.append(child);
  return td;
}

/** The event name: plain monospace in a table (as the server renders its rows), a chip in a list. */
function eventTypeLabel(type, className = "event-type") {
  const span = document.createElement("span");
  span.className = className;
  span.textContent = type;
  return span;
}

/** A `[data-live-events]` element as a hub consumer. */
function liveList(el) {
  const types = list(el.dataset.types);
  const max = Math.max(1, parseInt(el.dataset.max, 10) || DEFAULT_MAX_ROWS);
  const isTable = el.tagName === "TBODY" || el.tagName === "TABLE";
  const body = el.tagName === "TABLE" ? el.tBodies[0] || el.createTBody() : el;

  const receive = (event) => {
    let row;
    if (isTable) {
      row = document.createElement("tr");
      row.append(
        cell(eventTime(event)),
        cell(eventTypeLabel(event.type, "mono")),
        cell(event.subject || "—"),
        cell(event.actor || "system"),
      );
    } else {
      row = document.createElement("li");
      const subject = document.createElement("span");
      subject.className = "event-subject";
      subject.textContent = event.subject || "";
      const meta = document.createElement("span");
      meta.className = "event-meta";
      meta.append(`${event.actor || "system"} · `, eventTime(event));
      row.append(eventTypeLabel(event.type), subject, meta);
    }
    row.classList.add("live-new");
    body.prepend(row);
    while (body.children.length > max) body.lastElementChild.remove();

    // First live row: reveal a hidden table and drop the empty state of the same card.
    const hiddenAncestor = el.closest("[hidden]");
    if (hiddenAncestor) hiddenAncestor.hidden = false;
    const scope = el.closest(".card") || el.parentElement;
    scope?.querySelectorAll("[data-empty]").forEach((empty) => empty.remove());
  };

  return { types, knownTypes: list(el.dataset.knownTypes), indicators: indicatorsFor(el), receive };
}

/** A `[data-live-count="type"]` element as a hub consumer. */
function liveCounter(el) {
  const type = el.dataset.liveCount;
  return {
    types: [type],
    knownTypes: [],
    indicators: [],
    receive: () => {
      const current = parseInt(el.textContent.replace(/[^\d-]/g, ""), 10) || 0;
      el.textContent = String(current + 1);
      el.classList.remove("bump");
      void el.offsetWidth; // restart the animation
      el.classList.add("bump");
    },
  };
}

/** Reloads the page when its subject changes (a page whose state is drawn on the server). */
function liveReload(el) {
  const subject = el.dataset.liveSubject || "";
  let pending = null;
  return {
    types: [el.dataset.liveReload],
    knownTypes: [],
    indicators: indicatorsFor(el),
    receive: (event) => {
      if (subject && event.subject !== subject) return;
      if (pending) return;
      pending = setTimeout(() => {
        sessionStorage.setItem("nebula-scroll:" + location.pathname, String(window.scrollY));
        location.reload();
      }, 1000);
    },
  };
}

function restoreScroll() {
  const key = "nebula-scroll:" + location.pathname;
  const saved = sessionStorage.getItem(key);
  if (saved === null) return;
  sessionStorage.removeItem(key);
  window.scrollTo(0, parseInt(saved, 10) || 0);
}

// ---------------------------------------------------------------- job logs

function initJobLog(el) {
  const jobID = el.dataset.jobId;
  if (!jobID || typeof window.EventSource !== "function") return;

  const target = el.querySelector("code") || el;
  const indicators = indicatorsFor(el);
  el.scrollTop = el.scrollHeight; // start at the newest line
  let lastLineID = parseInt(el.dataset.lastLineId, 10);
  if (Number.isNaN(lastLineID)) lastLineID = -Infinity;
  const byJob = (attr) => document.querySelectorAll(`[${attr}="${CSS.escape(jobID)}"]`);

  let source;
  try {
    source = new EventSource(`/api/v1/jobs/${encodeURIComponent(jobID)}/log`);
  } catch (error) {
    console.warn("live.js: cannot open the job log", error);
    return;
  }
  let ended = false;

  source.addEventListener("log", (message) => {
    const data = parseJSON(message.data);
    if (!data || typeof data.line !== "string") return;
    if (typeof data.id === "number") {
      if (data.id <= lastLineID) return;
      lastLineID = data.id;
    }
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
    const line = document.createElement("span");
    line.className = "log-line";
    line.textContent = data.line + "\n";
    target.append(line);
    if (atBottom) el.scrollTop = el.scrollHeight;
  });

  source.addEventListener("status", (message) => {
    const data = parseJSON(message.data);
    if (!data) return;
    if (typeof data.status === "string") byJob("data-job-status").forEach((badge) => setBadge(badge, data.status));
    if (typeof data.progress === "number" && Number.isFinite(data.progress)) {
      const fraction = Math.min(1, Math.max(0, data.progress));
      const percent = `${Math.round(fraction * 100)}%`;
      byJob("data-job-progress").forEach((wrap) => {
        const bar = wrap.tagName === "PROGRESS" ? wrap : wrap.querySelector("progress");
        if (bar) {
          bar.value = fraction;
          bar.textContent = percent;
        }
        const value = wrap.querySelector(".progress-value");
        if (value) value.textContent = percent;
      });
    }
    if (data.attempts !== undefined) {
      byJob("data-job-attempts").forEach((n) => (n.textContent = String(data.attempts)));
    }
  });

  source.addEventListener("end", () => {
    ended = true;
    source.close();
    setLiveStatus(indicators, "ended");
    // The page was rendered while the job ran: reload once so times, errors and buttons are final.
    if (el.dataset.reloadOnEnd === "true") setTimeout(() => window.location.reload(), 600);
  });

  setLiveStatus(indicators, "connecting");
  source.onopen = () => setLiveStatus(indicators, "live");
  source.onerror = () => {
    if (!ended) setLiveStatus(indicators, stateOf(source));
  };
  window.addEventListener("pagehide", () => source.close());
}

// ---------------------------------------------------------------- start

function start() {
  safely("relative times", () => {
    updateTimes();
    setInterval(() => updateTimes(), 30_000);
  });
  safely("confirmations", initConfirmations);
  safely("navigation", initNavToggle);
  safely("scroll position", restoreScroll);
  safely("event stream", () => {
    const consumers = [
      ...[...document.querySelectorAll("[data-live-events]")].map(liveList),
      ...[...document.querySelectorAll("[data-live-count]")].filter((el) => el.dataset.liveCount).map(liveCounter),
      ...[...document.querySelectorAll("[data-live-reload]")].filter((el) => el.dataset.liveReload).map(liveReload),
    ];
    startEventHub(consumers);
  });
  document.querySelectorAll("[data-live-job-log]").forEach((el) => safely("job log", () => initJobLog(el)));
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start, { once: true });
} else {
  start();
}
