#!/usr/bin/env bash
# Full test run: throwaway PostgreSQL + `swift test` (+ browser page tests when present).
#
#   scripts/test.sh                       everything
#   scripts/test.sh --filter Suite/test   extra arguments go to `swift test`
#
# Environment: NEBULA_SKIP_PAGES=1 skips the page tests; NEBULA_KEEP_TMP=1 keeps the temp dir;
# CI=1 prints the server and PostgreSQL logs in full on failure; NEBULA_SCREENSHOTS=DIR keeps
# page screenshots. NEBULA_BIN / NEBULA_PAGES_DIR override the server binary / page-test dir.
# NEBULA_TEST_WIDTH (default 16) caps how many test cases run at once.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if ! command -v swift >/dev/null && [[ -d /opt/swift/usr/bin ]]; then PATH=/opt/swift/usr/bin:$PATH; fi
# shellcheck source=lib/peers.sh
source "$ROOT/scripts/lib/peers.sh"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/nebula-test.XXXXXX")
chmod 755 "$TMP"   # PostgreSQL runs as the postgres user and must reach it
SERVER_PID=""
SERVER_LOG="$TMP/server.log"
PAGES_DIR=${NEBULA_PAGES_DIR:-Tests/pages}
STEP="setup"

print_logs() {
  if [[ -n $SERVER_PID || -s $SERVER_LOG ]] && [[ -f $SERVER_LOG ]]; then
    if [[ -n ${CI:-} ]]; then
      echo "----- nebula server log ($SERVER_LOG) -----" >&2
      cat "$SERVER_LOG" >&2
    else
      echo "----- nebula server log, last 100 lines (CI=1 for all) -----" >&2
      tail -n 100 "$SERVER_LOG" >&2
    fi
    echo "----- end of server log -----" >&2
  fi
  if [[ -n ${CI:-} && -f $TMP/pg/server.log ]]; then
    echo "----- PostgreSQL log -----" >&2
    cat "$TMP/pg/server.log" >&2
    echo "----- end of PostgreSQL log -----" >&2
  fi
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if ((rc != 0)); then
    echo "test.sh: FAILED during: $STEP (exit $rc)" >&2
    print_logs
  fi
  stop_pid "$SERVER_PID" 10
  stop_postgres "$TMP"
  stop_sshd "$TMP"
  stop_dockerd "$TMP"
  stop_pdns "$TMP"
  if [[ -n ${NEBULA_KEEP_TMP:-} ]]; then
    echo "test.sh: kept $TMP" >&2
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

STEP="starting PostgreSQL"
start_postgres "$TMP"

STEP="starting OpenSSH servers"
start_sshd "$TMP"

STEP="starting dockerd"
start_dockerd "$TMP"

STEP="starting PowerDNS"
start_pdns "$TMP"

# Swift Testing starts every test case at once by default: ~600 cases, each with its own app,
# database and peers, on a 2-core runner left single tests starved past their deadlines. A cap
# keeps the same throughput (the CPU is the limit either way) without the starvation.
WIDTH=${NEBULA_TEST_WIDTH:-16}
STEP="swift test $*"
echo "==> swift test --experimental-maximum-parallelization-width $WIDTH $*"
swift test --experimental-maximum-parallelization-width "$WIDTH" "$@"

if [[ -n ${NEBULA_SKIP_PAGES:-} ]]; then
  echo "==> page tests skipped (NEBULA_SKIP_PAGES is set)"
elif [[ ! -f $PAGES_DIR/test_pages.py ]]; then
  echo "==> no $PAGES_DIR/test_pages.py yet: page tests skipped"
else
  BIN=${NEBULA_BIN:-}
  if [[ -z $BIN ]]; then
    STEP="swift build --product nebula"
    swift build --product nebula   # usually already built by swift test: a no-op
    BIN=.build/debug/nebula
  fi
  PORT=$(free_port)
  mkdir -p "$TMP/pages-data"

  STEP="starting the server for page tests"
  echo "==> $BIN serve --host 127.0.0.1 --port $PORT (data: $TMP/pages-data)"
  # Page tests must never power off this machine: the power commands are harmless here. Its
  # containers and apps are the throwaway dockerd's, never the machine's own Docker.
  NEBULA_REBOOT_COMMAND=true NEBULA_SHUTDOWN_COMMAND=true \
  DOCKER_HOST="$NEBULA_TEST_DOCKER_HOST" NEBULA_APPS_DIR="$TMP/pages-apps" \
  NEBULA_DATA_DIR="$TMP/pages-data" "$BIN" serve --host 127.0.0.1 --port "$PORT" >"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  wait_http_ok "http://127.0.0.1:$PORT/readyz" 60 "$SERVER_PID"

  STEP="page tests (pytest $PAGES_DIR)"
  echo "==> python3 -m pytest -q $PAGES_DIR"
  NEBULA_URL="http://127.0.0.1:$PORT" python3 -m pytest -q -p no:cacheprovider "$PAGES_DIR"
fi

STEP="done"
echo "==> all tests passed"
