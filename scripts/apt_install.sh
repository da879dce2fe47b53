#!/usr/bin/env bash
# Shared by ensure_postgres.sh and ensure_chromium.sh: `apt_install WHO PACKAGE...`
# installs Debian packages as root, or through sudo when not root; WHO names the
# caller in messages. Source it; it defines SUDO and apt_install.
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    SUDO=(false)  # set below: apt_install says why it cannot install
fi

apt_install() {
    local who=$1
    shift
    if [ "${SUDO[*]}" = "false" ]; then
        echo "$who: $* missing and neither root nor sudo is available" >&2
        return 1
    fi
    echo "$who: installing Debian packages $*" >&2
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
