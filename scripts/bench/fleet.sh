#!/usr/bin/env bash
# Fleet benchmarks (issue "Fleet", performance): prints a table, asserts nothing.
#   1. the node agent's resident memory and CPU over BENCH_AGENT_SECONDS (60) at a 5 s interval;
#   2. BENCH_AGENTS (200) simulated agents reporting every 5 s to one control plane on SQLite:
#      p50/p99 ingest latency (from the server's own nebula_agent_ingest_seconds histogram) and the
#      server's CPU while it ingests;
#   3. the fleet page (/servers) with those servers: wrk latency.
# Figures are also written to scripts/bench/last-fleet-results.txt.
#
# Environment: NEBULA_BIN / NEBULA_LOAD_BIN (release binaries; built when unset),
#              BENCH_AGENTS, BENCH_AGENT_SECONDS, BENCH_LOAD_SECONDS (60).
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

AGENTS=${BENCH_AGENTS:-200}
AGENT_SECONDS=${BENCH_AGENT_SECONDS:-60}
LOAD_SECONDS=${BENCH_LOAD_SECONDS:-60}
RESULTS="$ROOT/scripts/bench/last-fleet-results.txt"

if [[ -n ${NEBULA_LOAD_BIN:-} ]]; then bench_binary; else bench_binary nebula-fleet-load; fi
LOAD=${NEBULA_LOAD_BIN:-$ROOT/${BENCH_SCRATCH_PATH:-.build}/release/nebula-fleet-load}
bench_start fleet
AGENT_PID=""
bench_on_exit 'stop_pid "$AGENT_PID" 5'
unset DATABASE_URL

# Process CPU seconds (user + system) from /proc/PID/stat.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

DATA=$TMP/data
bench_admin "$DATA"
# The local agent stays on (as in production); its one node is negligible next to the load.
bench_serve "$DATA"

# 1. One real agent.
echo "==> nebula agent for ${AGENT_SECONDS}s at a 5 s interval" >&2
ID=$(api -d '{"name":"bench-agent","connection":"agent"}' "$URL/api/v1/servers" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
JOIN=$(api -X POST "$URL/api/v1/servers/$ID/join-token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
"$BIN" agent --server "$URL" --token "$JOIN" --credential-file "$TMP/agent/credential.json" --interval 5 >"$TMP/agent.log" 2>&1 &
AGENT_PID=$!
sleep 10   # joined, first samples sent
CPU0=$(cpu_seconds "$AGENT_PID")
sleep "$AGENT_SECONDS"
CPU1=$(cpu_seconds "$AGENT_PID")
AGENT_RSS=$(rss_kb "$AGENT_PID")
AGENT_CPU=$(awk -v a="$CPU0" -v b="$CPU1" -v s="$AGENT_SECONDS" 'BEGIN {printf "%.2f", (b - a) / s * 100}')
stop_pid "$AGENT_PID" 5
AGENT_PID=""

# 2. Simulated agents.
echo "==> $AGENTS simulated agents for ${LOAD_SECONDS}s" >&2
"$LOAD" --server "$URL" --token "$TOKEN" --agents "$AGENTS" --interval 5 --duration "$LOAD_SECONDS" \
  --ready-file "$TMP/ready" >"$TMP/load.log" 2>&1 &
LOAD_PID=$!
# Joining is not measured: the window starts once every node has joined.
for ((i = 0; i < 600; i++)); do [[ -f $TMP/ready ]] && break; pid_alive "$LOAD_PID" || break; sleep 0.5; done
[[ -f $TMP/ready ]] || { echo "bench: the load generator did not join its agents:" >&2; cat "$TMP/load.log" >&2; exit 1; }
METRICS_BEFORE=$(curl -s "$URL/metrics" | grep '^nebula_agent_ingest_seconds' || true)
SERVER_CPU0=$(cpu_seconds "$SERVER_PID")
wait "$LOAD_PID"
SERVER_CPU1=$(cpu_seconds "$SERVER_PID")
SENT=$(tail -n 1 "$TMP/load.log")
curl -s "$URL/metrics" | grep '^nebula_agent_ingest_seconds' >"$TMP/after.txt" || true
SERVER_CPU=$(awk -v a="$SERVER_CPU0" -v b="$SERVER_CPU1" -v s="$LOAD_SECONDS" 'BEGIN {printf "%.1f", (b - a) / s * 100}')
# Percentiles from the histogram's cumulative buckets (difference of after and before).
QUANTILES=$(printf '%s\n' "$METRICS_BEFORE" | python3 -c '
import re, sys
def parse(lines):
    buckets, count = {}, 0
    for line in lines:
        m = re.match(r"nebula_agent_ingest_seconds_bucket\{le=\"([^\"]+)\"\} (\S+)", line)
        if m: buckets[m.group(1)] = float(m.group(2))
        m = re.match(r"nebula_agent_ingest_seconds_count (\S+)", line)
        if m: count = float(m.group(1))
    return buckets, count
before, c0 = parse(sys.stdin.read().splitlines())
after, c1 = parse(open(sys.argv[1]).read().splitlines())
n = c1 - c0
def q(p):
    target = p * n
    for le in sorted(after, key=lambda k: float("inf") if k == "+Inf" else float(k)):
        if after[le] - before.get(le, 0) >= target:
            return "<= " + ("inf" if le == "+Inf" else "%g ms" % (float(le) * 1000))
    return "?"
print("%d|%s|%s" % (n, q(0.5), q(0.99)))
' "$TMP/after.txt")
IFS='|' read -r INGESTED P50 P99 <<<"$QUANTILES"

# 3. The fleet page with all those servers.
echo "==> wrk /servers" >&2
wrk -t1 -c1 -d10s --latency -H "Authorization: Bearer $TOKEN" "$URL/servers" >"$TMP/wrk.txt"
PAGE_P50=$(awk '$1 == "50%" {print $2}' "$TMP/wrk.txt")
PAGE_P99=$(awk '$1 == "99%" {print $2}' "$TMP/wrk.txt")
PAGE_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$TMP/wrk.txt")
SERVERS=$(api "$URL/api/v1/servers" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')

{
  echo "Nebula Command fleet benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "host: $(nproc) CPU; SQLite; binary: $BIN; commit: $(git rev-parse --short HEAD 2>/dev/null || echo none)"
  echo
  row() { printf '%-52s %18s  %s\n' "$1" "$2" "$3"; }
  row "measure" "value" "notes"
  row "agent resident memory (VmRSS)" "$(awk -v k="$AGENT_RSS" 'BEGIN {printf "%.1f MiB", k/1024}')" "after ${AGENT_SECONDS}s at a 5 s interval"
  row "agent CPU" "$AGENT_CPU % of one core" "user+system over ${AGENT_SECONDS}s"
  row "ingest latency p50 / p99 ($AGENTS agents, 5 s)" "$P50 / $P99" "$INGESTED samples; $SENT"
  row "control plane CPU while ingesting" "$SERVER_CPU % of one core" "user+system over the ${LOAD_SECONDS}s run"
  row "fleet page /servers ($SERVERS servers) p50 / p99" "$PAGE_P50 / $PAGE_P99" "$PAGE_RPS req/s (wrk -t1 -c1 -d10s: one browser at a time)"
} | tee "$RESULTS"
