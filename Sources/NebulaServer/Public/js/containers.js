// Container page: live logs and live usage from the container API's Server-Sent Events.
//   pre[data-logs-url]           log view; lines arrive in batches as `lines` events, each
//                                { s: one letter per line (o stdout, e stderr, c console),
//                                  t: the texts, ts: seconds since 1970 when asked for }
//   [data-log-tail|timestamps|follow|clear]  the log controls
//   dl[data-stats-url]           live usage; `stats` events fill dd[data-stat]

const MAX_LINES = 20000;

function indicator(card, state) {
  const el = card && card.querySelector("[data-live-status]");
  if (!el) return;
  el.hidden = false;
  el.dataset.liveStatus = state;
  el.dataset.state = state;
  const text = el.querySelector(".live-text") || el;
  text.textContent = state;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = Number(n) || 0;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

const STREAMS = { o: "stdout", e: "stderr", c: "console" };

/** A compact batch ({ s, t, ts }) as line objects. */
function unbatch(batch) {
  return batch.t.map((text, i) => ({
    stream: STREAMS[batch.s[i]] || "console",
    text,
    timestamp: batch.ts ? new Date(batch.ts[i] * 1000).toISOString() : null,
  }));
}

function startLogs(view) {
  const card = view.closest(".card");
  const tail = card.querySelector("[data-log-tail]");
  const timestamps = card.querySelector("[data-log-timestamps]");
  const follow = card.querySelector("[data-log-follow]");
  const clear = card.querySelector("[data-log-clear]");
  let source = null;
  let count = 0;

  const append = (lines) => {
    const atBottom = view.scrollHeight - view.scrollTop - view.clientHeight < 40;
    const fragment = document.createDocumentFragment();
    for (const line of lines) {
      const span = document.createElement("span");
      span.className = `log-line log-${line.stream}`;
      span.textContent = (line.timestamp ? `${line.timestamp} ` : "") + line.text + "\n";
      fragment.appendChild(span);
    }
    view.appendChild(fragment);
    count += lines.length;
    while (count > MAX_LINES && view.firstChild) { view.removeChild(view.firstChild); count -= 1; }
    if (atBottom) view.scrollTop = view.scrollHeight;
  };

  const note = (text) => append([{ stream: "note", text }]);

  const load = () => {
    if (source) { source.close(); source = null; }
    view.textContent = "";
    count = 0;
    const params = new URLSearchParams({ tail: tail.value, timestamps: String(timestamps.checked) });
    if (!follow.checked) {
      indicator(card, "paused");
      fetch(`${view.dataset.logsUrl}?${params}`, { headers: { Accept: "application/json" } })
        .then((r) => r.json().then((body) => ({ ok: r.ok, body })))
        .then(({ ok, body }) => (ok ? append(body.items) : note(body.error ? body.error.message : "could not load the logs")))
        .catch(() => note("could not load the logs"));
      return;
    }
    params.set("follow", "true");
    source = new EventSource(`${view.dataset.logsUrl}?${params}`);
    indicator(card, "connecting");
    source.onopen = () => indicator(card, "live");
    source.addEventListener("lines", (event) => append(unbatch(JSON.parse(event.data))));
    source.addEventListener("end", (event) => {
      const end = JSON.parse(event.data);
      note(end.error ? `— stream ended: ${end.error}` : "— the container stopped");
      source.close();
      source = null;
      indicator(card, "offline");
    });
    source.onerror = () => indicator(card, "reconnecting");
  };

  for (const control of [tail, timestamps, follow]) control.addEventListener("change", load);
  clear.addEventListener("click", () => { view.textContent = ""; count = 0; });
  load();
}

function startStats(list) {
  const url = list.dataset.statsUrl;
  if (!url) return;
  const field = (key) => list.querySelector(`[data-stat="${key}"]`);
  const source = new EventSource(url);
  source.addEventListener("stats", (event) => {
    const s = JSON.parse(event.data);
    field("cpu").textContent = `${s.cpuPercent.toFixed(1)} % of ${s.onlineCPUs} CPUs`;
    field("memory").textContent = `${bytes(s.memoryUsage)} of ${bytes(s.memoryLimit)}`;
    field("network").textContent = `${bytes(s.networkRx)} / ${bytes(s.networkTx)}`;
    field("block").textContent = `${bytes(s.blockRead)} / ${bytes(s.blockWrite)}`;
    field("pids").textContent = String(s.pids);
  });
  source.addEventListener("end", () => source.close());
}

document.querySelectorAll("pre[data-logs-url]").forEach(startLogs);
document.querySelectorAll("dl[data-stats-url]").forEach(startStats);
