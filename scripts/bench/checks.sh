#!/usr/bin/env bash
# Monitoring benchmark (issue 5, performance): BENCH_CHECKS (1000) HTTP checks every
# BENCH_INTERVAL (30) s against a loopback HTTP server for BENCH_SECONDS (180) s. Prints a table,
# asserts nothing:
#   - CPU of `nebula serve` (utime+stime from /proc/<pid>/stat over the measured window, % of one core);
#   - results stored and database growth, extrapolated to a day of raw results and to a day of
#     hourly rollups (the steady state once raw results age out after 48 h);
#   - /checks and /status render time with all checks (median of 20 requests, curl time_total).
# Figures are also written to scripts/bench/last-checks-results.txt.
#
# Environment: NEBULA_BIN (a built binary; `swift build -c release --product nebula` when unset),
# BENCH_CHECKS, BENCH_INTERVAL, BENCH_SECONDS.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COUNT=${BENCH_CHECKS:-1000}
INTERVAL=${BENCH_INTERVAL:-30}
SECONDS_RUN=${BENCH_SECONDS:-180}
RESULTS="$ROOT/scripts/bench/last-checks-results.txt"

bench_binary
bench_start checks
SITE_PID=""
bench_on_exit 'stop_pid "$SITE_PID" 5'
unset DATABASE_URL

# The monitored site: a small threaded HTTP server on loopback answering 200 "ok".
SITE_PORT=$(free_port)
python3 - "$SITE_PORT" >"$TMP/site.log" 2>&1 <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
SITE_PID=$!

DATA=$TMP/data
bench_admin "$DATA"
bench_serve "$DATA" NEBULA_LOCAL_AGENT=false

echo "==> creating $COUNT http checks every $INTERVAL s against 127.0.0.1:$SITE_PORT" >&2
python3 - "$URL" "$TOKEN" "$COUNT" "$INTERVAL" "$SITE_PORT" <<'PY'
import json, sys, urllib.request
url, token, count, interval, port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
for i in range(count):
    body = json.dumps({"name": f"site-{i:04d}", "kind": "http", "url": f"http://127.0.0.1:{port}/health/{i}",
                       "intervalSeconds": interval, "timeoutSeconds": 10, "public": True}).encode()
    request = urllib.request.Request(url + "/api/v1/checks", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=30).read()
PY
api -X PUT -d '{"statusPageEnabled":true}' "$URL/api/v1/monitoring/settings" >/dev/null

# Let every check start (first runs are spread over up to a minute), then measure.
sleep $((INTERVAL + 35))
ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
db_bytes() { du -cb "$DATA"/*.sqlite* 2>/dev/null | tail -n 1 | cut -f1; }
count_results() { python3 - "$DATA" <<'PY'
import sqlite3, sys, glob
db = sqlite3.connect(glob.glob(sys.argv[1] + "/*.sqlite")[0])
print(db.execute("SELECT COUNT(*) FROM check_results").fetchone()[0])
PY
}
HZ=$(getconf CLK_TCK)
T0=$(ticks); R0=$(count_results); B0=$(db_bytes); START=$(date +%s.%N)
sleep "$SECONDS_RUN"
T1=$(ticks); R1=$(count_results); B1=$(db_bytes); END=$(date +%s.%N)
ELAPSED=$(python3 -c "print($END - $START)")
CPU=$(python3 -c "print(round(($T1 - $T0) / $HZ / $ELAPSED * 100, 1))")
RESULTS_PER_S=$(python3 -c "print(round(($R1 - $R0) / $ELAPSED, 1))")
# Bytes per stored result, from the growth in the window (SQLite pages; WAL included).
PER_RESULT=$(python3 -c "d=$R1-$R0; print(round(($B1 - $B0) / d, 1) if d > 0 else 0)")
RAW_DAY_MB=$(python3 -c "print(round($PER_RESULT * $RESULTS_PER_S * 86400 / 1e6, 1))")
# Steady state: raw results kept 48 h, then only hourly rollups (one row per check and hour) grow.
ROLLUP_DAY_MB=$(python3 -c "print(round($COUNT * 24 * 90 / 1e6, 2))")
FAILED=$(python3 - "$DATA" <<'PY'
import sqlite3, sys, glob
db = sqlite3.connect(glob.glob(sys.argv[1] + "/*.sqlite")[0])
print(db.execute("SELECT COUNT(*) FROM check_results WHERE ok = 0").fetchone()[0])
PY
)
render() { # median seconds of 20 GETs of $1 (with or without the token)
  for _ in $(seq 20); do curl -s -o /dev/null -w '%{time_total}\n' "${@:2}" "$URL$1"; done | sort -n | sed -n 10p
}
CHECKS_MS=$(python3 -c "print(round($(render /checks -H "Authorization: Bearer $TOKEN") * 1000, 1))")
STATUS_MS=$(python3 -c "print(round($(render /status) * 1000, 1))")
API_MS=$(python3 -c "print(round($(render /api/v1/checks -H "Authorization: Bearer $TOKEN") * 1000, 1))")
RSS=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")

{
  echo "checks benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(basename "$BIN") at $BIN)"
  printf '%-52s %s\n' "http checks / interval" "$COUNT / ${INTERVAL} s"
  printf '%-52s %s\n' "measured window" "$(python3 -c "print(round($ELAPSED))") s"
  printf '%-52s %s\n' "results stored per second (expected $(python3 -c "print(round($COUNT / $INTERVAL, 1))"))" "$RESULTS_PER_S"
  printf '%-52s %s\n' "failed results (all should pass)" "$FAILED"
  printf '%-52s %s %%\n' "nebula serve CPU (of one core)" "$CPU"
  printf '%-52s %s MiB\n' "nebula serve RSS" "$((RSS / 1024))"
  printf '%-52s %s\n' "database bytes per raw result" "$PER_RESULT"
  printf '%-52s %s MB/day\n' "raw results growth (kept 48 h, then pruned)" "$RAW_DAY_MB"
  printf '%-52s %s MB/day\n' "steady-state growth (hourly rollups, ~90 B/row)" "$ROLLUP_DAY_MB"
  printf '%-52s %s ms\n' "/checks page with $COUNT checks (median)" "$CHECKS_MS"
  printf '%-52s %s ms\n' "/status page ($COUNT public checks, median)" "$STATUS_MS"
  printf '%-52s %s ms\n' "GET /api/v1/checks (median)" "$API_MS"
} | tee "$RESULTS"
