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

# shellcheck source=scripts/apt_install.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt_install.sh"
apt_install ensure_chromium chromium fonts-noto-cjk

if ! have_chromium; then
    echo "ensure_chromium: $CHROMIUM still not found after installing" >&2
    exit 1
fi
