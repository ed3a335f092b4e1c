#!/usr/bin/env bash
# Runs the throwaway PostgreSQL server that the outbox tests use, from
# Debian's postgresql package (no Docker).
#
#   scripts/postgres.sh up         start (no-op if already serving)
#   scripts/postgres.sh down       stop it and delete its data
#   scripts/postgres.sh status
#   scripts/postgres.sh env        print the EVENTBUS_TEST_POSTGRES export
#   scripts/postgres.sh run -- CMD...
#                  start the server, run CMD with EVENTBUS_TEST_POSTGRES set,
#                  then stop and delete it if this call started it (also when
#                  CMD fails)
#
# The server listens on 127.0.0.1 only, port EVENTBUS_POSTGRES_PORT (55432),
# trusts every local connection (test data only) and keeps its data and log
# in .postgres/ (or a temporary folder it names, when the server's user
# cannot reach it). When the PostgreSQL binaries are missing and we run as root
# (as CI does), `up` installs the postgresql package with apt-get first. A
# root caller runs the server as the unprivileged user "postgres", which
# PostgreSQL requires.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PORT=${EVENTBUS_POSTGRES_PORT:-55432}
STATE=$ROOT/.postgres
DB_USER=eventbus

log() { printf 'postgres: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

dsn() { printf 'postgres://%s@127.0.0.1:%s/postgres?sslmode=disable\n' "$DB_USER" "$PORT"; }

# bin_dir prints the directory holding initdb, pg_ctl and postgres: the newest
# /usr/lib/postgresql/<version>/bin (Debian keeps them off PATH), or PATH's.
bin_dir() {
  local dir
  dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1)
  if [[ -n $dir && -x $dir/initdb ]]; then
    printf '%s\n' "$dir"
  elif command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(command -v initdb)"
  else
    return 1
  fi
}

install_postgres() {
  [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null ||
    die "PostgreSQL binaries (initdb, pg_ctl) not found: install them (Debian/Ubuntu: apt-get install postgresql) or put them on PATH"
  log "installing the postgresql package with apt-get (first run only)"
  # Without this, the package creates and starts a cluster on port 5432.
  if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
    mkdir -p /etc/postgresql-common
    printf 'create_main_cluster = false\n' >/etc/postgresql-common/createcluster.conf
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2 ||
    die "apt-get install postgresql failed (output above)"
}

# as_server CMD... runs CMD as the user the server runs as: PostgreSQL
# refuses to run as root.
as_server() {
  if [[ $(id -u) == 0 ]]; then
    id postgres >/dev/null 2>&1 || die "running as root, but there is no user 'postgres' to run the server as"
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# The server's files live in .postgres/, or, when the user "postgres" cannot
# reach that folder (a checkout under a private home directory), in a
# temporary folder that .postgres/rundir names.
locate() {
  RUNDIR=$STATE
  [[ -f $STATE/rundir ]] && RUNDIR=$(<"$STATE/rundir")
  DATA=$RUNDIR/data
  LOG=$RUNDIR/postgres.log
}

running() { locate; [[ -f $DATA/postmaster.pid ]] && as_server "$BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1; }

port_free() { ! (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cmd_up() {
  BIN=$(bin_dir) || { install_postgres && BIN=$(bin_dir); } || die "no PostgreSQL binaries after installing"
  if running; then
    log "already running on port $PORT"
    return 0
  fi
  [[ $PORT =~ ^[0-9]+$ ]] || die "EVENTBUS_POSTGRES_PORT=$PORT is not a port number"
  port_free "$PORT" || die "port $PORT is in use by another process: stop it or choose another port with EVENTBUS_POSTGRES_PORT"
  remove_files
  mkdir -p "$STATE"
  if [[ $(id -u) == 0 ]]; then
    chown postgres: "$STATE"
    if ! as_server test -w "$STATE"; then
      local tmp
      tmp=$(mktemp -d "${TMPDIR:-/tmp}/eventbus-postgres.XXXXXX")
      chown postgres: "$tmp"
      printf '%s\n' "$tmp" >"$STATE/rundir"
      log "the user 'postgres' cannot reach $STATE: keeping the server's files in $tmp"
    fi
  fi
  locate
  as_server mkdir -p "$DATA"
  as_server touch "$LOG"
  local start=$SECONDS
  as_server "$BIN/initdb" -D "$DATA" -U "$DB_USER" --auth=trust --encoding=UTF8 --no-locale >>"$LOG" 2>&1 ||
    { tail -n 30 "$LOG" >&2; die "initdb failed (log: $LOG)"; }
  # Test data only: durability settings off for speed, loopback TCP only, no
  # Unix socket (its default directory may not exist or be writable).
  as_server "$BIN/pg_ctl" start -D "$DATA" -l "$LOG" -w -t 60 -o \
    "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    >/dev/null || { tail -n 30 "$LOG" >&2; die "PostgreSQL did not start (log: $LOG)"; }
  log "serving on 127.0.0.1:$PORT (ready after $((SECONDS - start))s), log: ${LOG#"$ROOT"/}"
}

cmd_down() {
  BIN=$(bin_dir) || true
  if [[ -n ${BIN:-} ]] && running; then
    log "stopping"
    as_server "$BIN/pg_ctl" stop -D "$DATA" -m fast -w -t 60 >/dev/null ||
      as_server "$BIN/pg_ctl" stop -D "$DATA" -m immediate -w >/dev/null || true
  fi
  remove_files
}

remove_files() {
  locate
  if [[ $RUNDIR != "$STATE" ]]; then rm -rf "$RUNDIR"; fi
  rm -rf "$STATE"
}

cmd_status() {
  BIN=$(bin_dir) || {
    echo "postgres: not installed"
    return 3
  }
  if running; then echo "postgres: running on 127.0.0.1:$PORT, log ${LOG#"$ROOT"/}"; else
    echo "postgres: not running"
    return 3
  fi
}

cmd_env() { printf "export EVENTBUS_TEST_POSTGRES='%s'\n" "$(dsn)"; }

RUN_STARTED=false

cmd_run() {
  [[ ${1:-} == -- ]] || die "usage: scripts/postgres.sh run -- command [args...]"
  shift
  BIN=$(bin_dir) || true
  if [[ -n ${BIN:-} ]] && running; then
    log "already running: leaving it running afterwards"
  else
    RUN_STARTED=true
  fi
  trap stop_run_started EXIT
  trap 'exit 130' INT TERM
  cmd_up
  EVENTBUS_TEST_POSTGRES=$(dsn)
  export EVENTBUS_TEST_POSTGRES
  "$@"
}

# shellcheck disable=SC2317,SC2329 # invoked by the EXIT trap
stop_run_started() {
  local status=$?
  if $RUN_STARTED; then cmd_down; fi
  exit "$status"
}

main() {
  local cmd=${1:-}
  shift || true
  case $cmd in
    up) cmd_up && cmd_env ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    run) cmd_run "$@" ;;
    *)
      sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
      exit 2
      ;;
  esac
}

main "$@"
