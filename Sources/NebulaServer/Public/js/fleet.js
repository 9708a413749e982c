// Fleet pages: live server cards (server.metrics events) and the server page's charts.
// Plain ES module; everything degrades to the server-rendered values when a feature is missing.

const percent = (fraction) => `${Math.round(Math.min(1, Math.max(0, fraction)) * 100)}%`;

function bytes(count) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = Math.max(0, Number(count) || 0);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

function duration(seconds) {
  const total = Math.floor(Number(seconds) || 0);
  if (total >= 86400) return `${Math.floor(total / 86400)} d ${Math.floor((total % 86400) / 3600)} h`;
  if (total >= 3600) return `${Math.floor(total / 3600)} h ${Math.floor((total % 3600) / 60)} min`;
  return `${Math.floor(total / 60)} min`;
}

function setText(card, key, text) {
  card.querySelectorAll(`[data-metric="${key}"]`).forEach((el) => { el.textContent = text; });
}

function setMeter(card, key, fraction) {
  card.querySelectorAll(`[data-metric-meter="${key}"]`).forEach((el) => { el.value = Math.min(1, Math.max(0, fraction)); });
  setText(card, key, percent(fraction));
}

function setStatus(card, status) {
  card.querySelectorAll("[data-server-status]").forEach((badge) => {
    badge.textContent = status;
    badge.className = `badge tone-${status === "online" ? "green" : status === "offline" ? "red" : "grey"}`;
  });
}

// ------------------------------------------------------------------ sparklines

const SPARK_POINTS = 30;
const SVG = "http://www.w3.org/2000/svg";

/** Draws values (0…1, oldest first) as a line in the card's [data-spark=key] svg. */
function drawSpark(card, key, values) {
  const svg = card.querySelector(`[data-spark="${key}"]`);
  if (!svg) return;
  const kept = values.slice(-SPARK_POINTS);
  svg.dataset.values = JSON.stringify(kept);
  // A single reading is drawn as a level line, so a new server does not show an empty chart.
  const points = kept.length === 1 ? [kept[0], kept[0]] : kept;
  let line = svg.querySelector("polyline");
  if (!line) {
    line = document.createElementNS(SVG, "polyline");
    svg.appendChild(line);
  }
  const step = points.length > 1 ? 100 / (points.length - 1) : 0;
  line.setAttribute("points", points.map((v, i) => `${(i * step).toFixed(1)},${(24 - Math.min(1, Math.max(0, v)) * 22 - 1).toFixed(1)}`).join(" "));
}

function pushSpark(card, key, value) {
  const svg = card.querySelector(`[data-spark="${key}"]`);
  if (!svg || !Number.isFinite(value)) return;
  let values = [];
  try { values = JSON.parse(svg.dataset.values || "[]"); } catch { values = []; }
  values.push(value);
  drawSpark(card, key, values);
}

async function loadSparklines(grid) {
  try {
    const response = await fetch("/api/v1/servers/sparklines", { credentials: "same-origin" });
    if (!response.ok) return;
    const lines = await response.json();
    for (const [id, line] of Object.entries(lines)) {
      const card = grid.querySelector(`[data-server-id="${CSS.escape(id.toUpperCase())}"]`);
      if (!card) continue;
      drawSpark(card, "cpu", line.cpu || []);
      drawSpark(card, "memory", line.memory || []);
    }
  } catch (error) {
    console.warn("fleet.js: sparklines unavailable", error);
  }
}

function applyMetrics(card, data) {
  const number = (key) => (data[key] === undefined ? undefined : Number(data[key]));
  if (number("cpu") !== undefined) {
    setMeter(card, "cpu", number("cpu"));
    pushSpark(card, "cpu", number("cpu"));
  }
  if (number("memoryTotal") > 0) pushSpark(card, "memory", number("memoryUsed") / number("memoryTotal"));
  if (number("memoryTotal") > 0) {
    setMeter(card, "memory", number("memoryUsed") / number("memoryTotal"));
    card.querySelectorAll('[data-metric-detail="memory"]').forEach((el) => { el.textContent = `${bytes(data.memoryUsed)} / ${bytes(data.memoryTotal)}`; });
  }
  if (number("diskTotal") > 0) {
    setMeter(card, "disk", number("diskUsed") / number("diskTotal"));
    card.querySelectorAll('[data-metric-detail="disk"]').forEach((el) => { el.textContent = `${bytes(data.diskUsed)} / ${bytes(data.diskTotal)}`; });
  }
  if (data.netRx !== undefined) setText(card, "netRx", `${bytes(data.netRx)}/s`);
  if (data.netTx !== undefined) setText(card, "netTx", `${bytes(data.netTx)}/s`);
  if (data.load1 !== undefined) setText(card, "load1", Number(data.load1).toFixed(2));
  if (data.temperature !== undefined) setText(card, "temperature", `${Math.round(Number(data.temperature))} °C`);
  if (data.uptime !== undefined) setText(card, "uptime", duration(data.uptime));
  setStatus(card, "online");
  card.dataset.updatedAt = new Date().toISOString();
}

function liveCards(grid) {
  if (typeof window.EventSource !== "function") return;
  const indicator = document.querySelector("[data-live-status]");
  const source = new EventSource("/api/v1/events/stream?types=server.metrics,server.online,server.offline,server.created,server.deleted");
  const cardFor = (data) => data && data.id && grid.querySelector(`[data-server-id="${CSS.escape(data.id.toUpperCase())}"]`);
  const parse = (message) => { try { return JSON.parse(message.data); } catch { return null; } };
  source.addEventListener("server.metrics", (message) => {
    const event = parse(message);
    const card = event && cardFor(event.data);
    if (card) applyMetrics(card, event.data);
  });
  source.addEventListener("server.offline", (message) => {
    const event = parse(message);
    const card = event && cardFor(event.data);
    if (card) setStatus(card, "offline");
  });
  const reload = () => setTimeout(() => window.location.reload(), 300);
  source.addEventListener("server.created", reload);
  source.addEventListener("server.deleted", reload);
  const show = (state) => {
    if (!indicator) return;
    indicator.hidden = false;
    indicator.dataset.state = state;
    indicator.dataset.liveStatus = state;
    const text = indicator.querySelector(".live-text") || indicator;
    text.textContent = state;
  };
  source.onopen = () => show("live");
  source.onerror = () => show("reconnecting");
  window.addEventListener("pagehide", () => source.close());
}

// ------------------------------------------------------------------ charts

const chartSeries = {
  cpu: { series: [["cpu", "CPU"]], format: percent, max: 1 },
  memory: { series: [["memory", "Used"]], format: percent, max: 1 },
  disk: { series: [["disk", "Used"]], format: percent, max: 1 },
  network: { series: [["netRx", "Received"], ["netTx", "Sent"]], format: (v) => `${bytes(v)}/s` },
  diskio: { series: [["diskRead", "Read"], ["diskWrite", "Written"]], format: (v) => `${bytes(v)}/s` },
  load: { series: [["load", "1 min"]], format: (v) => Number(v).toFixed(2) },
  temperature: { series: [["temperature", "Hottest sensor"]], format: (v) => `${Math.round(v)} °C` },
};
const palette = ["#7c6cf2", "#22b8cf"];

async function charts(container) {
  const id = container.dataset.serverCharts;
  const range = container.dataset.range || "1h";
  if (typeof window.Chart !== "function") {
    document.querySelectorAll(".chart-missing").forEach((el) => { el.hidden = false; });
    container.hidden = true;
    return;
  }
  const styles = getComputedStyle(document.documentElement);
  const muted = styles.getPropertyValue("--text-muted").trim() || "#9aa4b2";
  const grid = styles.getPropertyValue("--border").trim() || "rgba(255,255,255,0.08)";
  const instances = new Map();

  async function refresh() {
    const response = await fetch(`/api/v1/servers/${encodeURIComponent(id)}/metrics?range=${encodeURIComponent(range)}`, { credentials: "same-origin" });
    if (!response.ok) return;
    const body = await response.json();
    container.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      const spec = chartSeries[canvas.dataset.chart];
      if (!spec) return;
      const datasets = spec.series.map(([key, label], index) => ({
        label,
        data: (body.series[key] || []).map((point) => ({ x: new Date(point.t).getTime(), y: point.v })),
        borderColor: palette[index % palette.length],
        backgroundColor: palette[index % palette.length] + "22",
        fill: true, tension: 0.25, pointRadius: 0, borderWidth: 1.5,
      }));
      const existing = instances.get(canvas);
      if (existing) {
        existing.data.datasets = datasets;
        existing.update("none");
        return;
      }
      instances.set(canvas, new window.Chart(canvas, {
        type: "line",
        data: { datasets },
        options: {
          animation: false, maintainAspectRatio: false, parsing: false, normalized: true,
          interaction: { mode: "index", intersect: false },
          plugins: {
            legend: { display: spec.series.length > 1, labels: { color: muted, boxWidth: 10 } },
            tooltip: { callbacks: {
              title: (items) => items.length ? new Date(items[0].parsed.x).toLocaleString() : "",
              label: (item) => `${item.dataset.label}: ${spec.format(item.parsed.y)}`,
            } },
          },
          scales: {
            x: { type: "linear", ticks: { color: muted, maxTicksLimit: 6, callback: (v) => new Date(v).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) }, grid: { color: grid } },
            y: { min: 0, max: spec.max, ticks: { color: muted, maxTicksLimit: 5, callback: (v) => spec.format(v) }, grid: { color: grid } },
          },
        },
      }));
    });
  }

  await refresh();
  const timer = setInterval(refresh, range === "1h" ? 15_000 : 120_000);
  window.addEventListener("pagehide", () => clearInterval(timer));
}

document.querySelectorAll("[data-live-servers]").forEach((grid) => {
  loadSparklines(grid);
  liveCards(grid);
});
document.querySelectorAll("[data-server-charts]").forEach((el) => charts(el).catch((error) => console.warn("fleet.js: charts", error)));
