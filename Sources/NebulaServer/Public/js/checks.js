// Checks pages: status badges follow `check.status_changed` events from the event stream.
//   [data-check-status="<check id>"]  wraps the check's status badge
// The list of incidents is not live; a new incident shows on the next visit.

const badges = document.querySelectorAll("[data-check-status]");

function update(event) {
  let envelope;
  try { envelope = JSON.parse(event.data); } catch { return; }
  const data = envelope.data || {};
  const status = data.status;
  if (!data.checkID || !status) return;
  document.querySelectorAll(`[data-check-status="${CSS.escape(data.checkID)}"]`).forEach((wrapper) => {
    const badge = wrapper.querySelector(".badge");
    if (!badge) return;
    badge.textContent = status;
    badge.className = `badge tone-${status === "up" ? "green" : status === "down" ? "red" : "grey"}`;
    badge.title = data.message || "";
  });
}

if (badges.length > 0 && typeof window.EventSource === "function") {
  const source = new EventSource("/api/v1/events/stream?types=check.status_changed");
  source.addEventListener("check.status_changed", update);
  window.addEventListener("pagehide", () => source.close());
}
