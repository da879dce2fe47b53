#!/usr/bin/env bash
# Make sure Debian's chromium (and CJK fonts, for the console's Chinese pages)
# is installed for the browser tests (tests/e2e/test_console_browser.py, which
# drive it with Playwright's executable_path). Installs Debian packages when
# missing, as ensure_postgres.sh does; never downloads a browser of its own.
set -euo pipefail

CHROMIUM=${CASETRAIL_CHROMIUM:-/usr/bin/chromium}

have_chromium() { [ -x "$CHROMIUM" ]; }
have_cjk_fonts() { [ -d /usr/share/fonts/opentype/noto ] && ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1; }

if have_chromium && have_cjk_fonts; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "ensure_chromium: chromium is missing and neither root nor sudo is available" >&2
    exit 1
fi

echo "ensure_chromium: installing Debian packages chromium, fonts-noto-cjk" >&2
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null

if ! have_chromium; then
    echo "ensure_chromium: $CHROMIUM still not found after installing" >&2
    exit 1
fi
