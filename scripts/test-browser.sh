#!/usr/bin/env bash
# Installs the browser the web debugger's test drives: Chromium from the
# Debian packages, when it is missing (as root). The test finds it at
# /usr/bin/chromium (or $WFLOW_CHROMIUM) and drives it with Playwright for
# Python, which scripts/setup.sh installs.
set -euo pipefail

chromium="${WFLOW_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "Chromium is not installed: apt-get install chromium (as root), or set WFLOW_CHROMIUM" >&2
    exit 1
fi
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
