#!/usr/bin/env bash
# Proxy benchmark (issue 6, performance). Prints a table, asserts nothing:
#   - render + apply of BENCH_ROUTES (500) routes through Nebula's API into a real Caddy
#     (POST /api/v1/proxy/apply, end to end: read routes, resolve upstreams, build the JSON,
#     check Caddy's running config, /load, record the version), median of BENCH_APPLIES (5) applies
#     that each change one route so Caddy really reloads;
#   - the size of the rendered config;
#   - latency added by the proxy: wrk against a keep-alive upstream (`caddy respond`) directly, then through Caddy
#     over plain HTTP (a `tls off` route) and over HTTPS (a `tls internal` route for localhost).
# Figures are also written to scripts/bench/last-proxy-results.txt.
#
# Environment: NEBULA_BIN (a built binary; `swift build -c release --product nebula` when unset),
# BENCH_ROUTES, BENCH_APPLIES, BENCH_WRK_SECONDS (10).
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUTES=${BENCH_ROUTES:-500}
APPLIES=${BENCH_APPLIES:-5}
WRK_SECONDS=${BENCH_WRK_SECONDS:-10}
RESULTS="$ROOT/scripts/bench/last-proxy-results.txt"

bench_binary
command -v wrk >/dev/null || { echo "bench: wrk is not installed (make test-deps)" >&2; exit 1; }
bench_start proxy
UPSTREAM_PID=""
bench_on_exit 'stop_caddy "$TMP"'
bench_on_exit 'stop_pid "$UPSTREAM_PID" 5'
unset DATABASE_URL

# The upstream: `caddy respond` (keep-alive, a fixed body), so the upstream is not what the tail
# measures (busybox httpd closes every connection: through a proxy that showed as ~1 s p99).
UPSTREAM_PORT=$(free_port)
XDG_DATA_HOME=$TMP/upstream XDG_CONFIG_HOME=$TMP/upstream \
  /usr/bin/caddy respond --listen "127.0.0.1:$UPSTREAM_PORT" --body 'hello from the upstream' >"$TMP/upstream.log" 2>&1 &
UPSTREAM_PID=$!
wait_http_ok "http://127.0.0.1:$UPSTREAM_PORT/" 30 "$UPSTREAM_PID"

start_caddy "$TMP"

DATA=$TMP/data
bench_admin "$DATA"
bench_serve "$DATA" NEBULA_LOCAL_AGENT=false

api -X PUT "$URL/api/v1/proxy/settings" -d "{\"adminURL\":\"$NEBULA_TEST_CADDY_ADMIN\",\"httpPort\":$NEBULA_TEST_CADDY_HTTP_PORT,\"httpsPort\":$NEBULA_TEST_CADDY_HTTPS_PORT,\"listenHost\":\"127.0.0.1\"}" >/dev/null

echo "==> creating $ROUTES routes" >&2
python3 - "$URL" "$TOKEN" "$ROUTES" "$UPSTREAM_PORT" <<'PY'
import json, sys, urllib.request
url, token, count, port = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def post(body):
    request = urllib.request.Request(url + "/api/v1/proxy/routes", data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=30).read()
# Two routes the latency measurement uses, then the rest (internal TLS, some with paths and headers).
post({"host": "plain.bench.test", "upstream": {"kind": "address", "address": f"127.0.0.1:{port}"}, "tls": "off"})
post({"host": "localhost", "upstream": {"kind": "address", "address": f"127.0.0.1:{port}"}, "tls": "internal", "redirectToHTTPS": False})
for i in range(count - 2):
    body = {"host": f"app{i:04d}.bench.test", "upstream": {"kind": "address", "address": f"127.0.0.1:{port}"}, "tls": "internal"}
    if i % 5 == 0:
        body["pathPrefix"] = "/api"
    if i % 7 == 0:
        body["requestHeaders"] = {"X-Bench": str(i)}
    post(body)
PY

echo "==> applying ($APPLIES times, one route changed between applies)" >&2
TIMES=()
for ((n = 0; n < APPLIES; n++)); do
  # Change one route so each apply sends a new config.
  ROUTE=$(api "$URL/api/v1/proxy/routes" | python3 -c 'import json,sys; r=[x for x in json.load(sys.stdin)["items"] if x["host"]=="app0001.bench.test"][0]; print(r["id"], r["revision"])')
  read -r ROUTE_ID REVISION <<<"$ROUTE"
  api -X PUT "$URL/api/v1/proxy/routes/$ROUTE_ID" -d "{\"revision\":$REVISION,\"requestHeaders\":{\"X-Apply\":\"$n\"}}" >/dev/null
  T=$(curl -fsS -o "$TMP/apply.json" -w '%{time_total}' -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
        -d '{"force":true}' "$URL/api/v1/proxy/apply")
  TIMES+=("$T")
done
APPLY_MEDIAN=$(printf '%s\n' "${TIMES[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
CONFIG_BYTES=$(curl -fsS "$NEBULA_TEST_CADDY_ADMIN/config/" | wc -c)

ROOT_CA=$NEBULA_TEST_CADDY_DATA/caddy/pki/authorities/local/root.crt
curl -fsS --cacert "$ROOT_CA" "https://localhost:$NEBULA_TEST_CADDY_HTTPS_PORT/" >/dev/null   # warm up the certificate
latency() {   # wrk URL [header] → "p50 p99 req/s"
  local out
  if [[ -n ${2:-} ]]; then out=$(wrk -t2 -c16 -d"${WRK_SECONDS}s" --latency -H "$2" "$1"); else out=$(wrk -t2 -c16 -d"${WRK_SECONDS}s" --latency "$1"); fi
  printf '%s %s %s\n' "$(awk '/ 50%/ {print $2}' <<<"$out")" "$(awk '/ 99%/ {print $2}' <<<"$out")" "$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
}
echo "==> wrk ${WRK_SECONDS}s each: direct, through Caddy (HTTP), through Caddy (HTTPS)" >&2
read -r D50 D99 DRPS <<<"$(latency "http://127.0.0.1:$UPSTREAM_PORT/")"
read -r P50 P99 PRPS <<<"$(latency "http://127.0.0.1:$NEBULA_TEST_CADDY_HTTP_PORT/" "Host: plain.bench.test")"
read -r S50 S99 SRPS <<<"$(latency "https://localhost:$NEBULA_TEST_CADDY_HTTPS_PORT/")"

{
  echo "Proxy benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $ROUTES routes, Caddy $(/usr/bin/caddy version | awk '{print $1}')"
  printf '%-46s %s\n' "apply $ROUTES routes end to end (median of $APPLIES)" "${APPLY_MEDIAN} s"
  printf '%-46s %s\n' "applies (s)" "${TIMES[*]}"
  printf '%-46s %s\n' "running Caddy config size" "$CONFIG_BYTES bytes"
  printf '%-46s %s\n' "direct upstream p50 / p99 / req/s" "$D50 / $D99 / $DRPS"
  printf '%-46s %s\n' "through Caddy, HTTP p50 / p99 / req/s" "$P50 / $P99 / $PRPS"
  printf '%-46s %s\n' "through Caddy, HTTPS p50 / p99 / req/s" "$S50 / $S99 / $SRPS"
} | tee "$RESULTS"
