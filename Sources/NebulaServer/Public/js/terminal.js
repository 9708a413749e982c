// Nebula Command — the web terminal: xterm.js (window.XTerm, bundled by make) over
// /api/v1/servers/<id>/terminal. Binary frames are terminal bytes both ways; text frames are JSON
// ({"type":"resize"} from here, {"type":"exit"} from the server).

const screen = document.querySelector("[data-terminal-server]");
const status = document.querySelector("[data-terminal-status]");

function setStatus(text, tone) {
  if (!status) return;
  status.textContent = text;
  status.className = `badge tone-${tone}`;
}

if (screen && window.XTerm) {
  if (window.XTermFit) window.XTerm.Terminal.applyAddon(window.XTermFit);
  const term = new window.XTerm.Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000,
    fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" });
  term.open(screen);
  // The canvas renderer keeps text out of the DOM; this handle lets tests (and the console) read it.
  window.nebulaTerminal = term;
  if (term.fit) term.fit();
  term.focus();

  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const id = encodeURIComponent(screen.dataset.terminalServer);
  const socket = new WebSocket(`${scheme}://${location.host}/api/v1/servers/${id}/terminal?cols=${term.cols}&rows=${term.rows}`);
  socket.binaryType = "arraybuffer";
  const encoder = new TextEncoder();
  const decoder = new TextDecoder("utf-8");
  let ended = false;

  socket.addEventListener("open", () => setStatus("connected", "green"));
  socket.addEventListener("message", (event) => {
    if (typeof event.data === "string") {
      try {
        const control = JSON.parse(event.data);
        if (control.type === "exit") {
          ended = true;
          term.write(`\r\n\x1b[2m[${control.message || "session ended"}]\x1b[0m\r\n`);
          setStatus("ended", "grey");
        }
      } catch (error) {
        console.warn("terminal.js: bad control message", error);
      }
      return;
    }
    // stream: true keeps a UTF-8 character split across two frames intact.
    term.write(decoder.decode(new Uint8Array(event.data), { stream: true }));
  });
  socket.addEventListener("close", () => {
    if (!ended) {
      setStatus("disconnected", "red");
      term.write("\r\n\x1b[2m[connection closed]\x1b[0m\r\n");
    }
  });

  term.on("data", (data) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(encoder.encode(data));
  });
  const sendSize = () => {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows }));
  };
  term.on("resize", sendSize);
  let pending;
  window.addEventListener("resize", () => {
    clearTimeout(pending);
    pending = setTimeout(() => { if (term.fit) term.fit(); }, 100);
  });
} else if (screen) {
  setStatus("unavailable", "red");
}
