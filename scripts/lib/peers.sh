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
          -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/pgsock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=1000 -c log_lock_waits=on -c log_min_duration_statement=5000 -c log_parameter_max_length=0 -c log_checkpoints=off" \
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

# start_sshd DIR — two throwaway OpenSSH servers on 127.0.0.1 (free ports), files in DIR/sshd.
# Both accept the same keys (DIR/sshd/authorized_keys, which starts with DIR/sshd/userkey.pub; tests
# append their own keys) for the current user, but have different host keys: the second ("alt") one
# lets tests simulate a host whose key changed. Exports NEBULA_TEST_SSH_PORT, NEBULA_TEST_SSH_ALT_PORT,
# NEBULA_TEST_SSH_USER, NEBULA_TEST_SSH_KEY, NEBULA_TEST_SSH_AUTHORIZED_KEYS and
# NEBULA_TEST_SSH_HOSTKEY_PUB. Stop them with stop_sshd DIR.
start_sshd() {
  local dir=${1:?usage: start_sshd DIR}
  local sdir name port=""
  dir=$(cd "$dir" && pwd) || return 1
  sdir=$dir/sshd
  if [[ ! -x /usr/sbin/sshd ]]; then
    echo "peers: /usr/sbin/sshd not found (apt-get install openssh-server, or: make test-deps)" >&2
    return 1
  fi
  # sshd refuses to start without its privilege-separation directory.
  mkdir -p /run/sshd 2>/dev/null || [[ -d /run/sshd ]] || {
    echo "peers: cannot create /run/sshd (sshd needs it; run as root or create it once with sudo)" >&2
    return 1
  }
  mkdir -p "$sdir" || return 1
  chmod 755 "$sdir" || return 1
  # Sessions get an empty HOME: bash run by sshd sources ~/.bashrc even for `ssh host cmd`, and a
  # developer's rc file (pyenv init, say) writes to stderr now and then, which tests counting a
  # command's exact output would see. sshd still starts sessions in the real home directory.
  mkdir -p "$sdir/home" || return 1
  for name in hostkey hostkey2 userkey; do
    if [[ ! -f $sdir/$name ]]; then
      ssh-keygen -q -t ed25519 -N '' -C "nebula-test-$name" -f "$sdir/$name" || return 1
    fi
  done
  [[ -f $sdir/authorized_keys ]] || cp "$sdir/userkey.pub" "$sdir/authorized_keys" || return 1
  chmod 644 "$sdir/authorized_keys" || return 1

  local port_a="" port_b="" which hostkey
  for which in a b; do
    hostkey=$sdir/hostkey
    [[ $which == b ]] && hostkey=$sdir/hostkey2
    if ! port=$(_start_one_sshd "$sdir" "$which" "$hostkey"); then
      stop_sshd "$dir"
      return 1
    fi
    if [[ $which == a ]]; then port_a=$port; else port_b=$port; fi
  done

  export NEBULA_TEST_SSH_PORT=$port_a
  export NEBULA_TEST_SSH_ALT_PORT=$port_b
  export NEBULA_TEST_SSH_USER
  NEBULA_TEST_SSH_USER=$(id -un)
  export NEBULA_TEST_SSH_KEY=$sdir/userkey
  export NEBULA_TEST_SSH_AUTHORIZED_KEYS=$sdir/authorized_keys
  export NEBULA_TEST_SSH_HOSTKEY_PUB=$sdir/hostkey.pub
  echo "peers: $(ssh -V 2>&1 | cut -d, -f1) sshd on 127.0.0.1:$port_a and :$port_b (alt host key) ($sdir)" >&2
}

# _start_one_sshd SDIR NAME HOSTKEY — start one sshd (config SDIR/sshd_NAME.config) on a free port,
# print the port. Retries when the port was taken between free_port and sshd binding it.
_start_one_sshd() {
  local sdir=$1 name=$2 hostkey=$3 attempt port pid i
  for attempt in 1 2 3; do
    port=$(free_port) || return 1
    cat >"$sdir/sshd_$name.config" <<CFG
Port $port
ListenAddress 127.0.0.1
HostKey $hostkey
PidFile $sdir/sshd_$name.pid
AuthorizedKeysFile $sdir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
MaxStartups 100
MaxSessions 100
Subsystem sftp /usr/lib/openssh/sftp-server
SetEnv HOME=$sdir/home
CFG
    # -D: stay in the foreground (as our background job) so a failed bind is seen as an exit.
    /usr/sbin/sshd -D -f "$sdir/sshd_$name.config" -E "$sdir/sshd_$name.log" </dev/null >/dev/null 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$sdir/sshd_$name.job"
    for ((i = 0; i < 100; i++)); do
      pid_alive "$pid" || break
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        printf '%s\n' "$port"
        return 0
      fi
      sleep 0.1
    done
    stop_pid "$pid" 2
    rm -f "$sdir/sshd_$name.job"
  done
  echo "peers: sshd ($name) did not start; log:" >&2
  cat "$sdir/sshd_$name.log" >&2 2>/dev/null || true
  return 1
}

# stop_sshd DIR — stop the servers started by start_sshd DIR (no-op if none; safe to call twice).
stop_sshd() {
  local dir=${1:?usage: stop_sshd DIR}
  local name pid
  for name in a b; do
    [[ -f $dir/sshd/sshd_$name.job ]] || continue
    pid=$(head -n 1 "$dir/sshd/sshd_$name.job" 2>/dev/null) || pid=""
    stop_pid "$pid" 5
    rm -f "$dir/sshd/sshd_$name.job"
  done
  return 0
}

# start_dockerd DIR — throwaway Docker Engine with its own data root (DIR/docker), exec root
# (DIR/dexec) and socket (DIR/docker.sock): vfs storage, no iptables, no bridge (containers use
# `--network none` or `host`). No registry is reachable, so it imports a busybox rootfs
# (busybox-static) as local/busybox. Exports NEBULA_TEST_DOCKER_HOST (unix://DIR/docker.sock) and
# NEBULA_TEST_DOCKER_IMAGE (local/busybox). Stop it with stop_dockerd DIR.
start_dockerd() {
  local dir=${1:?usage: start_dockerd DIR}
  local sock host pid i busybox tool
  dir=$(cd "$dir" && pwd) || return 1
  sock=$dir/docker.sock
  if ((${#sock} >= 100)); then
    echo "peers: docker socket path $sock is too long for a unix socket (use a shorter DIR)" >&2
    return 1
  fi
  if ! command -v dockerd >/dev/null; then
    echo "peers: dockerd not found (apt-get install docker.io, or: make test-deps)" >&2
    return 1
  fi
  busybox=""
  for tool in /bin/busybox /usr/bin/busybox; do
    if [[ -x $tool ]] && ! ldd "$tool" >/dev/null 2>&1; then busybox=$tool; break; fi
  done
  if [[ -z $busybox ]]; then
    echo "peers: no statically linked busybox (apt-get install busybox-static, or: make test-deps)" >&2
    return 1
  fi
  host=unix://$sock
  mkdir -p "$dir/docker" "$dir/dexec" || return 1
  dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs \
    --data-root="$dir/docker" --exec-root="$dir/dexec" --pidfile="$dir/dockerd.pid" \
    -H "$host" </dev/null >"$dir/dockerd.log" 2>&1 &
  pid=$!
  printf '%s\n' "$pid" >"$dir/dockerd.job"
  for ((i = 0; i < 600; i++)); do
    if ! pid_alive "$pid"; then break; fi
    docker -H "$host" info >/dev/null 2>&1 && break
    sleep 0.1
  done
  if ! docker -H "$host" info >/dev/null 2>&1; then
    echo "peers: dockerd did not answer on $host within 60s; log:" >&2
    tail -n 50 "$dir/dockerd.log" >&2 2>/dev/null || true
    stop_dockerd "$dir"
    return 1
  fi
  if ! docker -H "$host" image inspect local/busybox >/dev/null 2>&1; then
    rm -rf "$dir/rootfs"
    mkdir -p "$dir/rootfs/bin" "$dir/rootfs/tmp" "$dir/rootfs/www" || return 1
    cp "$busybox" "$dir/rootfs/bin/busybox" || return 1
    for tool in sh echo httpd sleep wget cat ls printf seq true false env; do
      ln -sf busybox "$dir/rootfs/bin/$tool"
    done
    echo ok >"$dir/rootfs/www/index.html"
    if ! tar -C "$dir/rootfs" -c . | docker -H "$host" import - local/busybox >/dev/null; then
      echo "peers: could not import the busybox image" >&2
      stop_dockerd "$dir"
      return 1
    fi
  fi
  export NEBULA_TEST_DOCKER_HOST=$host
  export NEBULA_TEST_DOCKER_IMAGE=local/busybox
  echo "peers: dockerd $(dockerd --version | awk '{print $3}' | tr -d ,) on $host ($dir/docker)" >&2
}

# stop_dockerd DIR — stop the engine started by start_dockerd DIR and unmount what it left
# mounted under DIR (no-op if none; safe to call twice).
stop_dockerd() {
  local dir=${1:?usage: stop_dockerd DIR}
  local pid mnt proc
  if [[ -f $dir/dockerd.job ]]; then
    pid=$(head -n 1 "$dir/dockerd.job" 2>/dev/null) || pid=""
    # dockerd stops its containers on TERM (10 s each at most, in parallel).
    stop_pid "$pid" 30
    rm -f "$dir/dockerd.job"
  fi
  dir=$(cd "$dir" 2>/dev/null && pwd) || return 0
  # Container shims that outlived a killed dockerd (found by their exec root under DIR).
  for proc in /proc/[0-9]*; do
    if grep -qaF -- "$dir/dexec" "$proc/cmdline" 2>/dev/null; then
      kill -KILL "${proc#/proc/}" 2>/dev/null || true
    fi
  done
  # Leftover mounts (netns files, container rootfs), deepest first.
  while read -r mnt; do
    umount -l "$mnt" 2>/dev/null || true
  done < <(awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r)
  return 0
}

# start_pdns DIR — throwaway PowerDNS Authoritative server (gsqlite3 backend) in DIR/pdns: DNS on
# 127.0.0.1:<free port> (UDP and TCP), HTTP API on 127.0.0.1:<another free port> with a random key.
# Exports NEBULA_TEST_PDNS_API (http://127.0.0.1:PORT), NEBULA_TEST_PDNS_KEY and
# NEBULA_TEST_PDNS_DNS_PORT. Stop it with stop_pdns DIR.
start_pdns() {
  local dir=${1:?usage: start_pdns DIR}
  local pdir schema key attempt dns_port api_port pid i ready
  dir=$(cd "$dir" && pwd) || return 1
  pdir=$dir/pdns
  if ! command -v pdns_server >/dev/null; then
    echo "peers: pdns_server not found (apt-get install pdns-server pdns-backend-sqlite3, or: make test-deps)" >&2
    return 1
  fi
  schema=/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql
  if [[ ! -f $schema ]] || ! command -v sqlite3 >/dev/null; then
    echo "peers: $schema or sqlite3 missing (apt-get install pdns-backend-sqlite3 sqlite3)" >&2
    return 1
  fi
  mkdir -p "$pdir" || return 1
  if [[ ! -f $pdir/pdns.sqlite3 ]]; then
    sqlite3 "$pdir/pdns.sqlite3" <"$schema" || { rm -f "$pdir/pdns.sqlite3"; return 1; }
  fi
  key=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n') || return 1

  # Ports are free when asked but could be taken before pdns binds them: retry a few times.
  for attempt in 1 2 3; do
    dns_port=$(free_port) || return 1
    api_port=$(free_port) || return 1
    [[ $dns_port == "$api_port" ]] && continue
    cat >"$pdir/pdns.conf" <<CFG
launch=gsqlite3
gsqlite3-database=$pdir/pdns.sqlite3
local-address=127.0.0.1:$dns_port
api=yes
api-key=$key
webserver=yes
webserver-address=127.0.0.1
webserver-port=$api_port
webserver-allow-from=127.0.0.0/8
socket-dir=$pdir
security-poll-suffix=
daemon=no
guardian=no
setuid=
setgid=
CFG
    pdns_server --config-dir="$pdir" </dev/null >"$pdir/pdns.log" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$pdir/pdns.job"
    ready=""
    for ((i = 0; i < 300; i++)); do
      pid_alive "$pid" || break
      if curl -s -o /dev/null --max-time 2 -H "X-API-Key: $key" \
           "http://127.0.0.1:$api_port/api/v1/servers/localhost" 2>/dev/null \
         && (exec 3<>"/dev/tcp/127.0.0.1/$dns_port") 2>/dev/null; then
        ready=yes
        break
      fi
      sleep 0.1
    done
    [[ -n $ready ]] && break
    stop_pid "$pid" 5
    rm -f "$pdir/pdns.job"
  done
  if [[ -z $ready ]]; then
    echo "peers: PowerDNS did not start; log:" >&2
    tail -n 50 "$pdir/pdns.log" >&2 2>/dev/null || true
    return 1
  fi
  export NEBULA_TEST_PDNS_API=http://127.0.0.1:$api_port
  export NEBULA_TEST_PDNS_KEY=$key
  export NEBULA_TEST_PDNS_DNS_PORT=$dns_port
  echo "peers: PowerDNS $(pdns_server --version 2>&1 | sed -n 's/.*Authoritative Server \([^ ]*\).*/\1/p' | head -n 1) DNS on 127.0.0.1:$dns_port, API on :$api_port ($pdir)" >&2
}

# stop_pdns DIR — stop the server started by start_pdns DIR (no-op if none; safe to call twice).
stop_pdns() {
  local dir=${1:?usage: stop_pdns DIR}
  local pid
  [[ -f $dir/pdns/pdns.job ]] || return 0
  pid=$(head -n 1 "$dir/pdns/pdns.job" 2>/dev/null) || pid=""
  stop_pid "$pid" 10
  rm -f "$dir/pdns/pdns.job"
  return 0
}

# start_caddy DIR — throwaway Caddy 2 (/usr/bin/caddy) with only its admin API on 127.0.0.1:<free port>
# and no apps (load a config with POST /load); its data and config live in DIR/caddy (XDG_DATA_HOME is
# DIR/caddy/data, where `tls internal` puts its root CA: caddy/pki/authorities/local/root.crt). Also
# picks two more free ports for the proxy's HTTP and HTTPS listeners. Exports NEBULA_TEST_CADDY_ADMIN
# (http://127.0.0.1:<port>), NEBULA_TEST_CADDY_HTTP_PORT, NEBULA_TEST_CADDY_HTTPS_PORT and
# NEBULA_TEST_CADDY_DATA. Stop it with stop_caddy DIR.
start_caddy() {
  local dir=${1:?usage: start_caddy DIR}
  local cdir attempt admin_port http_port https_port pid=""
  dir=$(cd "$dir" && pwd) || return 1
  cdir=$dir/caddy
  if [[ ! -x /usr/bin/caddy ]]; then
    echo "peers: /usr/bin/caddy not found (apt-get install caddy, or: make test-deps)" >&2
    return 1
  fi
  mkdir -p "$cdir/data" "$cdir/config" || return 1
  # The admin port is free when asked but could be taken before caddy binds it: retry a few times.
  for attempt in 1 2 3; do
    admin_port=$(free_port) || return 1
    printf '{"admin": {"listen": "127.0.0.1:%s"}}\n' "$admin_port" >"$cdir/initial.json" || return 1
    XDG_DATA_HOME=$cdir/data XDG_CONFIG_HOME=$cdir/config \
      /usr/bin/caddy run --config "$cdir/initial.json" </dev/null >"$cdir/caddy.log" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$cdir/caddy.job"
    if wait_http_ok "http://127.0.0.1:$admin_port/config/" 30 "$pid" 2>/dev/null; then
      break
    fi
    stop_pid "$pid" 5
    rm -f "$cdir/caddy.job"
    pid=""
  done
  if [[ -z $pid ]]; then
    echo "peers: Caddy did not start; log:" >&2
    tail -n 50 "$cdir/caddy.log" >&2 2>/dev/null || true
    return 1
  fi
  http_port=$(free_port) || { stop_caddy "$dir"; return 1; }
  https_port=$(free_port) || { stop_caddy "$dir"; return 1; }
  while [[ $http_port == "$admin_port" || $https_port == "$admin_port" || $https_port == "$http_port" ]]; do
    https_port=$(free_port) || { stop_caddy "$dir"; return 1; }
    http_port=$(free_port) || { stop_caddy "$dir"; return 1; }
  done
  export NEBULA_TEST_CADDY_ADMIN=http://127.0.0.1:$admin_port
  export NEBULA_TEST_CADDY_HTTP_PORT=$http_port
  export NEBULA_TEST_CADDY_HTTPS_PORT=$https_port
  export NEBULA_TEST_CADDY_DATA=$cdir/data
  echo "peers: Caddy $(/usr/bin/caddy version 2>/dev/null | awk '{print $1}') admin on 127.0.0.1:$admin_port, proxy ports $http_port/$https_port ($cdir)" >&2
}

# stop_caddy DIR — stop the server started by start_caddy DIR (no-op if none; safe to call twice).
stop_caddy() {
  local dir=${1:?usage: stop_caddy DIR}
  local pid
  [[ -f $dir/caddy/caddy.job ]] || return 0
  pid=$(head -n 1 "$dir/caddy/caddy.job" 2>/dev/null) || pid=""
  stop_pid "$pid" 10
  rm -f "$dir/caddy/caddy.job"
  return 0
}
