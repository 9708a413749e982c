#!/usr/bin/env bash
# Containers benchmarks (issue "Containers", performance): prints a table, asserts nothing.
#   1. GET /api/v1/servers/{id}/containers?all=true on an agent node with BENCH_CONTAINERS (200)
#      containers: wrk latency, the request crossing the control plane, the agent's WebSocket and
#      the node's Docker Engine;
#   3. install of a busybox web app (a private catalog folder) on the agent node, from the API call
#      to healthy: BENCH_INSTALLS (5) runs, median wall time and the job's own breakdown;
#   2. followed logs of a chatty container (`yes` of 100-byte lines) through the agent to an SSE
#      client for BENCH_LOG_SECONDS (10): bytes of log text per second arriving at the client.
# It starts its own dockerd (scripts/lib/peers.sh), never touching the machine's Docker.
# Figures are also written to scripts/bench/last-containers-results.txt.
#
# Environment: NEBULA_BIN (release binary; built when unset), BENCH_CONTAINERS, BENCH_LOG_SECONDS.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COUNT=${BENCH_CONTAINERS:-200}
LOG_SECONDS=${BENCH_LOG_SECONDS:-10}
RESULTS="$ROOT/scripts/bench/last-containers-results.txt"

bench_binary
bench_start containers
AGENT_PID=""
bench_on_exit 'stop_dockerd "$TMP/d"'
bench_on_exit 'stop_pid "$AGENT_PID" 5'
unset DATABASE_URL

mkdir -p "$TMP/d"
start_dockerd "$TMP/d"
DOCKER=(docker -H "$NEBULA_TEST_DOCKER_HOST")
echo "==> creating $COUNT containers" >&2
for ((i = 0; i < COUNT; i++)); do
  "${DOCKER[@]}" create --network none --label nebula.bench=1 --name "bench-$i" "$NEBULA_TEST_DOCKER_IMAGE" sleep 3600 >/dev/null
done

DATA=$TMP/data
bench_admin "$DATA"
# The control plane's own node uses the same engine, so the log stream can be measured both ways.
bench_serve "$DATA" DOCKER_HOST="$NEBULA_TEST_DOCKER_HOST" NEBULA_APPS_DIR="$TMP/local-apps"

ID=$(api -d '{"name":"bench-docker","connection":"agent"}' "$URL/api/v1/servers" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
JOIN=$(api -X POST "$URL/api/v1/servers/$ID/join-token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
DOCKER_HOST=$NEBULA_TEST_DOCKER_HOST NEBULA_APPS_DIR=$TMP/agent-apps "$BIN" agent --server "$URL" --token "$JOIN" --credential-file "$TMP/agent/credential.json" --interval 5 >"$TMP/agent.log" 2>&1 &
AGENT_PID=$!
for ((i = 0; i < 100; i++)); do
  api "$URL/api/v1/servers/$ID/containers" >/dev/null 2>&1 && break
  sleep 0.2
done
LISTED=$(api "$URL/api/v1/servers/$ID/containers?all=true" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')

echo "==> wrk container list ($LISTED containers)" >&2
wrk -t1 -c4 -d10s --latency -H "Authorization: Bearer $TOKEN" "$URL/api/v1/servers/$ID/containers?all=true" >"$TMP/wrk.txt"
LIST_P50=$(awk '$1 == "50%" {print $2}' "$TMP/wrk.txt")
LIST_P99=$(awk '$1 == "99%" {print $2}' "$TMP/wrk.txt")
LIST_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$TMP/wrk.txt")

echo "==> followed logs of a chatty container for ${LOG_SECONDS}s (through the agent, then the local node)" >&2
LINE=$(printf 'x%.0s' $(seq 1 99))
"${DOCKER[@]}" run -d --network none --name bench-chatty "$NEBULA_TEST_DOCKER_IMAGE" sh -c "yes $LINE" >/dev/null
LOCAL_ID=$(api "$URL/api/v1/servers" | python3 -c 'import json,sys; print([s["id"] for s in json.load(sys.stdin)["items"] if s["connection"] == "local"][0])')
# Only what reaches the client counts: SSE framing and JSON are stripped before counting.
measure_logs() {
  curl -sN -m "$LOG_SECONDS" -H "Authorization: Bearer $TOKEN" \
    "$URL/api/v1/servers/$1/containers/bench-chatty/logs?follow=true&tail=1" >"$TMP/sse.txt" || true
  python3 - "$TMP/sse.txt" "$LOG_SECONDS" <<'PY'
import json, sys
raw = open(sys.argv[1], "rb").read()
seconds = float(sys.argv[2])
text = lines = 0
for block in raw.split(b"\n\n"):
    if b"event: lines" not in block:
        continue
    data = b"".join(l[6:] for l in block.split(b"\n") if l.startswith(b"data: "))
    try:
        batch = json.loads(data)
    except ValueError:
        continue  # the last block, cut by the timeout
    lines += len(batch["t"])
    text += sum(len(item) + 1 for item in batch["t"])
print("%.1f MB/s|%d lines, %.1f MB/s on the wire" % (text / seconds / 1e6, lines, len(raw) / seconds / 1e6))
PY
}
IFS='|' read -r LOG_RATE LOG_NOTE <<<"$(measure_logs "$ID")"
IFS='|' read -r LOCAL_RATE LOCAL_NOTE <<<"$(measure_logs "$LOCAL_ID")"
RAW_BYTES=$(timeout "$LOG_SECONDS" "${DOCKER[@]}" logs -f --tail 1 bench-chatty 2>&1 | wc -c || true)
RAW_RATE=$(awk -v b="$RAW_BYTES" -v s="$LOG_SECONDS" 'BEGIN {printf "%.1f MB/s", b / s / 1e6}')
"${DOCKER[@]}" rm -f bench-chatty >/dev/null

echo "==> installs of a busybox web app through the agent" >&2
mkdir -p "$TMP/catalog"
cat >"$TMP/catalog/bench-web.yaml" <<YAML
name: bench-web
title: Bench web
version: 1.0.0
description: busybox httpd, the benchmark's app.
category: web
icon: "🧪"
website: https://busybox.net
compose:
  services:
    web:
      image: $NEBULA_TEST_DOCKER_IMAGE
      command: ["httpd", "-f", "-p", "80", "-h", "/www"]
      ports:
        - "\${WEB_PORT}:80"
variables:
  - name: WEB_PORT
    description: Port of the page
    type: port
    default: 8080
    required: true
health_checks:
  - type: http
    port: \${WEB_PORT}
    interval: 1s
    timeout: 60s
YAML
api -d "{\"name\":\"bench\",\"kind\":\"folder\",\"location\":\"$TMP/catalog\"}" "$URL/api/v1/marketplace/sources" >/dev/null
INSTALLS=${BENCH_INSTALLS:-5}
: >"$TMP/installs.txt"
for ((i = 0; i < INSTALLS; i++)); do
  APP_PORT=$(free_port)
  T0=$(date +%s.%N)
  ANSWER=$(curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"package\":\"bench-web\",\"server\":\"$ID\",\"name\":\"bench-web-$i\",\"variables\":{\"WEB_PORT\":\"$APP_PORT\"}}" \
    "$URL/api/v1/marketplace/installs")
  JOB=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["job"]["id"], d["install"]["id"])' "$ANSWER") ||
    { echo "bench: the install was refused: $ANSWER" >&2; exit 1; }
  read -r JOB_ID INSTALL_ID <<<"$JOB"
  while :; do
    STATUS=$(api "$URL/api/v1/jobs/$JOB_ID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    [[ $STATUS == succeeded || $STATUS == failed ]] && break
    sleep 0.05
  done
  T1=$(date +%s.%N)
  LAST=$(api -H 'Accept: application/json' "$URL/api/v1/jobs/$JOB_ID/log" | python3 -c 'import json,sys; d=json.load(sys.stdin); items=d["items"] if isinstance(d,dict) else d; print(items[-1]["line"])')
  printf '%s %s %s\n' "$(awk -v a="$T0" -v b="$T1" 'BEGIN {printf "%.2f", b - a}')" "$STATUS" "$LAST" >>"$TMP/installs.txt"
  api -X DELETE "$URL/api/v1/marketplace/installs/$INSTALL_ID?deleteData=true" >/dev/null
  sleep 3
done
INSTALL_MEDIAN=$(sort -n "$TMP/installs.txt" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] " s"}')
INSTALL_BREAKDOWN=$(sort -n "$TMP/installs.txt" | awk -v m="$(( (INSTALLS + 1) / 2 ))" 'NR == m {sub(/^[^ ]+ [^ ]+ /, ""); print}')
INSTALL_OK=$(grep -c ' succeeded ' "$TMP/installs.txt" || true)

{
  echo "Nebula Command containers benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "host: $(nproc) CPU; SQLite; binary: $BIN; commit: $(git rev-parse --short HEAD 2>/dev/null || echo none)"
  echo
  row() { printf '%-52s %20s  %s\n' "$1" "$2" "$3"; }
  row "measure" "value" "notes"
  row "container list through the agent ($LISTED) p50 / p99" "$LIST_P50 / $LIST_P99" "$LIST_RPS req/s (wrk -t1 -c4 -d10s)"
  row "followed logs, agent node to the client" "$LOG_RATE" "log text; $LOG_NOTE (SSE + JSON)"
  row "followed logs, control plane's node to the client" "$LOCAL_RATE" "log text; $LOCAL_NOTE"
  row "the same with docker logs -f (the engine's ceiling)" "$RAW_RATE" "docker CLI straight from the engine's socket"
  row "install busybox web app, API call to healthy (median)" "$INSTALL_MEDIAN" "$INSTALL_OK/$INSTALLS succeeded; job's own account: $INSTALL_BREAKDOWN"
} | tee "$RESULTS"
