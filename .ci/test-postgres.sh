#!/usr/bin/env bash
# Run the database-touching tests against a throwaway PostgreSQL server (see postgres.sh).
# Extra arguments go to pytest; ones naming tests replace the default folders below. The
# server gets a free port and its own folder (so runs side by side do not stop each
# other's), and is stopped afterwards unless KEEP_POSTGRES=1. Exit status: pytest's.
set -uo pipefail
cd "$(dirname "$0")/.."

PY="${PY:-.venv/bin/python}"
# Every folder whose tests reach the database, plus the pure ones that are cheap
# (mechanisms, accounting); policy/ and the demo's end-to-end run (SQLite by design)
# never touch a configured database.
PG_TESTS=(tests/market tests/hardening tests/quality tests/bidders tests/ui tests/demo/test_accounting_route.py tests/app/test_hh_e2e.py tests/test_quickstart.py
          tests/mechanisms tests/accounting)

if [ -z "${PG_TEST_PORT:-}" ]; then
    PG_TEST_PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    export PG_TEST_PORT
fi
line="$(.ci/postgres.sh start | tail -n 1)" || { echo "could not start PostgreSQL" >&2; exit 1; }
case "$line" in
    DATABASE_URL=*) ;;
    *) echo "postgres.sh printed no DATABASE_URL" >&2; exit 1 ;;
esac
if [ "${KEEP_POSTGRES:-0}" != 1 ]; then
    trap '.ci/postgres.sh stop >/dev/null 2>&1' EXIT
fi
echo "== tests on PostgreSQL (${line#DATABASE_URL=})"
for arg in "$@"; do  # arguments that name tests replace the default folders
    case "$arg" in
        -*) ;;
        *) PG_TESTS=() ;;
    esac
done
DATABASE_URL="${line#DATABASE_URL=}" "$PY" -m pytest -p no:cacheprovider "${PG_TESTS[@]}" "$@"
