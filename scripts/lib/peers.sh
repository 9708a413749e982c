# shellcheck shell=bash
# Real peers for tests and benchmarks. Source this file, then e.g.:
#
#   D=$(mktemp -d); chmod 755 "$D"
#   trap 'stop_postgres "$D"; rm -rf "$D"' EXIT
#   start_postgres "$D"          # exports NEBULA_TEST_POSTGRES_URL
#
# Every function returns non-zero on failure instead of exiting, and stop_* is
# safe to call any number of times (also after a start that failed half-way).

# Print a free TCP port on 127.0.0.1 (the kernel picks it).
free_port() {
  python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Directory with the PostgreSQL server binaries, highest installed version.
pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [[ -z $d || ! -x $d/pg_ctl ]]; then
    echo "peers: no PostgreSQL server under /usr/lib/postgresql/*/bin (apt-get install postgresql, or: make test-deps)" >&2
    return 1
  fi
  printf '%s\n' "$d"
}

# Run a command as the postgres user when we are root (PostgreSQL refuses root), else as ourselves.
_pg_as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# start_postgres DIR — throwaway PostgreSQL in DIR/pg, listening on 127.0.0.1:<free port>,
# unix socket in DIR/pgsock, database nebula_test. Exports NEBULA_TEST_POSTGRES_URL,
# NEBULA_TEST_POSTGRES_PORT and PG_BIN. Stop it with stop_postgres DIR.
start_postgres() {
  local dir=${1:?usage: start_postgres DIR}
  local bin port attempt owner=postgres
  dir=$(cd "$dir" && pwd) || return 1
  bin=$(pg_bindir) || return 1

  if [[ $(id -u) -eq 0 ]]; then
    getent passwd postgres >/dev/null || { echo "peers: no 'postgres' user (install the postgresql package)" >&2; return 1; }
    chmod 755 "$dir" || return 1
    if ! runuser -u postgres -- test -x "$dir"; then
      echo "peers: $dir is not reachable by the postgres user (a parent directory is not world-executable)" >&2
      return 1
    fi
  else
    owner=$(id -un)
  fi

  install -d -o "$owner" -m 700 "$dir/pg" || return 1
  install -d -o "$owner" -m 755 "$dir/pgsock" || return 1

  if [[ ! -f $dir/pg/PG_VERSION ]]; then
    # Run from DIR so the postgres user never sits in an unreadable working directory.
    if ! (cd "$dir" && _pg_as_owner "$bin/initdb" -D "$dir/pg" -U postgres --auth=trust \
          --encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1); then
      echo "peers: initdb failed:" >&2; cat "$dir/initdb.log" >&2
      return 1
    fi
  fi

  # The port is free when asked but could be taken before postgres binds it: retry a few times.
  for attempt in 1 2 3; do
    port=$(free_port) || return 1
    if (cd "$dir" && _pg_as_owner "$bin/pg_ctl" -D "$dir/pg" -l "$dir/pg/server.log" -s -w -t 60 \
          -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/pgsock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
          start); then
      break
    fi
    port=""
    _pg_as_owner "$bin/pg_ctl" -D "$dir/pg" -s -m immediate stop >/dev/null 2>&1 || true
  done
  if [[ -z $port ]]; then
    echo "peers: PostgreSQL did not start; server log:" >&2
    cat "$dir/pg/server.log" >&2 2>/dev/null || true
    return 1
  fi
  printf '%s\n' "$port" >"$dir/pg.port"

  # pg_ctl -w already waited; make sure TCP answers too.
  local i
  for ((i = 0; i < 300; i++)); do
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres && break
    sleep 0.1
  done
  if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; then
    echo "peers: PostgreSQL on 127.0.0.1:$port is not ready" >&2
    return 1
  fi

  if ! "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -c 'create database nebula_test' >/dev/null; then
    echo "peers: could not create database nebula_test" >&2
    return 1
  fi

  export PG_BIN=$bin
  export NEBULA_TEST_POSTGRES_PORT=$port
  export NEBULA_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/nebula_test"
  echo "peers: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($dir/pg)" >&2
}

# stop_postgres DIR — stop the server started by start_postgres DIR (no-op if none).
stop_postgres() {
  local dir=${1:?usage: stop_postgres DIR}
  local bin pid
  [[ -f $dir/pg/postmaster.pid ]] || return 0
  pid=$(head -n 1 "$dir/pg/postmaster.pid" 2>/dev/null) || pid=""
  bin=$(pg_bindir 2>/dev/null) || bin=""
  if [[ -n $bin ]]; then
    (cd "$dir" && _pg_as_owner "$bin/pg_ctl" -D "$dir/pg" -s -m fast -w -t 30 stop) >/dev/null 2>&1 || true
  fi
  # Last resort: the postmaster by its PID (children exit when it dies).
  if [[ $pid =~ ^[0-9]+$ ]] && pid_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    sleep 1
    pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
  fi
  return 0
}

# pid_alive PID — true while PID runs (a zombie, i.e. exited but not yet reaped, counts as gone).
pid_alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

# wait_http_ok URL TIMEOUT_SECONDS [PID] — poll URL until it answers 200; give up early if PID dies.
wait_http_ok() {
  local url=$1 timeout=${2:-60} pid=${3:-} deadline code
  deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if [[ -n $pid ]] && ! pid_alive "$pid"; then
      echo "peers: process $pid exited before $url became ready" >&2
      return 1
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null) || true
    [[ $code == 200 ]] && return 0
    sleep 0.2
  done
  echo "peers: $url did not return 200 within ${timeout}s (last status: ${code:-none})" >&2
  return 1
}

# stop_pid PID [GRACE_SECONDS] — TERM, wait, then KILL. Safe if PID is empty or already gone.
stop_pid() {
  local pid=${1:-} grace=${2:-10} i
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  pid_alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    pid_alive "$pid" || break
    sleep 0.1
  done
  pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
  return 0
}
