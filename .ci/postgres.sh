#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, on 127.0.0.1 only.
#
#   .ci/postgres.sh start   # install (Debian packages) if missing, initdb in a temp dir, start,
#                           # create the test database; prints DATABASE_URL=... on the last line
#   .ci/postgres.sh url     # print the URL of the running server
#   .ci/postgres.sh stop    # stop the server and delete its directory
#
# Settings: PG_TEST_PORT (default 54329), PG_TEST_DIR (default /tmp/prefmarket-pg-$PORT).
# The cluster trusts loopback connections and runs with fsync off: it holds test data only.
set -euo pipefail

PORT="${PG_TEST_PORT:-54329}"
DIR="${PG_TEST_DIR:-/tmp/prefmarket-pg-$PORT}"
DB=prefmarket_test
USER_NAME=postgres
URL="postgresql+psycopg://${USER_NAME}@127.0.0.1:${PORT}/${DB}"

pg_bin() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    return 1
}

install_postgres() {
    if pg_bin >/dev/null; then return 0; fi
    if [ "$(id -u)" != 0 ]; then
        echo "postgres.sh: PostgreSQL is not installed and I am not root (apt-get install -y postgresql)" >&2
        exit 1
    fi
    echo "postgres.sh: installing PostgreSQL from the Debian packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
}

# Run a command as the cluster's owner: `postgres` when we are root (the server refuses
# to run as root), else ourselves.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    install_postgres
    local bin
    bin="$(pg_bin)"
    if [ -f "$DIR/data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
        echo "postgres.sh: already running in $DIR" >&2
    else
        rm -rf "$DIR"
        mkdir -p "$DIR/data" "$DIR/sock"
        if [ "$(id -u)" = 0 ]; then
            chown -R postgres: "$DIR"
            USER_NAME=postgres
        else
            USER_NAME="$(id -un)"
        fi
        as_owner "$bin/initdb" -D "$DIR/data" -U "$USER_NAME" --auth=trust --encoding=UTF8 --no-locale >"$DIR/initdb.log" 2>&1 \
            || { cat "$DIR/initdb.log" >&2; exit 1; }
        as_owner "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start -o \
            "-h 127.0.0.1 -p $PORT -k $DIR/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 -c shared_buffers=128MB" \
            >&2 || { cat "$DIR/server.log" >&2; exit 1; }
    fi
    USER_NAME="$(stat -c %U "$DIR/data")"
    URL="postgresql+psycopg://${USER_NAME}@127.0.0.1:${PORT}/${DB}"
    if ! as_owner "$bin/psql" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
        as_owner "$bin/createdb" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" "$DB"
    fi
    echo "DATABASE_URL=$URL"
}

stop() {
    local bin
    bin="$(pg_bin)" || return 0
    if [ -d "$DIR/data" ]; then
        as_owner "$bin/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$DIR"
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    url)
        [ -d "$DIR/data" ] || { echo "postgres.sh: no server in $DIR" >&2; exit 1; }
        echo "postgresql+psycopg://$(stat -c %U "$DIR/data")@127.0.0.1:${PORT}/${DB}"
        ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
