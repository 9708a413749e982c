// The run page: appends log lines and updates step and run badges live from the event stream
// (`runbook.run_progress`), and reloads once the run ends so the journal shows its final state.
import { openEventStream, toneFor } from "/js/live.js";

function init() {
  const log = document.querySelector("[data-run-log]");
  if (!log) return;
  const runID = log.dataset.runLog;
  let lastLine = Number(log.dataset.lastLineId || "0");
  const code = log.querySelector("code") || log;
  const final = log.dataset.runFinal === "true";
  if (final) return;
  let reloading = false;
  const stream = openEventStream("/api/v1/events/stream?types=runbook.run_progress,runbook.run_finished,runbook.approval_requested", {
    onMessage: ({ data }) => {
      let event;
      try { event = JSON.parse(data); } catch { return; }
      const facts = event.data || {};
      if (facts.runID !== runID) return;
      if (facts.line) {
        const id = Number(facts.lineID || "0");
        if (id && id <= lastLine) return;
        lastLine = id || lastLine;
        const span = document.createElement("span");
        span.className = "log-line";
        const now = new Date();
        span.textContent = `${now.toISOString().slice(11, 19)} ${facts.line}\n`;
        code.appendChild(span);
        log.scrollTop = log.scrollHeight;
      }
      if (facts.step && facts.stepStatus) {
        const badge = document.querySelector(`[data-step-status="${CSS.escape(facts.step)}"] .badge`);
        if (badge) { badge.textContent = facts.stepStatus; badge.className = `badge tone-${toneFor(facts.stepStatus)}`; }
      }
      const status = facts.runStatus || (event.type === "runbook.run_finished" ? facts.status : null);
      if (status) {
        const badge = document.querySelector("[data-run-status] .badge");
        if (badge) { badge.textContent = status; badge.className = `badge tone-${toneFor(status)}`; }
        if (["succeeded", "failed", "cancelled", "skipped", "waiting_approval", "paused"].includes(status) && !reloading) {
          reloading = true;
          setTimeout(() => window.location.reload(), 800);
        }
      }
    },
  });
  window.addEventListener("beforeunload", () => stream?.close());
  // The run may change between rendering and the stream opening: look at it every few seconds too.
  const shown = document.querySelector("[data-run-status] .badge")?.textContent?.trim();
  const poll = async () => {
    if (reloading) return;
    try {
      const response = await fetch(`/api/v1/runs/${encodeURIComponent(runID)}`, { credentials: "same-origin", cache: "no-store" });
      if (response.ok) {
        const detail = await response.json();
        if (detail?.run?.status && detail.run.status !== shown) {
          reloading = true;
          window.location.reload();
          return;
        }
      }
    } catch {
      // offline for a moment: the next poll tries again
    }
    setTimeout(poll, 2000);
  };
  setTimeout(poll, 1000);
}

init();
