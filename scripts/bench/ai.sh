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

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REQUESTS=${BENCH_AI_REQUESTS:-200}
WARMUP=${BENCH_AI_WARMUP:-20}
CHUNKS=${BENCH_AI_CHUNKS:-1000}
RESULTS="$ROOT/scripts/bench/last-ai-results.txt"
ALL_RESULTS="$ROOT/scripts/bench/last-results.txt"

if [[ -n ${NEBULA_AI_BENCH_BIN:-} ]]; then bench_binary; else bench_binary nebula-ai-bench; fi
BENCH=${NEBULA_AI_BENCH_BIN:-$ROOT/${BENCH_SCRATCH_PATH:-.build}/release/nebula-ai-bench}
[[ -x $BENCH ]] || { echo "bench: $BENCH is not executable" >&2; exit 1; }
bench_start ai
UPSTREAM_PID=""
bench_on_exit 'stop_pid "$UPSTREAM_PID" 5'
unset DATABASE_URL

# The upstream: one event-loop thread, chunks pre-built.
UPSTREAM_PORT=$(free_port)
"$BENCH" upstream --port "$UPSTREAM_PORT" >"$TMP/upstream.log" 2>&1 &
UPSTREAM_PID=$!
wait_http_ok "http://127.0.0.1:$UPSTREAM_PORT/v1/models" 30 "$UPSTREAM_PID"

DATA=$TMP/data
bench_admin "$DATA"
bench_serve "$DATA" NEBULA_LOCAL_AGENT=false

HEALTH=$(api -d "{\"name\":\"bench\",\"kind\":\"openai\",\"baseURL\":\"http://127.0.0.1:$UPSTREAM_PORT/v1\"}" \
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
