#!/usr/bin/env bash
# Run the database-touching tests against a throwaway PostgreSQL server (see postgres.sh).
# Extra arguments go to pytest (default: the test folders below). The server is stopped
# afterwards unless KEEP_POSTGRES=1. Exit status: pytest's.
set -uo pipefail
cd "$(dirname "$0")/.."

PY="${PY:-.venv/bin/python}"
# Every folder whose tests reach the database, plus the pure ones that are cheap
# (mechanisms, accounting); policy/ never touches the market's database.
PG_TESTS=(tests/market tests/hardening tests/quality tests/bidders tests/ui tests/mechanisms tests/accounting)

line="$(.ci/postgres.sh start | tail -n 1)" || { echo "could not start PostgreSQL" >&2; exit 1; }
case "$line" in
    DATABASE_URL=*) ;;
    *) echo "postgres.sh printed no DATABASE_URL" >&2; exit 1 ;;
esac
if [ "${KEEP_POSTGRES:-0}" != 1 ]; then
    trap '.ci/postgres.sh stop >/dev/null 2>&1' EXIT
fi
echo "== tests on PostgreSQL (${line#DATABASE_URL=})"
if [ "$#" -eq 0 ]; then set -- "${PG_TESTS[@]}"; fi
DATABASE_URL="${line#DATABASE_URL=}" "$PY" -m pytest -p no:cacheprovider "$@"
