#!/usr/bin/env bash
# Platform benchmarks: cold start to /readyz, idle memory, API throughput. Prints a table, asserts nothing.
# Figures are also written to scripts/bench/last-results.txt.
#
# Environment:
#   DATABASE_URL=postgres://...  run the server (and CLI) against that PostgreSQL instead of SQLite
#   BENCH_POSTGRES=1             start a throwaway PostgreSQL (scripts/lib/peers.sh) and use it
#   BENCH_RUNS=5                 cold starts per case;  BENCH_DURATION=10s  wrk duration
#   NEBULA_BIN=path              benchmark that binary and skip the release build
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${BENCH_RUNS:-5}
DURATION=${BENCH_DURATION:-10s}
PASSWORD=$BENCH_PASSWORD
RESULTS="$ROOT/scripts/bench/last-results.txt"

for tool in curl wrk python3; do
  command -v "$tool" >/dev/null || { echo "bench: '$tool' is missing (make test-deps)" >&2; exit 1; }
done

bench_binary
bench_start platform
bench_on_exit 'stop_postgres "$TMP"'
bench_on_exit 'stop_pid "$SERVER_PID" 10'

BACKEND="sqlite"
OWN_PG=""
if [[ -n ${DATABASE_URL:-} ]]; then
  BACKEND="postgres (DATABASE_URL, shared database)"
  export DATABASE_URL
elif [[ -n ${BENCH_POSTGRES:-} ]]; then
  start_postgres "$TMP"
  OWN_PG=1
  BACKEND="postgres (throwaway, fresh database per fresh start)"
else
  unset DATABASE_URL
fi

# With our own PostgreSQL each "fresh" start gets a new empty database.
fresh_database() {
  [[ -n $OWN_PG ]] || return 0
  local name="bench_$1"
  "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$NEBULA_TEST_POSTGRES_PORT" -U postgres -d postgres \
    -c "create database $name" >/dev/null
  export DATABASE_URL="postgres://postgres@127.0.0.1:$NEBULA_TEST_POSTGRES_PORT/$name"
}

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# start_server DATA_DIR LOG — starts the server in the background, sets SERVER_PID and PORT.
start_server() {
  PORT=$(free_port)
  NEBULA_DATA_DIR=$1 "$BIN" serve --host 127.0.0.1 --port "$PORT" >"$2" 2>&1 &
  SERVER_PID=$!
}

# cold_start DATA_DIR LABEL — sets COLD_MS to the ms from spawn to the first 200 from /readyz (polled every 10 ms).
cold_start() {
  local dir=$1 log="$TMP/cold-$2.log" t0 code
  t0=$(now_ms)
  start_server "$dir" "$log"
  while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$PORT/readyz" 2>/dev/null) || true
    [[ $code == 200 ]] && break
    if ! pid_alive "$SERVER_PID"; then
      echo "bench: server exited during start ($2); log:" >&2; cat "$log" >&2; return 1
    fi
    if (($(now_ms) - t0 > 120000)); then
      echo "bench: no 200 from /readyz after 120 s ($2); log:" >&2; cat "$log" >&2; return 1
    fi
    sleep 0.01
  done
  COLD_MS=$(($(now_ms) - t0))
  stop_pid "$SERVER_PID" 10
  SERVER_PID=""
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2] + a[NR/2+1]) / 2)}'; }
minmax() { printf '%s\n' "$@" | sort -n | awk 'NR==1{lo=$1} {hi=$1} END {print lo "-" hi}'; }

# The data dir used for "existing data dir" starts, idle memory and throughput.
DATA="$TMP/data"
mkdir -p "$DATA"
fresh_database main

# (c, part 1) first admin and an API token via the CLI, before any server runs.
echo "==> creating admin 'bench' and a token" >&2
if ! printf '%s\n%s\n' "$PASSWORD" "$PASSWORD" |
  NEBULA_DATA_DIR=$DATA "$BIN" user create --username bench --role admin >"$TMP/user.log" 2>&1; then
  echo "bench: 'nebula user create' failed (user may already exist in a shared database):" >&2
  cat "$TMP/user.log" >&2
fi
TOKEN=$(NEBULA_DATA_DIR=$DATA "$BIN" token create --username bench --name "bench-$$" 2>"$TMP/token.err" |
  tail -n 1 | tr -d '[:space:]') || true
if [[ -z $TOKEN ]]; then
  echo "bench: 'nebula token create' printed no token:" >&2; cat "$TMP/token.err" >&2; exit 1
fi

# (a) cold starts
echo "==> cold starts (${RUNS}x fresh, ${RUNS}x existing data dir)" >&2
fresh=() existing=()
for ((i = 1; i <= RUNS; i++)); do
  mkdir -p "$TMP/fresh-$i"
  fresh_database "fresh_$i"
  cold_start "$TMP/fresh-$i" "fresh-$i"
  fresh+=("$COLD_MS")
done
[[ -n $OWN_PG ]] && export DATABASE_URL="postgres://postgres@127.0.0.1:$NEBULA_TEST_POSTGRES_PORT/bench_main"
for ((i = 1; i <= RUNS; i++)); do
  cold_start "$DATA" "existing-$i"
  existing+=("$COLD_MS")
done

# (b) idle resident memory, 5 s after ready
echo "==> idle memory" >&2
start_server "$DATA" "$TMP/server.log"
wait_http_ok "http://127.0.0.1:$PORT/readyz" 60 "$SERVER_PID"
sleep 5
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
IDLE_RSS=$(rss_kb "$SERVER_PID")

# (c, part 2) throughput
run_wrk() {
  local path=$1 out="$TMP/wrk-$(echo "$1" | tr -c 'A-Za-z0-9' _).txt" code
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$path") || true
  [[ $code == 200 ]] || echo "bench: warning: GET $path answered $code, not 200 (figures below measure that)" >&2
  echo "==> wrk -t2 -c16 -d$DURATION $path" >&2
  wrk -t2 -c16 -d"$DURATION" --latency -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$path" >"$out"
  local rps p99 non2xx
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  p99=$(awk '$1 == "99%" {print $2}' "$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
  printf '%s|%s|%s|%s\n' "$path" "${rps:-?}" "${p99:-?}" "${non2xx:-0}"
}
W1=$(run_wrk "/api/v1/events?limit=50")
W2=$(run_wrk "/api/v1/jobs")
LOAD_RSS=$(rss_kb "$SERVER_PID")
stop_pid "$SERVER_PID" 10
SERVER_PID=""

{
  echo "Nebula Command benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "host: $(nproc) CPU, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo); backend: $BACKEND"
  echo "binary: $BIN; commit: $(git rev-parse --short HEAD 2>/dev/null || echo none)"
  echo
  row() { printf '%-46s %16s  %s\n' "$1" "$2" "$3"; }
  mib() { awk -v k="$1" 'BEGIN {printf "%.1f MiB", k/1024}'; }
  row "measure" "value" "notes"
  row "----------------------------------------------" "----------------" "-----"
  row "cold start to /readyz, fresh data dir" "$(median "${fresh[@]}") ms" "median of $RUNS, range $(minmax "${fresh[@]}") ms"
  row "cold start to /readyz, existing data dir" "$(median "${existing[@]}") ms" "median of $RUNS, range $(minmax "${existing[@]}") ms"
  row "idle resident memory (VmRSS, 5 s after ready)" "$(mib "$IDLE_RSS")" "$IDLE_RSS kB"
  for w in "$W1" "$W2"; do
    IFS='|' read -r path rps p99 non2xx <<<"$w"
    row "GET $path" "$rps req/s" "p99 latency $p99, non-2xx $non2xx (wrk -t2 -c16 -d$DURATION)"
  done
  row "resident memory after load" "$(mib "$LOAD_RSS")" "$LOAD_RSS kB"
} | tee "$RESULTS"
