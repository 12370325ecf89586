#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the update server's tests (used by scripts/test.sh).
#
#   scripts/test-postgres.sh start   # installs Debian's `postgresql` if needed, initdb + start under
#                                    # target/test-postgres, prints the KILN_TEST_POSTGRES_URL to use
#   scripts/test-postgres.sh stop    # stops it and removes its data directory
#   scripts/test-postgres.sh pause   # stops the server, keeping its data (the stop/start fault test)
#   scripts/test-postgres.sh resume  # starts it again on the same port
#
# The server listens on 127.0.0.1 on a free port (and a unix socket in the data directory), trusts
# local connections, and runs as the `postgres` user when started by root (PostgreSQL refuses to
# run as root). fsync is off: the cluster holds test data only and lives as long as one test run
# (KILN_TEST_POSTGRES_FSYNC=on turns it on, as the benchmark does; KILN_TEST_POSTGRES_DIR moves the
# cluster elsewhere than target/test-postgres).
# Any failure exits non-zero with the reason, so the run fails instead of skipping the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
base="${KILN_TEST_POSTGRES_DIR:-$(pwd)/target/test-postgres}"
# When the postgres user cannot reach $base (a checkout under a private home directory, say), the
# cluster lives in a directory under /tmp that $base/location names.
home="$(cat "$base/location" 2>/dev/null || echo "$base")"
data="$home/data"

bindir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
    echo "==> apt-get install postgresql" >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  fi
  [ -x "$dir/initdb" ] || { echo "PostgreSQL's initdb not found after installing postgresql" >&2; exit 1; }
  echo "$dir"
}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

server_start() {
  as_owner "$bin/pg_ctl" -D "$data" -l "$home/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$data -c max_connections=400 -c fsync=${KILN_TEST_POSTGRES_FSYNC:-off} -c full_page_writes=${KILN_TEST_POSTGRES_FSYNC:-off}" \
    start >&2 || { cat "$home/server.log" >&2; echo "PostgreSQL did not start" >&2; exit 1; }
}

case "${1:-}" in
  start)
    bin="$(bindir)"
    if [ -f "$data/postmaster.pid" ]; then as_owner "$bin/pg_ctl" -D "$data" -m immediate stop >&2 || true; fi
    if [ "$home" != "$base" ]; then rm -rf "$home"; fi
    rm -rf "$base"
    mkdir -p "$base"
    home="$base"
    if [ "$(id -u)" -eq 0 ]; then
      chown postgres: "$base"
      if ! runuser -u postgres -- test -w "$base"; then
        home="$(mktemp -d /tmp/kiln-test-postgres.XXXXXX)"
        chown postgres: "$home"
        echo "$home" >"$base/location"
        echo "==> $base is out of the postgres user's reach; the cluster lives in $home" >&2
      fi
    fi
    data="$home/data"
    as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust --locale=C.UTF-8 -E UTF8 >"$base/initdb.log" 2>&1 \
      || { cat "$base/initdb.log" >&2; echo "initdb failed" >&2; exit 1; }
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    echo "$bin" >"$base/bindir"
    echo "$port" >"$base/port"
    server_start
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  pause)
    as_owner "$(cat "$base/bindir")/pg_ctl" -D "$data" -m fast -w stop >&2
    ;;
  resume)
    bin="$(cat "$base/bindir")"
    port="$(cat "$base/port")"
    server_start
    ;;
  stop)
    if [ -f "$data/postmaster.pid" ]; then
      as_owner "$(cat "$base/bindir")/pg_ctl" -D "$data" -m fast -w stop >&2 || true
    fi
    if [ "$home" != "$base" ]; then rm -rf "$home"; fi
    rm -rf "$base"
    ;;
  *)
    echo "usage: $0 start|stop|pause|resume" >&2
    exit 2
    ;;
esac
