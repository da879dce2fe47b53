#!/usr/bin/env bash
# Make sure PostgreSQL server binaries (initdb, pg_ctl) and pgbench are
# installed. Installs Debian packages when missing. Never starts a server:
# the tests and the benchmark start their own throwaway one (tests/pg.py).
set -euo pipefail

have_server_binaries() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        return 0
    fi
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            return 0
        fi
    done
    return 1
}

have_pgbench() {
    if command -v pgbench >/dev/null 2>&1; then
        return 0
    fi
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/pgbench" ]; then
            return 0
        fi
    done
    return 1
}

if have_server_binaries && have_pgbench; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "ensure_postgres: PostgreSQL is missing and neither root nor sudo is available" >&2
    exit 1
fi

echo "ensure_postgres: installing PostgreSQL (Debian packages postgresql, postgresql-contrib)" >&2
export DEBIAN_FRONTEND=noninteractive

# Keep the package's maintainer scripts from starting the default cluster:
# a policy-rc.d that denies every service start, only while we install.
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 755 "$POLICY"
    trap '"${SUDO[@]}" rm -f "$POLICY"' EXIT
fi

"${SUDO[@]}" apt-get update -qq
# postgresql-client carries pgbench on Debian >= 12; contrib on older releases.
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    postgresql postgresql-contrib postgresql-client >/dev/null

if ! have_server_binaries; then
    echo "ensure_postgres: initdb/pg_ctl still not found after installing" >&2
    exit 1
fi
if ! have_pgbench; then
    echo "ensure_postgres: pgbench still not found after installing" >&2
    exit 1
fi
