#!/usr/bin/env bash
# Install (Debian package) and start a throw-away PostgreSQL server for the tests.
# Prints the SQLAlchemy URL of the test database on stdout.  Idempotent.
set -euo pipefail
PGPORT="${MEDWARDEN_PG_PORT:-55432}"
PGDATA="${MEDWARDEN_PG_DATA:-/tmp/medwarden-pg-$PGPORT}"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
run_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDATA"
  run_pg "$BIN/initdb" -D "$PGDATA" -A trust -U postgres -E UTF8 >&2
fi
if ! run_pg "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
  run_pg "$BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w \
    -o "-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >&2
fi
"$BIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname='medwarden_test'" | grep -q 1 ||
  "$BIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "CREATE DATABASE medwarden_test" >&2
echo "postgresql+psycopg://postgres@127.0.0.1:$PGPORT/medwarden_test"
