#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the store's tests and prints the
# variable that points them at it:
#
#     eval "$(scripts/test-postgres.sh)"      # sets WFLOW_TEST_POSTGRES
#
# Installs PostgreSQL from the Debian packages when it is missing (as root).
# The cluster lives in a temporary folder, owned by an unprivileged user
# (PostgreSQL refuses to run as root), and listens on a unix socket in that
# folder only. `scripts/test-postgres.sh stop DIR` stops it and removes it.
set -euo pipefail

if [ "${1:-}" = "stop" ]; then
    dir="$2"
    owner=$(stat -c %U "$dir")
    if [ "$(id -u)" = 0 ] && [ "$owner" != root ]; then
        su "$owner" -s /bin/sh -c "'$(dirname "$(cat "$dir/.bin")")/pg_ctl' -D '$dir/data' -m fast stop" >/dev/null 2>&1 || true
    else
        "$(dirname "$(cat "$dir/.bin")")/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    exit 0
fi

find_initdb() {
    ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1
}

initdb=$(find_initdb)
if [ -z "$initdb" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "PostgreSQL is not installed: apt-get install postgresql (as root)" >&2
        exit 1
    fi
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    initdb=$(find_initdb)
fi
bin=$(dirname "$initdb")

dir=$(mktemp -d /tmp/wflow-postgres.XXXXXX)
chmod 755 "$dir"
echo "$initdb" > "$dir/.bin"
run() { "$@"; }
if [ "$(id -u)" = 0 ]; then
    user=postgres
    id "$user" >/dev/null 2>&1 || useradd --system --no-create-home "$user"
    chown "$user" "$dir"
    run() { su "$user" -s /bin/sh -c "$(printf '%q ' "$@")"; }
fi
port=54329
run "$bin/initdb" -D "$dir/data" -A trust -U wflow >"$dir/initdb.log" 2>&1
run "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w \
    -o "-k $dir -p $port -c listen_addresses='' -c max_connections=500" start >/dev/null
run "$bin/psql" -h "$dir" -p "$port" -U wflow -d postgres -qc "CREATE DATABASE wflow_test" >/dev/null
echo "export WFLOW_TEST_POSTGRES='host=$dir port=$port user=wflow dbname=wflow_test'"
echo "export WFLOW_TEST_POSTGRES_DIR='$dir'"
