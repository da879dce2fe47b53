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

# shellcheck source=scripts/apt_install.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt_install.sh"
if [ "${SUDO[*]}" = "false" ]; then
    echo "ensure_postgres: PostgreSQL is missing and neither root nor sudo is available" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive

# Keep the package's maintainer scripts from starting the default cluster:
# a policy-rc.d that denies every service start, only while we install.
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 755 "$POLICY"
    trap '"${SUDO[@]}" rm -f "$POLICY"' EXIT
fi

# postgresql-client carries pgbench on Debian >= 12; contrib on older releases.
apt_install ensure_postgres postgresql postgresql-contrib postgresql-client

if ! have_server_binaries; then
    echo "ensure_postgres: initdb/pg_ctl still not found after installing" >&2
    exit 1
fi
if ! have_pgbench; then
    echo "ensure_postgres: pgbench still not found after installing" >&2
    exit 1
fi
