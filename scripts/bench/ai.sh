#!/usr/bin/env bash
# AI gateway benchmark (issue "AI gateway", performance): what the gateway adds against calling the
# model server directly, side by side in one run. Prints a table, asserts nothing:
#   - time to first token (request written → first content delta read), p50/p90/p99, direct and
#     through POST /api/v1/ai/openai/v1/chat/completions, and the difference (goal: < 2 ms at p50);
#   - chunk rate of a 1,000-chunk stream (first → last content chunk), direct and through the
#     gateway (goal: > 20,000 chunks/s through the gateway);
#   - the same TTFT on 2-chunk streams: the gateway's fixed cost per request, without 1,000 chunks
#     queued behind the first one (a real model sends tens of tokens per second);
#   - a short non-streaming request (20 tokens), direct and through the gateway;
#   - the gateway's CPU time per streamed chunk (utime + stime of `nebula serve`).
# The upstream and the client are `nebula-ai-bench` (Benchmarks/AIGatewayBench): a loopback
# OpenAI-compatible server that writes each chunk with its own flush as fast as it can, and a NIO
# client that counts chunks on its event loop; requests alternate direct / gateway, one at a time,
# each target on its own keep-alive connection. SQLite, release build.
# Figures are written to scripts/bench/last-ai-results.txt and appended to scripts/bench/last-results.txt.
#
# Environment: NEBULA_BIN, NEBULA_AI_BENCH_BIN (release binaries; built when unset, with
# BENCH_SCRATCH_PATH as --scratch-path, default .build), BENCH_AI_REQUESTS (200), BENCH_AI_WARMUP (20),
# BENCH_AI_CHUNKS (1000).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
if ! command -v swift >/dev/null && [[ -d /opt/swift/usr/bin ]]; then PATH=/opt/swift/usr/bin:$PATH; fi
# shellcheck source=../lib/peers.sh
source "$ROOT/scripts/lib/peers.sh"

REQUESTS=${BENCH_AI_REQUESTS:-200}
WARMUP=${BENCH_AI_WARMUP:-20}
CHUNKS=${BENCH_AI_CHUNKS:-1000}
PASSWORD="bench-password-123"
RESULTS="$ROOT/scripts/bench/last-ai-results.txt"
ALL_RESULTS="$ROOT/scripts/bench/last-results.txt"
SCRATCH=${BENCH_SCRATCH_PATH:-.build}

if [[ -z ${NEBULA_BIN:-} || -z ${NEBULA_AI_BENCH_BIN:-} ]]; then
  echo "==> swift build -c release --scratch-path $SCRATCH (nebula, nebula-ai-bench)" >&2
  [[ -n ${NEBULA_BIN:-} ]] || swift build -c release --scratch-path "$SCRATCH" --product nebula >&2
  swift build -c release --scratch-path "$SCRATCH" --product nebula-ai-bench >&2
fi
BIN=${NEBULA_BIN:-$ROOT/$SCRATCH/release/nebula}
BENCH=${NEBULA_AI_BENCH_BIN:-$ROOT/$SCRATCH/release/nebula-ai-bench}
for b in "$BIN" "$BENCH"; do [[ -x $b ]] || { echo "bench: $b is not executable" >&2; exit 1; }; done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/nebula-ai-bench.XXXXXX")
SERVER_PID="" UPSTREAM_PID=""
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if ((rc != 0)) && [[ -f $TMP/server.log ]]; then
    echo "----- nebula server log, last 40 lines -----" >&2
    tail -n 40 "$TMP/server.log" >&2
  fi
  stop_pid "$SERVER_PID" 10
  stop_pid "$UPSTREAM_PID" 5
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
unset DATABASE_URL

# The upstream: one event-loop thread, chunks pre-built.
UPSTREAM_PORT=$(free_port)
"$BENCH" upstream --port "$UPSTREAM_PORT" >"$TMP/upstream.log" 2>&1 &
UPSTREAM_PID=$!
wait_http_ok "http://127.0.0.1:$UPSTREAM_PORT/v1/models" 30 "$UPSTREAM_PID"

DATA=$TMP/data
mkdir -p "$DATA"
printf '%s\n%s\n' "$PASSWORD" "$PASSWORD" | NEBULA_DATA_DIR=$DATA "$BIN" user create --username bench --role admin >/dev/null
TOKEN=$(NEBULA_DATA_DIR=$DATA "$BIN" token create --username bench --name bench | tail -n 1 | tr -d '[:space:]')
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
NEBULA_LOCAL_AGENT=false NEBULA_DATA_DIR=$DATA NEBULA_LOG_LEVEL=warning "$BIN" serve --host 127.0.0.1 --port "$PORT" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
wait_http_ok "$URL/readyz" 120 "$SERVER_PID"

HEALTH=$(curl -fsS -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
  -d "{\"name\":\"bench\",\"kind\":\"openai\",\"baseURL\":\"http://127.0.0.1:$UPSTREAM_PORT/v1\"}" \
  "$URL/api/v1/ai/providers" | python3 -c 'import json,sys; print(json.load(sys.stdin)["health"])')
[[ $HEALTH == ok ]] || { echo "bench: the gateway sees the bench upstream as '$HEALTH'" >&2; exit 1; }

echo "==> $REQUESTS rounds (after $WARMUP warm-up rounds): $CHUNKS-chunk streams and 20-token answers, direct and through the gateway" >&2
"$BENCH" client --direct "http://127.0.0.1:$UPSTREAM_PORT/v1" --gateway "$URL/api/v1/ai/openai/v1" --token "$TOKEN" \
  --model bench-model --requests "$REQUESTS" --warmup "$WARMUP" --chunks "$CHUNKS" --short 20 --server-pid "$SERVER_PID" >"$TMP/client.txt"
# The gateway's fixed cost per request, without 1,000 chunks arriving at once behind the first one
# (a real model sends tens of tokens per second, not 100,000).
echo "==> $REQUESTS rounds of 2-chunk streams (time to first token without the flood behind it)" >&2
"$BENCH" client --direct "http://127.0.0.1:$UPSTREAM_PORT/v1" --gateway "$URL/api/v1/ai/openai/v1" --token "$TOKEN" \
  --model bench-model --requests "$REQUESTS" --warmup 10 --chunks 2 --short 20 --label "2-chunk stream: " | grep '^2-chunk stream: TTFT' >>"$TMP/client.txt"

{
  echo
  echo "AI gateway benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), backend sqlite"
  echo "binary: $BIN; commit: $(git rev-parse --short HEAD 2>/dev/null || echo none)"
  echo "upstream: nebula-ai-bench on loopback, $CHUNKS chunks per stream, one flush per chunk"
  cat "$TMP/client.txt"
  printf '%-50s %s\n' "nebula serve resident memory after the run" "$(awk '/^VmRSS:/ {printf "%.1f MiB", $2/1024}' "/proc/$SERVER_PID/status")"
} | tee "$RESULTS"
cat "$RESULTS" >>"$ALL_RESULTS"
