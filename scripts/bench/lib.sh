# Shared by the benchmark scripts (sourced, never run): the repository root and peers, the
# release binary, a temporary directory removed on exit together with everything a script
# registers, an admin token made with the CLI, and `nebula serve` on a free loopback port.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
if ! command -v swift >/dev/null && [[ -d /opt/swift/usr/bin ]]; then PATH=/opt/swift/usr/bin:$PATH; fi
# shellcheck source=../lib/peers.sh
source "$ROOT/scripts/lib/peers.sh"

BENCH_PASSWORD="bench-password-123"
SERVER_PID=""
_BENCH_ON_EXIT=()

# bench_on_exit 'COMMAND' — run COMMAND (evaluated then, so it sees later PIDs) when the script
# ends, failure and Ctrl-C included; the last registered runs first, the temporary directory last.
bench_on_exit() { _BENCH_ON_EXIT+=("$1"); }

_bench_cleanup() {
  local rc=$? i
  set +e
  trap - EXIT INT TERM
  if ((rc != 0)) && [[ -f ${TMP:-}/server.log ]]; then
    echo "----- nebula server log, last 40 lines -----" >&2
    tail -n 40 "$TMP/server.log" >&2
  fi
  for ((i = ${#_BENCH_ON_EXIT[@]} - 1; i >= 0; i--)); do eval "${_BENCH_ON_EXIT[i]}"; done
  [[ -n ${TMP:-} ]] && rm -rf "$TMP"
  exit "$rc"
}

# bench_start NAME — makes TMP (readable by the peers' own users) and installs the exit trap.
bench_start() {
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/nebula-$1.XXXXXX")
  chmod 755 "$TMP"
  trap _bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# bench_binary [PRODUCT…] — BIN: NEBULA_BIN, else a release build of nebula (and of the other
# products named) in BENCH_SCRATCH_PATH (default .build).
bench_binary() {
  local scratch=${BENCH_SCRATCH_PATH:-.build} product
  if [[ -z ${NEBULA_BIN:-} ]]; then
    echo "==> swift build -c release --scratch-path $scratch --product nebula" >&2
    swift build -c release --scratch-path "$scratch" --product nebula >&2
  fi
  for product in "$@"; do
    echo "==> swift build -c release --scratch-path $scratch --product $product" >&2
    swift build -c release --scratch-path "$scratch" --product "$product" >&2
  done
  BIN=${NEBULA_BIN:-$ROOT/$scratch/release/nebula}
  [[ -x $BIN ]] || { echo "bench: $BIN is not executable" >&2; exit 1; }
}

# bench_admin DATA_DIR — an admin `bench` made with the CLI and TOKEN, an API token of it.
bench_admin() {
  mkdir -p "$1"
  printf '%s\n%s\n' "$BENCH_PASSWORD" "$BENCH_PASSWORD" | NEBULA_DATA_DIR=$1 "$BIN" user create --username bench --role admin >/dev/null
  TOKEN=$(NEBULA_DATA_DIR=$1 "$BIN" token create --username bench --name bench | tail -n 1 | tr -d '[:space:]')
}

# bench_serve DATA_DIR [VAR=value…] — `nebula serve` on a free loopback port with those variables,
# logging to $TMP/server.log; sets PORT, URL, SERVER_PID and waits for /readyz. Stopped on exit
# before what was registered earlier.
bench_serve() {
  local data=$1
  shift
  bench_on_exit 'stop_pid "$SERVER_PID" 10'
  PORT=$(free_port)
  URL="http://127.0.0.1:$PORT"
  env NEBULA_DATA_DIR="$data" NEBULA_LOG_LEVEL=warning "$@" "$BIN" serve --host 127.0.0.1 --port "$PORT" >"$TMP/server.log" 2>&1 &
  SERVER_PID=$!
  wait_http_ok "$URL/readyz" 120 "$SERVER_PID"
}

# api ARGS… — curl with the admin token, JSON in and out, failing on HTTP errors.
api() { curl -fsS -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" "$@"; }
